// A month of synthetic agent traffic for the store benches (search.ts, ui-flows.ts, pg-*.ts): a few hot
// API hosts and a long tail, mostly allowed, small JSON bodies; deterministic (fixed seed).
import type Database from 'better-sqlite3';
import { type Flow, newFlow } from '../proxy/flow.ts';
import { type BodyMeta, createBatchWriter } from '../proxy/store/batch.ts';
import { COLUMNS, NO_LLM, STORED_COLUMNS, toRow } from '../proxy/store/rows.ts';

// mulberry32: deterministic, and (unlike a bare LCG) its consecutive draws are not correlated.
let seed = 12345;
const rand = () => {
  let t = (seed = (seed + 0x6d2b79f5) | 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const TAIL = Array.from({ length: 500 }, (_, k) => `svc-${k}.example.com`);
const VOCAB = Array.from({ length: 5_000 }, (_, k) => `term${k.toString(36)}`);
/** In about 1 flow in 10,000 (request body). */
export const RARE_WORD = 'quetzalcoatl';
/** In about 1 flow in 100 (response body). */
export const COMMON_WORD = 'invoice';
const SPAN = 30 * 86_400_000;
const BATCH = 200; // the writer's batch size (writer.ts BATCH)

function pickHost(): string {
  const r = rand();
  if (r < 0.3) return 'api.anthropic.com';
  if (r < 0.4) return 'api.openai.com';
  if (r < 0.5) return 'github.com';
  if (r < 0.55) return 'packages.example.net';
  return TAIL[Math.floor(rand() * TAIL.length)];
}

function pickDecision(): Flow['decision'] {
  const r = rand();
  return r < 0.9 ? 'allow' : r < 0.96 ? 'deny' : r < 0.99 ? 'error' : 'refuse';
}

function makeFlow(i: number, n: number, t0: number): { row: unknown[]; request: Buffer | null; response: Buffer | null } {
  const host = pickHost();
  const decision = pickDecision();
  const post = rand() < 0.4;
  const allowed = decision === 'allow';
  const flow = newFlow({
    entry: 'explicit',
    listener: '127.0.0.1:8080',
    client: '127.0.0.1:40000',
    startedAt: t0 + Math.floor((i / n) * SPAN),
    method: post ? 'POST' : 'GET',
    scheme: 'https',
    host,
    port: 443,
    path: `/v1/${VOCAB[Math.floor(rand() * 200)]}/${i}`,
    query: rand() < 0.3 ? `page=${i % 10}` : undefined,
    status: allowed ? (rand() < 0.95 ? 200 : 404) : decision === 'error' ? 502 : 403,
    decision,
    ruleId: allowed ? host : undefined,
    code: allowed ? undefined : decision === 'deny' ? 'host_not_allowed' : decision === 'error' ? 'upstream_connect' : 'bad_tls',
    requestHeaders: { host, 'user-agent': 'agent-sdk/1.4.2', accept: 'application/json', 'x-request-id': `r${i.toString(36)}` },
    responseHeaders: allowed ? { 'content-type': 'application/json', 'cache-control': 'no-store' } : { 'content-type': 'application/json' },
    bytesUp: 0,
    bytesDown: 0,
    ttfbMs: 12.5,
    totalMs: 20.1,
  });
  const words = (n: number) => Array.from({ length: n }, () => VOCAB[Math.floor(rand() * VOCAB.length)]).join(' ');
  const request = allowed && post ? Buffer.from(JSON.stringify({ prompt: `${words(8)}${rand() < 0.0001 ? ` ${RARE_WORD}` : ''}` })) : null;
  const response = allowed ? Buffer.from(JSON.stringify({ result: `${words(12)}${rand() < 0.01 ? ` ${COMMON_WORD}` : ''}` })) : null;
  return { row: [...toRow(flow), ...NO_LLM], request, response };
}

/** A batch of flows as the writer thread gets them: positional rows, body descriptors, body bytes. */
export interface MonthBatch {
  rows: unknown[][];
  metas: BodyMeta[];
  blob: Buffer;
}

/** n flows over the 30 days from t0, in the writer's batches (deterministic: the same seed every run). */
export function* monthBatches(n: number, t0: number, batch = BATCH): Generator<MonthBatch> {
  seed = 12345;
  for (let from = 0; from < n; from += batch) {
    const rows: unknown[][] = [];
    const metas: BodyMeta[] = [];
    const parts: Buffer[] = [];
    let offset = 0;
    for (let i = from; i < Math.min(n, from + batch); i++) {
      const { row, request, response } = makeFlow(i, n, t0);
      rows.push(row);
      for (const [direction, data] of [['request', request], ['response', response]] as const) {
        if (!data) continue;
        metas.push([i - from, direction, 'application/json', null, data.length, 0, offset, data.length]);
        parts.push(data);
        offset += data.length;
      }
    }
    yield { rows, metas, blob: Buffer.concat(parts) };
  }
}

/** n flows over the 30 days from t0, written with the writer's own batch code (hash chain, FTS). */
export function fillMonth(db: Database.Database, n: number, t0: number): void {
  const write = createBatchWriter(db, STORED_COLUMNS, COLUMNS.length);
  for (const b of monthBatches(n, t0)) write(b.rows, b.metas, b.blob);
}
