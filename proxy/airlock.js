#!/usr/bin/env -S node --max-semi-space-size=1
// The `airlock` command. Runs the bundle in proxy/dist, rebuilding it first when a source file
// is newer (npm ci builds it once; an edited checkout rebuilds in well under a second), so users
// never run a build step by hand and no TypeScript loader sits in the running proxy.
// Every documented way to start airlock passes --max-semi-space-size=1 (this shebang, npm start,
// the image's ENTRYPOINT): a 1 MB young generation frees the bulk-transfer chunks' buffers in
// frequent cheap scavenges; with V8's default the 256 MiB memory test peaked at 140-160 MB
// instead of ~128 MB (docs/design.md).
import { ensureBuilt } from './build.js';

const bundle = await ensureBuilt();
const { main } = await import(bundle);
// Exit explicitly: after a graceful stop, idle keep-alive timers must not hold the process. But
// first let what was printed reach a pipe: writes past the pipe's 64 KiB are still queued
// (`airlock dlp rules` prints more than that), and exiting would cut them off.
const code = await main(process.argv.slice(2));
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
