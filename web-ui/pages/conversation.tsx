/** @jsxImportSource hono/jsx */
// An LLM call shown as a conversation (docs/ui.md#conversations): the system prompt and the
// declared tools collapsed, the messages with tool calls and their inputs, tool results, and the
// answer. In a session's turn, the messages new in this turn are marked and the earlier ones
// folded away. Every text goes through Highlighted: DLP redactions and injected-key markers stand out.
import type { Child } from 'hono/jsx';
import { Highlighted } from '../body.tsx';
import { num } from '../components.tsx';
import type { Conversation, Message, Part } from '../conversation.ts';

/** Characters of one part shown on the page (the body view has all of it). */
const PART_MAX = 64 * 1024;

const API_NAMES: Record<Conversation['api'], string> = {
  anthropic: 'Anthropic Messages',
  'openai-chat': 'OpenAI Chat Completions',
  'openai-responses': 'OpenAI Responses',
  gemini: 'Google Gemini',
};

function Cut(props: { text: string; class?: string; label?: string }) {
  const cut = props.text.length > PART_MAX;
  return (
    <>
      <pre class={props.class} aria-label={props.label}>
        <Highlighted text={cut ? props.text.slice(0, PART_MAX) : props.text} />
      </pre>
      {cut && <p class="bodymeta">Shown: the first {num(PART_MAX)} characters.</p>}
    </>
  );
}

function PartView(props: { p: Part }): Child {
  const { p } = props;
  switch (p.kind) {
    case 'text':
      return <Cut text={p.text} class="text" />;
    case 'thinking':
      return (
        <details class="thinking">
          <summary>Thinking</summary>
          <Cut text={p.text} class="text" />
        </details>
      );
    case 'tool_call':
      return (
        <div class="tool-call">
          <p>
            <span class="label">Tool call</span> <code class="tool-name">{p.name}</code> {p.id && <span class="muted mono">{p.id}</span>}
          </p>
          <Cut text={p.input} class="tool-input" label={`input of ${p.name}`} />
        </div>
      );
    case 'tool_result':
      return (
        <div class={`tool-result${p.error ? ' error' : ''}`}>
          <p>
            <span class="label">{p.error ? 'Tool error' : 'Tool result'}</span> {p.name && <code class="tool-name">{p.name}</code>}{' '}
            {p.id && <span class="muted mono">{p.id}</span>}
          </p>
          <Cut text={p.text} class="text" />
        </div>
      );
    case 'media':
      return <p class="media muted">[{p.what}]</p>;
    default:
      return (
        <details class="other">
          <summary>Other content</summary>
          <Cut text={p.json} class="text" />
        </details>
      );
  }
}

function MessageView(props: { m: Message; index: number; isNew: boolean; answer?: boolean }) {
  const { m } = props;
  const role = m.role.replace(/[^a-z_-]/gi, '').toLowerCase() || 'other';
  return (
    <li class={`msg role-${role}${props.isNew ? ' new' : ''}${props.answer ? ' answer' : ''}`} data-index={props.answer ? 'answer' : String(props.index)}>
      <p class="msg-head">
        <span class="role">{props.answer ? `${m.role} (answer)` : m.role}</span>
        {!props.answer && <span class="muted"> #{props.index + 1}</span>}
        {props.isNew && !props.answer && <span class="badge new">new in this turn</span>}
      </p>
      {m.parts.map((p) => (
        <PartView p={p} />
      ))}
    </li>
  );
}

/** `newFrom`: index of the first message new in this turn (a session turn); null: not known. */
export function ConversationView(props: { c: Conversation; newFrom: number | null; title?: string }) {
  const { c } = props;
  const n = c.messages.length;
  const newFrom = props.newFrom === null ? null : Math.max(0, Math.min(props.newFrom - c.lifted, n));
  const earlier = newFrom === null ? [] : c.messages.slice(0, newFrom);
  const shown = newFrom === null ? c.messages : c.messages.slice(newFrom);
  const offset = newFrom ?? 0;
  return (
    <section class="conversation" aria-labelledby="conversation-h">
      <h2 id="conversation-h">{props.title ?? 'Conversation'}</h2>
      <p class="muted">
        {API_NAMES[c.api]}
        {c.model && (
          <>
            {' · '}
            <span class="mono">{c.model}</span>
          </>
        )}
        {` · ${num(n)} message${n === 1 ? '' : 's'} sent`}
        {newFrom !== null && ` · ${num(n - newFrom)} new in this turn`}
      </p>
      {c.system !== null && (
        <details class="system">
          <summary>System prompt ({num(c.system.length)} characters)</summary>
          <Cut text={c.system} class="text" />
        </details>
      )}
      {c.tools.length > 0 && (
        <details class="tools">
          <summary>
            Tools declared ({num(c.tools.length)}): {c.tools.slice(0, 12).map((t) => t.name).join(', ')}
            {c.tools.length > 12 ? ', …' : ''}
          </summary>
          <ul>
            {c.tools.map((t) => (
              <li>
                <code>{t.name}</code>
                {t.description && <span class="muted"> {t.description.length > 300 ? `${t.description.slice(0, 300)}…` : t.description}</span>}
              </li>
            ))}
          </ul>
        </details>
      )}
      {earlier.length > 0 && (
        <details class="earlier">
          <summary>
            {num(earlier.length)} earlier message{earlier.length === 1 ? '' : 's'} (sent in previous turns)
          </summary>
          <ol class="messages">
            {earlier.map((m, i) => (
              <MessageView m={m} index={i} isNew={false} />
            ))}
          </ol>
        </details>
      )}
      <ol class="messages" start={offset + 1}>
        {shown.map((m, i) => (
          <MessageView m={m} index={offset + i} isNew={newFrom !== null} />
        ))}
      </ol>
      <h3>Answer</h3>
      {c.answer ? (
        <ol class="messages">
          <MessageView m={c.answer} index={n} isNew answer />
        </ol>
      ) : null}
      {c.answerNote && <p class="muted answer-note">{c.answerNote}</p>}
    </section>
  );
}
