// The preview of a secret that may be stored and shown: enough to recognise it, never enough to use it.
export function mask(secret: string): string {
  const s = secret.replace(/[\r\n]+/g, ' ');
  const n = [...s].length;
  if (n < 8) return `…(${n})`;
  const chars = [...s];
  const head = chars.slice(0, n >= 16 ? 4 : 2).join('');
  const tail = n >= 24 ? chars.slice(-2).join('') : '';
  return `${head}…${tail}(${n})`;
}
