// What a command prints: a line (newline added when missing) and the exit code to return.

export function out(text: string, code: number): number {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return code;
}

export function err(text: string, code: number): number {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
  return code;
}
