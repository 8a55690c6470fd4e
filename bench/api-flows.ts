// Realistic API flows for the writer benches (writer.ts, pg-writer.ts): a 2 KB JSON request and a
// 2 KB JSON response, captured with the real BodyCapture (newFlowBodies) of a rule that injects a
// key (so scrubbing runs).
import { newFlowBodies, storedBodies, type StoredBody } from '../proxy/capture.ts';
import { echoSetOf } from '../proxy/dlp/echo.ts';
import { type Flow, newFlow } from '../proxy/flow.ts';
import { NO_LLM, toRow } from '../proxy/store/rows.ts';

export const BODY = 2048;

const WORDS = (
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo ' +
  'sierra tango uniform victor whiskey xray yankee zulu invoice customer order shipment refund ledger account ' +
  'balance widget gadget sprocket gizmo cluster region bucket object version commit branch release deploy'
).split(' ');

function jsonBody(seed: number, kind: string): Buffer {
  let x = seed * 2654435761 + 1;
  const rand = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const items: unknown[] = [];
  let text = '';
  for (let i = 0; ; i++) {
    items.push({ id: `${kind}-${seed}-${i}`, name: `${WORDS[Math.floor(rand() * WORDS.length)]} ${WORDS[Math.floor(rand() * WORDS.length)]}`, qty: Math.floor(rand() * 1000) });
    const next = JSON.stringify({ kind, seed, items });
    if (next.length > BODY - 2) break;
    text = next;
  }
  return Buffer.from(text.padEnd(BODY, ' ')); // exactly 2 KB, still valid JSON
}

export const POOL = 64;
export const requestBodies = Array.from({ length: POOL }, (_, i) => jsonBody(i, 'request'));
export const responseBodies = Array.from({ length: POOL }, (_, i) => jsonBody(i + POOL, 'response'));
const HOSTS = ['api.example.com', 'objects.example.net', 'registry.example.org', 'hooks.example.io'];

/** The key the bench rule injects: what the stored copies are scrubbed of. */
const BENCH_KEY = 'Bearer sk-bench-0123456789abcdef0123456789abcdef';

export function makeFlow(i: number): Flow {
  const host = HOSTS[i % HOSTS.length];
  const started = Date.now();
  const flow = newFlow({
    entry: 'explicit',
    listener: '127.0.0.1:8080',
    client: '127.0.0.1:51234',
    startedAt: started,
    method: 'POST',
    scheme: 'https',
    host,
    port: 443,
    path: `/v2/orders/${i}/items`,
    query: `page=${i % 17}&expand=customer`,
    status: 200,
    ruleId: 'bench',
    injected: ['authorization'],
    requestHeaders: {
      host,
      'user-agent': 'agent-sdk/1.4.2 node/20.20.0',
      accept: 'application/json',
      'content-type': 'application/json',
      'content-length': String(BODY),
      authorization: '[injected:authorization]',
      'x-request-id': `req-${i.toString(36)}`,
    },
    responseHeaders: {
      'content-type': 'application/json',
      'content-length': String(BODY),
      date: new Date(started).toUTCString(),
      'x-ratelimit-remaining': String(5000 - (i % 5000)),
      'cache-control': 'no-store',
    },
    bytesUp: BODY,
    bytesDown: BODY,
    ttfbMs: 3.2,
    totalMs: 4.1,
  });
  flow.bodies = newFlowBodies(1024 * 1024, echoSetOf([BENCH_KEY]));
  flow.bodies.request.add(requestBodies[i % POOL]);
  flow.bodies.response.add(responseBodies[(i * 7) % POOL]);
  return flow;
}

/** The row and stored bodies FlowStore would write for a flow (for the baseline). */
export function rowOf(i: number): { row: unknown[]; bodies: StoredBody[] } {
  const flow = makeFlow(i);
  const bodies = storedBodies(flow.bodies!, flow.requestHeaders, flow.responseHeaders);
  if (bodies instanceof Promise) throw new Error('identity bodies are stored synchronously');
  return { row: [...toRow(flow), ...NO_LLM], bodies };
}

