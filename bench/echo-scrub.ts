// The cost of scrubbing injected credentials from responses (proxy/dlp/echo.ts), in CPU time per
// 16 KiB chunk, for the kinds of bodies a rule that injects a key sees. Run: npx tsx bench/echo-scrub.ts
// (numbers in docs/bench.md). CPU time, not wall time: the machine may be busy.
import crypto from 'node:crypto';
import { EchoScrubber, EchoSet } from '../proxy/dlp/echo.ts';

const set = new EchoSet([`Bearer sk-ant-api03-${crypto.randomBytes(70).toString('base64url')}`]);
const chat = JSON.stringify({
  content: Array.from({ length: 400 }, (_, i) => ({ type: 'text', text: `Step ${i}: the function returns "ok"\nthen calls https://example.com/api/v1/items?id=${i}&sort=asc \\ done.` })),
});
const sse = Array.from({ length: 600 }, (_, i) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word ${i} "}}\n\n`).join('');
const bodies: [string, Buffer][] = [
  ['chat JSON', Buffer.from(chat)],
  ['SSE events', Buffer.from(sse)],
  ['random bytes', crypto.randomBytes(1 << 20)],
  ['URL-encoded form', Buffer.from(Array.from({ length: 3000 }, (_, i) => `k${i}=${encodeURIComponent(`v/${i}+x=y&z`)}`).join('&'))],
  ['base64, MIME lines', Buffer.from(crypto.randomBytes(1 << 19).toString('base64').replace(/(.{76})/g, '$1\r\n'))],
];

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
for (const [name, body] of bodies) {
  const run = () => {
    const s = new EchoScrubber(set);
    for (let i = 0; i < body.length; i += 16384) s.push(body.subarray(i, i + 16384));
    s.end();
  };
  for (let k = 0; k < 5; k++) run();
  let n = 0;
  const t0 = cpu();
  while (cpu() - t0 < 1500) {
    run();
    n++;
  }
  const ms = (cpu() - t0) / n;
  const chunks = body.length / 16384;
  console.log(`${name.padEnd(20)} ${((body.length / 1e6) / (ms / 1000)).toFixed(0).padStart(5)} MB/s  ${((ms * 1000) / chunks).toFixed(1).padStart(6)} µs CPU per 16 KiB`);
}
