// An LLM call as a conversation (docs/ui.md#conversations): the system prompt, the messages of the
// request with their tool calls and tool results, and the model's answer, assembled from the
// response (JSON or streamed events). Anthropic Messages, OpenAI Chat Completions and Responses,
// Google Gemini. Reads the stored bodies, so every DLP finding is already redacted in them. Total:
// anything it cannot read is null (the UI then shows the bodies as they are).
import type { LlmApi } from '../proxy/llm.ts';
import { isEventStream, jsonEvents } from '../proxy/sse.ts';

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'thinking'; text: string }
  | { kind: 'tool_call'; id: string | null; name: string; input: string }
  | { kind: 'tool_result'; id: string | null; name: string | null; text: string; error: boolean }
  | { kind: 'media'; what: string }
  | { kind: 'other'; json: string };

export interface Message {
  role: string;
  parts: Part[];
}

export interface Conversation {
  api: LlmApi;
  model: string | null;
  system: string | null;
  tools: { name: string; description: string | null }[];
  messages: Message[];
  /** The model's answer; null when the response had none (an error, nothing stored). */
  answer: Message | null;
  /** Why the answer may be incomplete or missing. */
  answerNote: string | null;
  /** Leading messages of the request shown as the system prompt instead (a session turn's `new_from` counts them). */
  lifted: number;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const pretty = (v: unknown): string => {
  if (typeof v === 'string') {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  return v === undefined ? '' : JSON.stringify(v, null, 2);
};

/** Messages and tools beyond these are left out of the page (the body view has them all). */
const MAX_MESSAGES = 2000;

export function conversationOf(
  api: LlmApi,
  request: Buffer | null,
  response: { contentType: string | null; data: Buffer; truncated: boolean } | null,
  status: number | null,
): Conversation | null {
  let j: Json | null = null;
  try {
    j = request ? obj(JSON.parse(request.toString('utf8'))) : null;
  } catch {
    return null;
  }
  if (!j) return null;
  const c: Conversation = { api, model: str(j.model), system: null, tools: [], messages: [], answer: null, answerNote: null, lifted: 0 };
  if (api === 'anthropic') anthropicRequest(j, c);
  else if (api === 'openai-chat') chatRequest(j, c);
  else if (api === 'openai-responses') responsesRequest(j, c);
  else geminiRequest(j, c);
  if (c.messages.length === 0 && c.system === null) return null;
  nameResults(c.messages);
  c.messages = c.messages.slice(0, MAX_MESSAGES);
  if (response && response.data.length) {
    const text = response.data.toString('utf8');
    try {
      c.answer = answerOf(api, response.contentType, text);
    } catch {
      c.answer = null;
    }
    if (c.answer && c.answer.parts.length === 0) c.answer = null;
    if (!c.answer) c.answerNote = status !== null && status >= 400 ? `the API answered ${status}: see the response body` : 'no answer could be read from the response';
    else if (response.truncated) c.answerNote = 'the response was cut at the store cap: the answer may be incomplete';
  } else c.answerNote = status !== null && status >= 400 ? `the API answered ${status}` : 'no response body was stored';
  if (c.answer) nameResults([...c.messages, c.answer]);
  return c;
}

/** Tool results name the tool they answer (found by the call's id earlier in the conversation). */
function nameResults(messages: Message[]): void {
  const names = new Map<string, string>();
  for (const m of messages) {
    for (const p of m.parts) {
      if (p.kind === 'tool_call' && p.id) names.set(p.id, p.name);
      else if (p.kind === 'tool_result' && p.name === null && p.id) p.name = names.get(p.id) ?? null;
    }
  }
}

function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  return arr(v)
    .map((b) => {
      const o = obj(b);
      if (!o) return '';
      if (typeof o.text === 'string') return o.text;
      return o.type === 'image' ? '[image]' : JSON.stringify(o);
    })
    .join('\n');
}

// --- Anthropic Messages ------------------------------------------------------------------------

function anthropicRequest(j: Json, c: Conversation): void {
  c.system = j.system === undefined ? null : textOf(j.system);
  for (const t of arr(j.tools)) {
    const o = obj(t);
    if (o && typeof o.name === 'string') c.tools.push({ name: o.name, description: str(o.description) });
  }
  for (const m of arr(j.messages)) {
    const o = obj(m);
    if (o) c.messages.push({ role: str(o.role) ?? '?', parts: anthropicParts(o.content) });
  }
}

function anthropicParts(content: unknown): Part[] {
  if (typeof content === 'string') return [{ kind: 'text', text: content }];
  const parts: Part[] = [];
  for (const b of arr(content)) {
    const o = obj(b);
    if (!o) continue;
    const type = str(o.type);
    if (type === 'text') parts.push({ kind: 'text', text: str(o.text) ?? '' });
    else if (type === 'thinking') parts.push({ kind: 'thinking', text: str(o.thinking) ?? '' });
    else if (type === 'redacted_thinking') parts.push({ kind: 'thinking', text: '(redacted by the API)' });
    else if (type === 'tool_use' || type === 'server_tool_use') parts.push({ kind: 'tool_call', id: str(o.id), name: str(o.name) ?? '?', input: pretty(o.input) });
    else if (type === 'tool_result' || type?.endsWith('_tool_result')) {
      parts.push({ kind: 'tool_result', id: str(o.tool_use_id), name: null, text: typeof o.content === 'string' ? o.content : textOf(o.content), error: o.is_error === true });
    } else if (type === 'image' || type === 'document') parts.push({ kind: 'media', what: `${type}${str(obj(o.source)?.media_type) ? ` (${str(obj(o.source)?.media_type)})` : ''}` });
    else parts.push({ kind: 'other', json: JSON.stringify(o, null, 2) });
  }
  return parts;
}

function anthropicAnswer(contentType: string | null, text: string): Message | null {
  if (!isEventStream(contentType, text)) {
    const j = obj(JSON.parse(text));
    return j && Array.isArray(j.content) ? { role: 'assistant', parts: anthropicParts(j.content) } : null;
  }
  const blocks: Json[] = [];
  const json: string[] = [];
  for (const e of jsonEvents(contentType, text)) {
    const i = typeof e.index === 'number' ? e.index : -1;
    if (e.type === 'content_block_start' && i >= 0) {
      blocks[i] = { ...(obj(e.content_block) ?? {}) };
      json[i] = '';
    } else if (e.type === 'content_block_delta' && blocks[i]) {
      const d = obj(e.delta) ?? {};
      if (d.type === 'text_delta') blocks[i].text = `${str(blocks[i].text) ?? ''}${str(d.text) ?? ''}`;
      else if (d.type === 'thinking_delta') blocks[i].thinking = `${str(blocks[i].thinking) ?? ''}${str(d.thinking) ?? ''}`;
      else if (d.type === 'input_json_delta') json[i] += str(d.partial_json) ?? '';
    }
  }
  blocks.forEach((b, i) => {
    if (b && json[i]) b.input = json[i];
  });
  return { role: 'assistant', parts: anthropicParts(blocks.filter(Boolean)) };
}

// --- OpenAI Chat Completions -------------------------------------------------------------------

function chatParts(o: Json): Part[] {
  const parts: Part[] = [];
  const role = str(o.role);
  const content = o.content;
  if (role === 'tool') parts.push({ kind: 'tool_result', id: str(o.tool_call_id), name: str(o.name), text: textOf(content), error: false });
  else if (typeof content === 'string') parts.push({ kind: 'text', text: content });
  else {
    for (const b of arr(content)) {
      const p = obj(b);
      if (!p) continue;
      if (p.type === 'text' || p.type === 'input_text') parts.push({ kind: 'text', text: str(p.text) ?? '' });
      else if (p.type === 'image_url' || p.type === 'input_audio' || p.type === 'file') parts.push({ kind: 'media', what: String(p.type) });
      else parts.push({ kind: 'other', json: JSON.stringify(p, null, 2) });
    }
  }
  if (typeof o.refusal === 'string') parts.push({ kind: 'text', text: `(refused) ${o.refusal}` });
  for (const t of arr(o.tool_calls)) {
    const call = obj(t);
    const f = obj(call?.function);
    if (f) parts.push({ kind: 'tool_call', id: str(call?.id), name: str(f.name) ?? '?', input: pretty(f.arguments) });
  }
  const fc = obj(o.function_call);
  if (fc) parts.push({ kind: 'tool_call', id: null, name: str(fc.name) ?? '?', input: pretty(fc.arguments) });
  return parts;
}

function chatRequest(j: Json, c: Conversation): void {
  for (const t of [...arr(j.tools), ...arr(j.functions)]) {
    const o = obj(t);
    const f = obj(o?.function) ?? o;
    if (f && typeof f.name === 'string') c.tools.push({ name: f.name, description: str(f.description) });
  }
  for (const m of arr(j.messages)) {
    const o = obj(m);
    if (!o) continue;
    // The first system (or developer) message is the system prompt; later ones stay in place.
    if ((o.role === 'system' || o.role === 'developer') && c.system === null && c.messages.length === 0) {
      c.system = textOf(o.content);
      c.lifted = 1;
    } else c.messages.push({ role: str(o.role) ?? '?', parts: chatParts(o) });
  }
}

function chatAnswer(contentType: string | null, text: string): Message | null {
  if (!isEventStream(contentType, text)) {
    const msg = obj(obj(arr(obj(JSON.parse(text))?.choices)[0])?.message);
    return msg ? { role: 'assistant', parts: chatParts(msg) } : null;
  }
  let content = '';
  const calls: { id: string | null; name: string; args: string }[] = [];
  for (const e of jsonEvents(contentType, text)) {
    const d = obj(obj(arr(e.choices)[0])?.delta);
    if (!d) continue;
    content += str(d.content) ?? '';
    for (const t of arr(d.tool_calls)) {
      const call = obj(t);
      const i = typeof call?.index === 'number' ? call.index : calls.length;
      calls[i] ??= { id: null, name: '', args: '' };
      calls[i].id = str(call?.id) ?? calls[i].id;
      const f = obj(call?.function);
      calls[i].name += str(f?.name) ?? '';
      calls[i].args += str(f?.arguments) ?? '';
    }
  }
  const parts: Part[] = content ? [{ kind: 'text', text: content }] : [];
  for (const call of calls.filter(Boolean)) parts.push({ kind: 'tool_call', id: call.id, name: call.name || '?', input: pretty(call.args) });
  return { role: 'assistant', parts };
}

// --- OpenAI Responses --------------------------------------------------------------------------

function responsesItem(o: Json): Message | null {
  const type = str(o.type);
  if (type === 'function_call' || type === 'custom_tool_call') {
    return { role: 'assistant', parts: [{ kind: 'tool_call', id: str(o.call_id), name: str(o.name) ?? '?', input: pretty(o.arguments ?? o.input) }] };
  }
  if (type === 'function_call_output' || type === 'custom_tool_call_output') {
    return { role: 'tool', parts: [{ kind: 'tool_result', id: str(o.call_id), name: null, text: typeof o.output === 'string' ? o.output : JSON.stringify(o.output), error: false }] };
  }
  if (type === 'reasoning') return { role: 'assistant', parts: [{ kind: 'thinking', text: arr(o.summary).map((s) => str(obj(s)?.text) ?? '').join('\n') || '(reasoning not shown by the API)' }] };
  if (type === 'message' || (type === undefined && o.role !== undefined) || type === null) {
    const parts: Part[] = [];
    if (typeof o.content === 'string') parts.push({ kind: 'text', text: o.content });
    for (const b of arr(o.content)) {
      const p = obj(b);
      if (!p) continue;
      if (typeof p.text === 'string') parts.push({ kind: 'text', text: p.text });
      else if (p.type === 'refusal') parts.push({ kind: 'text', text: `(refused) ${str(p.refusal) ?? ''}` });
      else if (String(p.type).startsWith('input_')) parts.push({ kind: 'media', what: String(p.type) });
      else parts.push({ kind: 'other', json: JSON.stringify(p, null, 2) });
    }
    return { role: str(o.role) ?? 'assistant', parts };
  }
  return { role: 'assistant', parts: [{ kind: 'other', json: JSON.stringify(o, null, 2) }] };
}

function responsesRequest(j: Json, c: Conversation): void {
  c.system = str(j.instructions);
  for (const t of arr(j.tools)) {
    const o = obj(t);
    if (o) c.tools.push({ name: str(o.name) ?? str(o.type) ?? '?', description: str(o.description) });
  }
  if (typeof j.input === 'string') c.messages.push({ role: 'user', parts: [{ kind: 'text', text: j.input }] });
  for (const item of arr(j.input)) {
    const o = obj(item);
    const m = o && responsesItem(o);
    if (m) c.messages.push(m);
  }
}

function responsesAnswer(contentType: string | null, text: string): Message | null {
  const fromOutput = (r: Json | null) => {
    if (!r || !Array.isArray(r.output)) return null;
    return { role: 'assistant', parts: r.output.flatMap((item) => (obj(item) ? (responsesItem(obj(item)!)?.parts ?? []) : [])) };
  };
  if (!isEventStream(contentType, text)) return fromOutput(obj(JSON.parse(text)));
  const items: Json[] = [];
  let delta = '';
  for (const e of jsonEvents(contentType, text)) {
    if (e.type === 'response.completed' || e.type === 'response.incomplete') return fromOutput(obj(e.response));
    if (e.type === 'response.output_item.done' && obj(e.item)) items.push(obj(e.item)!);
    if (e.type === 'response.output_text.delta') delta += str(e.delta) ?? '';
  }
  // Cut before the end: the items that finished, and the text that streamed.
  const parts = items.flatMap((i) => responsesItem(i)?.parts ?? []);
  if (parts.length === 0 && delta) parts.push({ kind: 'text', text: delta });
  return { role: 'assistant', parts };
}

// --- Google Gemini -----------------------------------------------------------------------------

function geminiParts(content: unknown): Part[] {
  const parts: Part[] = [];
  for (const b of arr(obj(content)?.parts)) {
    const p = obj(b);
    if (!p) continue;
    const call = obj(p.functionCall);
    const result = obj(p.functionResponse);
    if (typeof p.text === 'string') parts.push({ kind: p.thought === true ? 'thinking' : 'text', text: p.text });
    else if (call) parts.push({ kind: 'tool_call', id: str(call.id), name: str(call.name) ?? '?', input: pretty(call.args ?? {}) });
    else if (result) parts.push({ kind: 'tool_result', id: str(result.id), name: str(result.name), text: pretty(result.response), error: false });
    else if (p.inlineData || p.fileData) parts.push({ kind: 'media', what: str(obj(p.inlineData ?? p.fileData)?.mimeType) ?? 'file' });
    else parts.push({ kind: 'other', json: JSON.stringify(p, null, 2) });
  }
  return parts;
}

function geminiRequest(j: Json, c: Conversation): void {
  const sys = obj(j.systemInstruction ?? j.system_instruction);
  c.system = sys ? geminiParts(sys).map((p) => (p.kind === 'text' ? p.text : '')).join('\n') : null;
  for (const t of arr(j.tools)) {
    for (const f of arr(obj(t)?.functionDeclarations ?? obj(t)?.function_declarations)) {
      const o = obj(f);
      if (o && typeof o.name === 'string') c.tools.push({ name: o.name, description: str(o.description) });
    }
  }
  for (const m of arr(j.contents)) {
    const o = obj(m);
    if (o) c.messages.push({ role: str(o.role) ?? 'user', parts: geminiParts(o) });
  }
}

function geminiAnswer(contentType: string | null, text: string): Message | null {
  const parts: Part[] = [];
  const streamed = isEventStream(contentType, text) || /^\s*\[/.test(text);
  const chunks = streamed ? [...jsonEvents(contentType, text)] : [obj(JSON.parse(text))].filter((x): x is Json => x !== null);
  for (const chunk of chunks) {
    for (const p of geminiParts(obj(arr(chunk.candidates)[0])?.content)) {
      // A stream sends text in pieces: consecutive pieces of one kind are one part.
      const last = parts[parts.length - 1];
      if ((p.kind === 'text' || p.kind === 'thinking') && last?.kind === p.kind) last.text += p.text;
      else parts.push(p);
    }
  }
  return chunks.length ? { role: 'model', parts } : null;
}

function answerOf(api: LlmApi, contentType: string | null, text: string): Message | null {
  if (api === 'anthropic') return anthropicAnswer(contentType, text);
  if (api === 'openai-chat') return chatAnswer(contentType, text);
  if (api === 'openai-responses') return responsesAnswer(contentType, text);
  return geminiAnswer(contentType, text);
}
