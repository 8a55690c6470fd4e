#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1 --initial-old-space-size=32
// The `airlock` command. Runs the bundle in proxy/dist, rebuilding it first when a source file
// is newer (npm ci builds it once; an edited checkout rebuilds in well under a second), so users
// never run a build step by hand and no TypeScript loader sits in the running proxy.
// Every documented way to start airlock passes these three V8 flags (this shebang, npm start, the
// image's ENTRYPOINT): a 1 MB young generation frees the bulk-transfer chunks' buffers in frequent
// cheap scavenges; one V8 background thread instead of one per core keeps the optimizing
// compiler's memory in one malloc arena, not four; and a 32 MB initial old generation stops body
// buffers (external memory) from setting off a mark-compact every few MB (docs/design.md, Memory).
import { ensureBuilt } from './build.js';

// A reader that went away (`airlock flows export | head`) is not an error of airlock's.
for (const s of [process.stdout, process.stderr]) s.on('error', (e) => e.code === 'EPIPE' ? process.exit(process.exitCode ?? 0) : undefined);

const bundle = await ensureBuilt();
const { main } = await import(bundle);
const code = await main(process.argv.slice(2));
// Writes to a pipe are asynchronous: wait until everything written has reached it (a write's
// callback runs after every earlier write), or output past the pipe's 64 KiB is cut off
// (`airlock flows show`, `airlock dlp rules`).
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
// Exit explicitly: after a graceful stop, idle keep-alive timers must not hold the process.
process.exit(code);
