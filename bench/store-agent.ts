// Storage of agent traffic: a few hundred agent sessions (bench/agent-corpus.ts: Messages API
// calls whose history grows turn by turn) sent through a real airlock (a base-URL route to a
// real HTTPS upstream that streams an Anthropic answer, DLP and body capture on, as shipped),
// then the flow store's size on disk (database + WAL) per session against what one session
// holds once: every message once, plus its answers. Target: <= 1.5x. Also reported: what the
// same traffic would take stored whole (the sum of the bodies), and the writer's rate.
// Run: npx tsx bench/store-agent.ts [sessions=200] [turns=30]
import fs from 'node:fs';
import { startTestAirlock, tempDir } from '../test/helpers/airlock.ts';
import { startTlsUpstream } from '../test/helpers/upstream.ts';
import { conversation, sessionBodies } from './agent-corpus.ts';

const SESSIONS = Number(process.argv[2] ?? 200);
const TURNS = Number(process.argv[3] ?? 30);
const CONCURRENCY = 4;

const dir = tempDir('airlock-bench-store-');
const { ip, pki, up } = await startTlsUpstream(dir, ['api.test']);
const airlock = await startTestAirlock(
  `
routes:
  - listen: 127.0.0.1:0
    upstream: https://api.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - match: api.test
    methods: [POST]
`,
  {},
  dir,
);
const base = `http://${airlock.addresses.routes[0].address}`;
const conv = conversation(TURNS);

let sent = 0;
let bytesSent = 0;
let answerBytes = 0;
const t0 = Date.now();
async function session(s: number): Promise<void> {
  for (const body of sessionBodies(conv, s)) {
    const r = await fetch(`${base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200) throw new Error(`session ${s}: ${r.status} ${answer.toString().slice(0, 200)}`);
    answerBytes += answer.length;
    bytesSent += body.length;
    sent++;
  }
}
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < SESSIONS) await session(next++);
  }),
);
await airlock.store.flush();
const seconds = (Date.now() - t0) / 1000;
const file = airlock.config.store.path;
const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
const live = size(file) + size(`${file}-wal`);
await airlock.close();
const closed = size(file) + size(`${file}-wal`);
await up.close();

// One session's content, each piece once: the largest request (every message) and its answers.
const oneSession = sessionBodies(conv, 1);
const distinct = oneSession[oneSession.length - 1].length + answerBytes / SESSIONS;
const perSession = (n: number) => n / SESSIONS;
console.log(`${SESSIONS} sessions x ${TURNS} turns = ${sent} requests, ${(bytesSent / 1e6).toFixed(0)} MB of request bodies in ${seconds.toFixed(0)} s (${(sent / seconds).toFixed(0)} req/s through airlock, DLP and capture on)`);
console.log(`one session's distinct content: ${(distinct / 1e3).toFixed(0)} KB (every message once, plus its answers)`);
console.log(`stored (database + WAL) while running: ${(live / 1e6).toFixed(1)} MB = ${(perSession(live) / 1e3).toFixed(0)} KB per session = ${(perSession(live) / distinct).toFixed(2)}x distinct  (target <= 1.5x)`);
console.log(`stored after a clean stop:             ${(closed / 1e6).toFixed(1)} MB = ${(perSession(closed) / 1e3).toFixed(0)} KB per session = ${(perSession(closed) / distinct).toFixed(2)}x distinct`);
console.log(`the same bodies stored whole would be:  ${((bytesSent + answerBytes) / 1e6).toFixed(0)} MB = ${((bytesSent + answerBytes) / SESSIONS / distinct).toFixed(1)}x distinct`);
if (process.env.KEEP) console.log(`kept ${file}`);
else fs.rmSync(dir, { recursive: true, force: true });
