// Bundles the TypeScript sources into proxy/dist/cli.js with esbuild (dependencies stay external).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'proxy', 'dist', 'cli.js');
const SOURCES = ['proxy', 'ca', 'policies', 'web-ui'];

function newestSource(dir, newest = 0) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'dist' && e.name !== 'node_modules') newest = newestSource(p, newest);
    } else if (/\.tsx?$/.test(e.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

export async function build() {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: { cli: path.join(root, 'proxy', 'cli', 'index.ts') },
    outdir: path.dirname(out),
    // Modules imported with import() (the UI, metrics) become their own chunks, loaded only
    // when a policy turns them on.
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    // The web UI's pages are .tsx (hono/jsx), as in tsconfig.json.
    jsx: 'automatic',
    jsxImportSource: 'hono/jsx',
    logLevel: 'warning',
  });
  return out;
}

export async function ensureBuilt() {
  const built = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
  const newest = Math.max(...SOURCES.map((d) => path.join(root, d)).filter(fs.existsSync).map((d) => newestSource(d)));
  if (newest > built) await build();
  return pathToFileURL(out).href;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
