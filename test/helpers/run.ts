// Runs a real client program and collects its output.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `timeoutMs`: the program is killed (SIGKILL, its own pid) if it has not ended by then. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd });
    if (opts.timeoutMs) {
      const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs);
      p.on('close', () => clearTimeout(t));
    }
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    // A program that exits before reading its stdin (curl answered at once) closes the pipe: not an error of the test.
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
  });
}
