// Progress of a long operation over the store (export, verify, replay, suggest): one line on
// stderr, rewritten in place at most a few times a second, and only when stderr is a terminal.
// Piped or redirected, nothing extra is printed.

export interface Progress {
  /** `done` items so far (of `total`, when known). */
  tick(done: number, total?: number): void;
  /** Clears the line. */
  end(): void;
}

const SILENT: Progress = { tick() {}, end() {} };
const EVERY_MS = 200;

export function progress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return SILENT;
  let last = 0;
  let shown = false;
  return {
    tick(done, total) {
      const now = Date.now();
      if (now - last < EVERY_MS) return;
      last = now;
      shown = true;
      const pct = total ? ` (${Math.floor((done / total) * 100)}%)` : '';
      stream.write(`\r\x1b[2K${label}: ${done.toLocaleString('en-US')}${total ? ` of ${total.toLocaleString('en-US')}` : ''} flows${pct}`);
    },
    end() {
      if (shown) stream.write('\r\x1b[2K');
    },
  };
}
