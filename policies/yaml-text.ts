// A policy's YAML read into plain values, its problems named like compiler output
// ("policy.yaml:3:7: ..."). Shared by the whole-policy loader and the store-only loader.
import { LineCounter, parseDocument } from 'yaml';

const STAR_HINT = ' (in YAML a value starting with "*" is an alias: quote it, match: "*.example.com")';

export type YamlText = { ok: true; data: unknown } | { ok: false; errors: string[] };

export function yamlText(text: string, path: string): YamlText {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${path}:${line}:${col}: ${e.message}${/alias/i.test(e.message) ? STAR_HINT : ''}`;
      }),
    };
  }
  try {
    return { ok: true, data: doc.toJS() };
  } catch (err) {
    // An unquoted "*.example.com" is a YAML alias to an anchor that does not exist.
    const message = (err as Error).message;
    const at = text.split('\n').findIndex((l) => /:\s*\*/.test(l));
    return { ok: false, errors: [`${path}${at >= 0 ? `:${at + 1}` : ''}: ${message}${/alias/i.test(message) ? STAR_HINT : ''}`] };
  }
}
