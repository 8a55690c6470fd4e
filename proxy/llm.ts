// LLM-aware fields for the audit trail: model, token usage, stop reason and tool names of
// Anthropic Messages, OpenAI Chat Completions and Responses, and Google Gemini generateContent /
// streamGenerateContent calls, read from the stored (capped, decoded) bodies once per flow when it
// is recorded. Pure and total: any input, truncated or not JSON, yields a result or null, never an
// exception. Budgets count the tokens read here (proxy/budgets/).
import { nativeAddon } from './dlp/native.ts';
import { isEventStream, jsonEvents } from './sse.ts';

export type LlmApi = 'anthropic' | 'openai-chat' | 'openai-responses' | 'gemini';

export interface LlmInfo {
  provider: 'anthropic' | 'openai' | 'gemini';
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  stopReason: string | null;
  /** Tools the request declares and the response calls, each name once, in order of appearance. */
  tools: string[];
  /** Tools the response calls, each name once (a session's "tools used"). */
  called: string[];
}

type Provider = LlmInfo['provider'];
type Json = Record<string, unknown>;

const MAX_TOOLS = 128;
const MAX_NAME = 200;

/** Gemini: .../models/MODEL:generateContent or :streamGenerateContent (AI Studio and Vertex AI). */
const GEMINI = /\/models\/([^/:]{1,200}):(?:stream)?generateContent$/i;

/** The API this path is (any host: base-URL routes and proxies keep the path). */
export function llmApi(path: string | null | undefined): LlmApi | null {
  if (!path) return null;
  const q = path.indexOf('?');
  const p = (q >= 0 ? path.slice(0, q) : path).replace(/\/+$/, '');
  if (p.endsWith('/v1/messages')) return 'anthropic';
  if (p.endsWith('/chat/completions')) return 'openai-chat';
  if (p.endsWith('/responses')) return 'openai-responses';
  if (GEMINI.test(p)) return 'gemini';
  return null;
}

export function providerOf(api: LlmApi): Provider {
  return api === 'anthropic' ? 'anthropic' : api === 'gemini' ? 'gemini' : 'openai';
}

/** The provider whose API this path is. */
export function llmProvider(path: string | null | undefined): Provider | null {
  const api = llmApi(path);
  return api && providerOf(api);
}

export function llmInfo(
  host: string | null | undefined,
  path: string | null | undefined,
  requestBody: Buffer | string | null | undefined,
  responseContentType: string | null | undefined,
  responseBody: string | null | undefined,
): LlmInfo | null {
  try {
    void host; // recognised by path: the same API is reached under many host names
    const api = llmApi(path);
    if (!api) return null;
    const info: LlmInfo = { provider: providerOf(api), model: null, inputTokens: null, outputTokens: null, stopReason: null, tools: [], called: [] };
    const tools = new Set<string>();
    const called = new Set<string>();
    const calls: Calls = { add: (name) => (addTool(tools, name), addTool(called, name)) };
    if (api === 'gemini') info.model = str(GEMINI.exec((path ?? '').split('?')[0].replace(/\/+$/, ''))?.[1]);
    if (requestBody) readRequest(api, requestBody, info, tools);
    let responseModel: string | null = null;
    if (responseBody) {
      const r = { ...info, model: null as string | null };
      if (isEventStream(responseContentType, responseBody) || (api === 'gemini' && /^\s*\[/.test(responseBody))) readStream(api, responseContentType, responseBody, r, calls);
      else readResponse(api, responseBody, r, calls);
      responseModel = r.model;
      info.inputTokens = r.inputTokens;
      info.outputTokens = r.outputTokens;
      info.stopReason = r.stopReason;
    }
    // The model that answered (e.g. a dated snapshot) over the alias the request named.
    info.model = responseModel ?? info.model;
    info.tools = [...tools];
    info.called = [...called];
    const found = info.model !== null || info.inputTokens !== null || info.outputTokens !== null || info.stopReason !== null || info.tools.length > 0;
    return found ? info : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

function parse(text: string): Json | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

const obj = (v: unknown): Json | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME ? v : null);
const count = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);
const sum = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : a + b);

/** Tools a response calls: into the flow's tools and its calls. */
interface Calls {
  add(name: unknown): void;
}

function addTool(tools: Set<string>, name: unknown): void {
  const n = str(name);
  if (n !== null && tools.size < MAX_TOOLS) tools.add(n);
}

/** From text JSON.parse rejects (a body cut at the cap): the first `"key": "string"`. */
function scanString(text: string, key: string): string | null {
  const m = new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]{1,${MAX_NAME}})"`).exec(text);
  return m ? m[1] : null;
}

function scanCount(text: string, key: string): number | null {
  const m = new RegExp(`"${key}"\\s*:\\s*(\\d{1,15})\\b`).exec(text);
  return m ? Number(m[1]) : null;
}

/** Past this, a request (an agent's whole conversation) is not parsed whole: only its model and tools. */
const WHOLE_REQUEST = 16 * 1024;

function readRequest(api: LlmApi, body: Buffer | string, info: LlmInfo, tools: Set<string>): void {
  const buf = typeof body === 'string' ? null : body;
  const top = buf && buf.length > WHOLE_REQUEST ? nativeAddon()?.topLevel(buf, ['model', 'tools', 'functions']) : undefined;
  // Only the values needed, found by the native scanner without parsing the messages.
  const value = (k: number) => (buf && top && top[2 * k] >= 0 ? buf.subarray(top[2 * k], top[2 * k + 1]).toString('utf8') : undefined);
  const text = top ? `{"model":${value(0) ?? 'null'},"tools":${value(1) ?? '[]'},"functions":${value(2) ?? '[]'}}` : body.toString('utf8');
  const j = parse(text);
  if (!j) {
    if (api !== 'gemini') info.model = scanString(buf && top ? buf.subarray(0, 4096).toString('utf8') : text, 'model');
    return;
  }
  if (api !== 'gemini') info.model = str(j.model);
  for (const t of arr(j.tools)) {
    const o = obj(t);
    if (!o) continue;
    if (api === 'anthropic') addTool(tools, o.name);
    // Chat: {type: "function", function: {name}}; Responses: {type: "function", name} or a built-in {type: "web_search"}.
    else if (api === 'openai-chat') addTool(tools, obj(o.function)?.name ?? o.name);
    else if (api === 'openai-responses') addTool(tools, o.name ?? (o.type !== 'function' ? o.type : null));
    else for (const f of arr(o.functionDeclarations ?? o.function_declarations)) addTool(tools, obj(f)?.name);
  }
  if (api === 'openai-chat') for (const f of arr(j.functions)) addTool(tools, obj(f)?.name);
}

function readResponse(api: LlmApi, text: string, info: LlmInfo, calls: Calls): void {
  const j = parse(text);
  if (!j) {
    // Cut at the cap: the leading fields are still there.
    info.model = scanString(text, api === 'gemini' ? 'modelVersion' : 'model');
    if (api === 'anthropic' || api === 'openai-responses') {
      info.stopReason = scanString(text, api === 'anthropic' ? 'stop_reason' : 'status');
      info.inputTokens = scanCount(text, 'input_tokens');
      info.outputTokens = scanCount(text, 'output_tokens');
    } else if (api === 'openai-chat') {
      info.stopReason = scanString(text, 'finish_reason');
      info.inputTokens = scanCount(text, 'prompt_tokens');
      info.outputTokens = scanCount(text, 'completion_tokens');
    } else {
      info.stopReason = scanString(text, 'finishReason');
      info.inputTokens = scanCount(text, 'promptTokenCount');
      info.outputTokens = sum(scanCount(text, 'candidatesTokenCount'), scanCount(text, 'thoughtsTokenCount'));
    }
    return;
  }
  if (api === 'anthropic') {
    info.model = str(j.model);
    const usage = obj(j.usage);
    info.inputTokens = count(usage?.input_tokens);
    info.outputTokens = count(usage?.output_tokens);
    info.stopReason = str(j.stop_reason);
    for (const c of arr(j.content)) {
      const o = obj(c);
      if (o && (o.type === 'tool_use' || o.type === 'server_tool_use')) calls.add(o.name);
    }
  } else if (api === 'openai-chat') {
    info.model = str(j.model);
    const usage = obj(j.usage);
    info.inputTokens = count(usage?.prompt_tokens);
    info.outputTokens = count(usage?.completion_tokens);
    for (const c of arr(j.choices)) {
      const o = obj(c);
      info.stopReason ??= str(o?.finish_reason);
      for (const call of arr(obj(o?.message)?.tool_calls)) calls.add(obj(obj(call)?.function)?.name);
      calls.add(obj(obj(o?.message)?.function_call)?.name);
    }
  } else if (api === 'openai-responses') readResponsesObject(j, info, calls);
  else readGeminiChunk(j, info, calls);
}

/** An OpenAI Responses object (the JSON answer, or `response` of its response.completed event). */
function readResponsesObject(r: Json, info: LlmInfo, calls: Calls): void {
  info.model = str(r.model) ?? info.model;
  const usage = obj(r.usage);
  info.inputTokens = count(usage?.input_tokens) ?? info.inputTokens;
  info.outputTokens = count(usage?.output_tokens) ?? info.outputTokens;
  info.stopReason = str(obj(r.incomplete_details)?.reason) ?? str(r.status) ?? info.stopReason;
  for (const item of arr(r.output)) {
    const o = obj(item);
    if (o?.type === 'function_call') calls.add(o.name);
  }
}

/** A Gemini GenerateContentResponse (whole, or one chunk of a stream: usage is a running total). */
function readGeminiChunk(j: Json, info: LlmInfo, calls: Calls): void {
  info.model = str(j.modelVersion) ?? info.model;
  const u = obj(j.usageMetadata);
  if (u) {
    info.inputTokens = count(u.promptTokenCount) ?? info.inputTokens;
    const out = sum(count(u.candidatesTokenCount), count(u.thoughtsTokenCount));
    info.outputTokens = out ?? info.outputTokens;
  }
  for (const c of arr(j.candidates)) {
    const o = obj(c);
    info.stopReason = str(o?.finishReason) ?? info.stopReason;
    for (const part of arr(obj(o?.content)?.parts)) calls.add(obj(obj(part)?.functionCall)?.name);
  }
}

function readStream(api: LlmApi, contentType: string | null | undefined, text: string, info: LlmInfo, calls: Calls): void {
  for (const e of jsonEvents(contentType, text)) {
    if (api === 'anthropic') {
      if (e.type === 'message_start') {
        const m = obj(e.message);
        info.model = str(m?.model) ?? info.model;
        const u = obj(m?.usage);
        info.inputTokens = count(u?.input_tokens) ?? info.inputTokens;
        info.outputTokens = count(u?.output_tokens) ?? info.outputTokens;
      } else if (e.type === 'content_block_start') {
        const b = obj(e.content_block);
        if (b && (b.type === 'tool_use' || b.type === 'server_tool_use')) calls.add(b.name);
      } else if (e.type === 'message_delta') {
        info.stopReason = str(obj(e.delta)?.stop_reason) ?? info.stopReason;
        const u = obj(e.usage);
        // output_tokens in message_delta is the running total, not an increment.
        info.outputTokens = count(u?.output_tokens) ?? info.outputTokens;
        info.inputTokens = count(u?.input_tokens) ?? info.inputTokens;
      }
    } else if (api === 'openai-chat') {
      info.model = str(e.model) ?? info.model;
      for (const c of arr(e.choices)) {
        const o = obj(c);
        info.stopReason = str(o?.finish_reason) ?? info.stopReason;
        const delta = obj(o?.delta);
        for (const call of arr(delta?.tool_calls)) calls.add(obj(obj(call)?.function)?.name);
        calls.add(obj(delta?.function_call)?.name);
      }
      const u = obj(e.usage);
      if (u) {
        info.inputTokens = count(u.prompt_tokens) ?? info.inputTokens;
        info.outputTokens = count(u.completion_tokens) ?? info.outputTokens;
      }
    } else if (api === 'openai-responses') {
      const r = obj(e.response);
      if (r) readResponsesObject(r, info, calls);
      const item = obj(e.item);
      if (item?.type === 'function_call') calls.add(item.name);
    } else readGeminiChunk(e, info, calls);
  }
}
