#!/usr/bin/env node
// The `airlock` command. Runs the bundle in proxy/dist, rebuilding it first when a source file
// is newer (npm ci builds it once; an edited checkout rebuilds in well under a second), so users
// never run a build step by hand and no TypeScript loader sits in the running proxy.
import { ensureBuilt } from './build.js';

const bundle = await ensureBuilt();
const { main } = await import(bundle);
// Exit explicitly: after a graceful stop, idle keep-alive timers must not hold the process.
process.exit(await main(process.argv.slice(2)));
