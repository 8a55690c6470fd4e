/** @jsxImportSource hono/jsx */
// What a flow's page shows of an LLM call or MCP request beyond its bodies: the call as a
// conversation (with its session turn, if it is one), and the MCP calls it carried.
import type { BodyRow, FlowRow } from '../../proxy/cli/flows.ts';
import { llmApi } from '../../proxy/llm.ts';
import { Highlighted } from '../body.tsx';
import { conversationOf } from '../conversation.ts';
import type { McpCallRow } from '../../proxy/store/llm-queries.ts';
import { ConversationView } from './conversation.tsx';

export function conversationOfFlow(r: Pick<FlowRow, 'method' | 'path' | 'status' | 'llm_model'>, bodies: BodyRow[]) {
  const api = r.method === 'POST' ? llmApi(r.path) : null;
  if (!api) return null;
  const req = bodies.find((b) => b.direction === 'request' && b.encoding === null);
  const res = bodies.find((b) => b.direction === 'response' && b.encoding === null);
  const c = conversationOf(api, req?.data ?? null, res?.data ? { contentType: res.content_type, data: res.data, truncated: res.truncated === 1 } : null, r.status);
  // The model that answered, as recorded (Gemini names it only in the path and the response).
  if (c && r.llm_model) c.model = r.llm_model;
  return c;
}

export function FlowLlmSections(props: {
  r: FlowRow;
  bodies: BodyRow[];
  turn?: { session_id: number; turn: number; new_from: number };
  mcp: McpCallRow[];
}) {
  const c = conversationOfFlow(props.r, props.bodies);
  return (
    <>
      {props.turn && (
        <p class="turn-link">
          Turn {props.turn.turn} of <a href={`/sessions/${props.turn.session_id}`}>session {props.turn.session_id}</a> ·{' '}
          <a href={`/sessions/${props.turn.session_id}/turns/${props.turn.turn}`}>this turn, with what is new in it</a>
        </p>
      )}
      {c && <ConversationView c={c} newFrom={props.turn?.new_from ?? null} />}
      {props.mcp.length > 0 && (
        <section aria-labelledby="mcp-h">
          <h2 id="mcp-h">MCP calls</h2>
          <div class="scroll">
            <table class="mcp">
              <thead>
                <tr>
                  <th>Method</th>
                  <th>Tool</th>
                  <th>Id</th>
                  <th>Arguments (as stored, DLP-redacted)</th>
                </tr>
              </thead>
              <tbody>
                {props.mcp.map((m) => (
                  <tr>
                    <td class="mono">{m.method}</td>
                    <td class="mono">{m.tool ?? ''}</td>
                    <td class="mono">{m.rpc_id ?? ''}</td>
                    <td>
                      {m.arguments !== null ? (
                        <pre class="tool-input">
                          <Highlighted text={m.arguments} />
                        </pre>
                      ) : (
                        <span class="muted">not stored</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}
