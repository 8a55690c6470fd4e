// Server-sent events as LLM APIs stream them: each event's data lines joined and parsed as JSON.
// A last event cut at the store's cap, `[DONE]` and anything not a JSON object are skipped.
// Gemini without `alt=sse` streams a JSON array of the same objects instead: jsonEvents() reads both.

type Json = Record<string, unknown>;

function object(text: string): Json | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

export function* sseEvents(text: string): Generator<Json> {
  let data: string[] = [];
  const flush = function* () {
    if (data.length === 0) return;
    const payload = data.join('\n');
    data = [];
    if (payload === '[DONE]') return;
    const j = object(payload);
    if (j) yield j;
  };
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') yield* flush();
    else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
  }
  yield* flush();
}

/** Whether a response body is a stream of events (by its type, or by how it starts). */
export function isEventStream(contentType: string | null | undefined, body: string): boolean {
  return /text\/event-stream/i.test(contentType ?? '') || /^\s*(event|data|id|retry):/.test(body.slice(0, 64));
}

/**
 * A streamed body's objects: server-sent events, or the elements of a JSON array (Gemini's
 * streamGenerateContent without alt=sse); an array cut at the cap yields its complete elements.
 */
export function* jsonEvents(contentType: string | null | undefined, body: string): Generator<Json> {
  if (isEventStream(contentType, body)) return yield* sseEvents(body);
  const start = body.search(/\S/);
  if (start < 0 || body[start] !== '[') return;
  const whole = (() => {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      return undefined;
    }
  })();
  if (Array.isArray(whole)) {
    for (const e of whole) if (e !== null && typeof e === 'object' && !Array.isArray(e)) yield e as Json;
    return;
  }
  // Cut: the complete top-level elements, found by depth outside strings.
  let depth = 0;
  let inString = false;
  let escape = false;
  let from = -1;
  for (let i = start + 1; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (escape) escape = false;
      else if (c === '\\') escape = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) from = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0 && from >= 0) {
        const j = object(body.slice(from, i + 1));
        if (j) yield j;
        from = -1;
      }
      if (depth < 0) return;
    }
  }
}
