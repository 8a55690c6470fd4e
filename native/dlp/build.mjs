// Builds the native DLP scanner (native/dlp) with node-gyp, as `npm ci` does for better-sqlite3
// and re2. It needs Hyperscan and RE2 from Debian (`npm run setup` installs libhyperscan-dev and
// libre2-dev). Without them the build is skipped with a warning and airlock runs the portable
// node-re2 engine; AIRLOCK_REQUIRE_NATIVE=1 (CI) turns the warning into a failure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const required = process.env.AIRLOCK_REQUIRE_NATIVE === '1';

function fail(reason) {
  const msg = `airlock: the native DLP scanner was not built (${reason}).\n` +
    '  DLP still works, on the slower node-re2 engine. To build it: npm run setup && npm run build:native\n';
  process.stderr.write(msg);
  process.exit(required ? 1 : 0);
}

const pc = spawnSync('pkg-config', ['--exists', 'libhs', 're2']);
if (pc.error || pc.status !== 0) fail('pkg-config finds no libhs (libhyperscan-dev) or re2 (libre2-dev)');

// npm hands its own node-gyp to install scripts; run directly, look for the one npm ships.
const gyp =
  process.env.npm_config_node_gyp ??
  [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')].find((p) => fs.existsSync(p));
if (!gyp) fail('node-gyp not found');
// Node's own headers, never downloaded: npm's nodedir setting, or the ones beside this node.
const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) fail(`no Node headers under ${nodedir}`);
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) fail(`node-gyp exited with ${r.status}`);
