// The store writer's own cost on agent traffic: agent sessions' request bodies (bench/agent-corpus.ts)
// with a short answer each, written through the writer thread's batch writer (batch.cjs, chunks,
// FTS, hash chain) on a fresh store with the writer's pragmas, one flow per batch as under live
// load. Reports writer CPU time per flow and per MB, and the store's size against the sessions'
// distinct content. In-process and single-threaded, so CPU time is the writer's alone.
// Run: npx tsx bench/writer-agent.ts [sessions=40] [turns=60]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { type BodyMeta, createBatchWriter } from '../proxy/store/batch.ts';
import { COLUMNS, STORED_COLUMNS } from '../proxy/store/rows.ts';
import { migrate } from '../proxy/store/schema.ts';
import { nativeAddon } from '../proxy/dlp/native.ts';
import { conversation, distinctBytes, sessionBodies } from './agent-corpus.ts';

/** As with DLP on: the scanner's pieces and their SHA-256s travel with the body (GIVEN=0: the writer hashes). */
const GIVEN = process.env.GIVEN !== '0';
function piecesOf(body: Buffer): { ranges: number[]; digests: Buffer } {
  const c = new (nativeAddon()!.Chunker)(false, true, 1024);
  const ranges: number[] = [];
  const digests: Buffer[] = [];
  let at = 0;
  for (const r of [c.feed(body), c.finish()]) {
    if (!r) continue;
    r[0].forEach((end, i) => {
      ranges.push(at, end);
      digests.push(r[1].subarray(32 * i, 32 * i + 32));
      at = end;
    });
  }
  return { ranges, digests: Buffer.concat(digests) };
}

const SESSIONS = Number(process.argv[2] ?? 40);
/** Flows per batch: the live writer gets what 20 ms of traffic brings (about 8 agent calls at 400/s). */
const PER_BATCH = Number(process.env.PER_BATCH ?? 8);
const TURNS = Number(process.argv[3] ?? 60);
const ANSWER = Buffer.from(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Done. '.repeat(40) }] }));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-writer-'));
const file = path.join(dir, 'flows.sqlite');
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma(`wal_autocheckpoint = ${process.env.WAC ?? 256}`);
db.pragma(`journal_size_limit = ${8 * 1024 * 1024}`);
db.pragma('foreign_keys = ON');
migrate(db);
const write = createBatchWriter(db, STORED_COLUMNS, COLUMNS.length, true);

const conv = conversation(TURNS);
function row(s: number, t: number, up: number): unknown[] {
  const r: unknown[] = new Array(STORED_COLUMNS.length).fill(null);
  const set = (k: string, v: unknown) => (r[STORED_COLUMNS.indexOf(k)] = v);
  set('flow_id', `${s}-${t}`);
  set('started_at', Date.now());
  set('entry', 'explicit');
  set('listener', '127.0.0.1:8080');
  set('client', '127.0.0.1');
  set('protocol', 'HTTP/1.1');
  set('injected', 0);
  set('ttfb_ms', 1);
  set('total_ms', 2);
  set('method', 'POST');
  set('scheme', 'https');
  set('host', 'api.anthropic.com');
  set('port', 443);
  set('path', '/v1/messages');
  set('status', 200);
  set('decision', 'allow');
  set('bytes_up', up);
  set('bytes_down', ANSWER.length);
  set('request_headers', '{"content-type":"application/json"}');
  set('response_headers', '{"content-type":"application/json"}');
  return r;
}

let flows = 0;
let bytes = 0;
let micros = 0;
let rows: unknown[][] = [];
let metas: BodyMeta[] = [];
let parts: Buffer[] = [];
let offset = 0;
function flush(): void {
  const blob = Buffer.concat(parts);
  const cpu0 = process.cpuUsage();
  write(rows, metas, blob);
  const used = process.cpuUsage(cpu0);
  micros += used.user + used.system;
  rows = [];
  metas = [];
  parts = [];
  offset = 0;
}
// Sessions interleave as on the wire: CONCURRENT sessions at a time, turn by turn.
const CONCURRENT = 4;
for (let s0 = 0; s0 < SESSIONS; s0 += CONCURRENT) {
  const group = Array.from({ length: Math.min(CONCURRENT, SESSIONS - s0) }, (_, k) => sessionBodies(conv, s0 + k));
  for (let t = 0; t < TURNS; t++) {
    group.forEach((bodies, k) => {
      const body = bodies[t];
      const i = rows.length;
      rows.push(row(s0 + k, t, body.length));
      const given = GIVEN ? piecesOf(body) : null;
      if (given) metas.push([i, 'request', 'application/json', null, body.length, 0, offset, body.length, given.ranges, offset + body.length + ANSWER.length]);
      else metas.push([i, 'request', 'application/json', null, body.length, 0, offset, body.length]);
      metas.push([i, 'response', 'application/json', null, ANSWER.length, 0, offset + body.length, ANSWER.length]);
      parts.push(body, ANSWER);
      offset += body.length + ANSWER.length;
      if (given) {
        parts.push(given.digests);
        offset += given.digests.length;
      }
      flows++;
      bytes += body.length;
      if (rows.length >= PER_BATCH) flush();
    });
  }
}
if (rows.length) flush();
const seconds = micros / 1e6;
const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
const stored = size(file) + size(`${file}-wal`);
console.log(`${flows} flows, ${(bytes / 1e6).toFixed(0)} MB of request bodies: writer CPU ${seconds.toFixed(2)} s = ${((seconds / flows) * 1e3).toFixed(3)} ms per flow = ${(bytes / 1e6 / seconds).toFixed(0)} MB/s`);
console.log(`store (database + WAL): ${(stored / 1e6).toFixed(1)} MB = ${(stored / SESSIONS / (distinctBytes(conv) + TURNS * ANSWER.length)).toFixed(2)}x the sessions' distinct content`);
if (process.env.WAC === "0") console.log("wal bytes per flow", (size(`${file}-wal`) / flows / 1024).toFixed(0), "KiB");
db.close();
fs.rmSync(dir, { recursive: true, force: true });
