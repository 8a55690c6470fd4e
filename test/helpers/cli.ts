// Runs `airlock start` as its own process, the way an operator does.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const BIN = path.resolve('proxy/airlock.js');
/** What the bin's shebang, npm start and the image pass to node (proxy/airlock.js). */
export const NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--initial-old-space-size=32'];
/** Every process started here; tests kill the leftovers in afterEach. */
export const children: ChildProcess[] = [];

/** Starts `airlock start` and resolves with its banner once it is listening. */
export function startCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ proc: ChildProcess; banner: string }> {
  const proc = spawn(process.execPath, [...NODE_FLAGS, BIN, 'start', ...args], { cwd, env: { ...process.env, ...env } });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('airlock is running') && /\n\n/.test(out)) resolve({ proc, banner: out });
    });
    proc.stderr!.on('data', (c) => (err += c));
    proc.on('exit', (code) => reject(new Error(`airlock exited ${code}: ${err}`)));
  });
}

