// Credential injection and placeholder handling. Secrets are revealed only here, only into the
// request of a rule that owns them; the recorded copy carries "[injected:NAME]". The values come
// from proxy/credentials/runtime.ts (read per request, minted, or signed per request for AWS).
import type { Config, HostRule } from '../../policies/types.ts';
import { type EchoSet, echoSetOf, scrubEchoes } from '../dlp/echo.ts';
import type { ChunkedMode, ChunkSigning } from '../credentials/aws-chunked.ts';
import { resignAws } from '../credentials/aws.ts';
import { isGitRequest } from '../credentials/github-app.ts';
import type { InjectedValues, Resolved } from '../credentials/runtime.ts';

export type PlaceholderCheck = { ok: true } | { ok: false; placeholderOf: string };

/** A placeholder of another rule: what the check looks for on this rule's requests. */
export interface ForeignPlaceholder {
  value: string;
  bytes: Buffer;
  /** The host of the rule that owns it (named in the refusal). */
  host: string;
}

const foreignOf = new WeakMap<HostRule, ForeignPlaceholder[]>();

/**
 * Placeholders that must never reach this rule's host: every placeholder in the policy that the
 * rule does not own. Computed once per rule (a reload brings new rule objects).
 */
export function foreignPlaceholders(config: Config, rule: HostRule): ForeignPlaceholder[] {
  let list = foreignOf.get(rule);
  if (!list) {
    const own = new Set(rule.placeholders.map((p) => p.value));
    list = config.hosts.flatMap((r) => r.placeholders.filter((p) => !own.has(p.value)).map((p) => ({ value: p.value, bytes: Buffer.from(p.value), host: r.match })));
    foreignOf.set(rule, list);
  }
  return list;
}

/**
 * A placeholder seen on a request whose rule does not own it is an exfiltration attempt: in the
 * URL or any header, as sent or percent-decoded, or in the user:password of a Basic
 * Authorization (where git and npm put one). (Bodies and WebSocket messages: dlp/tripwire.ts.)
 */
export function checkPlaceholders(foreign: readonly ForeignPlaceholder[], url: string, headers: [string, string][]): PlaceholderCheck {
  if (foreign.length === 0) return { ok: true };
  const sent = [url, ...headers.map(([, v]) => v)];
  const once = sent.filter((t) => t.includes('%')).map(percentDecoded);
  const basic = headers.flatMap(([k, v]) => (k === 'authorization' && /^basic\s/i.test(v) ? [Buffer.from(v.slice(6).trim(), 'base64').toString('latin1')] : []));
  const texts = [...sent, ...once, ...once.filter((t) => t.includes('%')).map(percentDecoded), ...basic];
  for (const p of foreign) if (texts.some((t) => t.includes(p.value))) return { ok: false, placeholderOf: p.host };
  return { ok: true };
}

/** %XX sequences decoded; anything else kept as is (a second pass reads double encoding). */
function percentDecoded(s: string): string {
  return s.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

const overwrittenByRule = new WeakMap<HostRule, ReadonlySet<string>>();

/** Header names airlock sets on this rule's requests: the agent's values of them never leave. Once per rule. */
export function overwrittenNames(rule: HostRule): ReadonlySet<string> {
  let names = overwrittenByRule.get(rule);
  if (!names) {
    const c = rule.credential;
    const scheme = !c ? [] : c.kind === 'aws_sigv4' ? ['authorization', 'x-amz-date', 'x-amz-security-token'] : ['authorization'];
    overwrittenByRule.set(rule, (names = new Set([...rule.injectHeaders.map((h) => h.name), ...scheme])));
  }
  return names;
}

/** Names of the headers airlock sets itself (recorded as [injected:NAME]). */
function setNames(rule: HostRule): string[] {
  const c = rule.credential;
  const scheme = !c ? [] : c.kind === 'aws_sigv4' ? ['authorization', ...(c.sessionToken ? ['x-amz-security-token'] : [])] : ['authorization'];
  return [...rule.injectHeaders.map((h) => h.name), ...scheme];
}

/** The request headers as the store keeps them: what airlock set or swapped in shows as [injected:NAME]. */
export function recordedHeaders(rule: HostRule, headers: [string, string][]): { recorded: [string, string][]; injected: string[] } {
  const overwritten = overwrittenNames(rule);
  const recorded: [string, string][] = [];
  const injected: string[] = [];
  for (const [name, value] of headers) {
    if (overwritten.has(name)) continue;
    if (rule.placeholders.some((p) => p.secret && value.includes(p.value))) {
      recorded.push([name, `[injected:${name}]`]);
      injected.push(name);
    } else recorded.push([name, value]);
  }
  for (const name of setNames(rule)) {
    recorded.push([name, `[injected:${name}]`]);
    injected.push(name);
  }
  return { recorded, injected };
}

/** How the request body goes upstream. */
export type BodyPlan =
  | { kind: 'as-is' }
  /** aws-chunked: framed again (and re-signed) by proxy/credentials/aws-chunked.ts. */
  | { kind: 'chunked'; mode: ChunkedMode; signing: ChunkSigning | null }
  /** Read up to `max` bytes and hashed; sign(hash) gives the remaining headers. */
  | { kind: 'hash'; max: number; sign: (payloadHash: string) => [string, string][] };

export type Injection =
  | { ok: true; upstream: [string, string][]; path: string; body: BodyPlan }
  | { ok: false; reason: string };

export interface RequestFacts {
  method: string;
  path: string;
  /** The Host header airlock sends. */
  authority: string;
  hasBody: boolean;
  now: number;
}

export const AS_IS: BodyPlan = Object.freeze({ kind: 'as-is' });

/** The upstream headers: the agent's, minus what airlock sets, placeholders swapped, the credential added. */
export function inject(rule: HostRule, headers: [string, string][], r: Resolved, req: RequestFacts): Injection {
  const overwritten = overwrittenNames(rule);
  const upstream: [string, string][] = [];
  for (const [name, value] of headers) {
    if (overwritten.has(name)) continue; // airlock's value always wins over the agent's
    let swapped = value;
    for (const [placeholder, real] of r.swaps) if (swapped.includes(placeholder)) swapped = swapped.split(placeholder).join(real);
    upstream.push([name, swapped]);
  }
  upstream.push(...r.headers);
  const a = r.auth;
  if (!a) return { ok: true, upstream, path: req.path, body: AS_IS };
  if (a.kind === 'header') upstream.push(['authorization', a.value]);
  else if (a.kind === 'github') {
    const basic = a.as === 'basic' || (a.as === 'auto' && isGitRequest(req.path));
    upstream.push(['authorization', basic ? `Basic ${Buffer.from(`x-access-token:${a.token}`).toString('base64')}` : `Bearer ${a.token}`]);
  } else {
    // The agent's own signature headers go to the signer, which removes them.
    const signing = [...upstream, ...headers.filter(([k]) => k === 'authorization')];
    const plan = resignAws({ ...req, headers: signing, region: a.region, service: a.service }, a.keys);
    if (!plan.ok) return plan;
    if (plan.body === 'hash') return { ok: true, upstream: [], path: plan.path, body: { kind: 'hash', max: a.maxSignedBody, sign: plan.sign } };
    return { ok: true, upstream: plan.headers, path: plan.path, body: plan.body === 'chunked' ? { kind: 'chunked', mode: plan.mode, signing: plan.signing } : AS_IS };
  }
  return { ok: true, upstream, path: req.path, body: AS_IS };
}

const echoSets = new WeakMap<InjectedValues, EchoSet | null>();

/**
 * Every form of the values airlock injected for a rule (static, minted, signed, sent to a token
 * endpoint; credentials/runtime.ts valuesFor) to keep from the agent. Built once per set of
 * values: valuesFor() returns the same object until one of them changes.
 */
export function echoOf(injected: InjectedValues): EchoSet | null {
  let set = echoSets.get(injected);
  if (set === undefined) echoSets.set(injected, (set = echoSetOf(injected.values)));
  return set;
}

/** Removes any echo of the values airlock injected, in any form echo.ts reads, from upstream response headers. */
export function scrubResponseHeaders(injected: InjectedValues, headers: Record<string, string | string[]>): void {
  const set = echoOf(injected);
  if (!set) return;
  const scrub = (v: string) => {
    const r = scrubEchoes(set, Buffer.from(v, 'latin1'), true);
    return r.scrubbed ? r.out.toString('latin1') : v;
  };
  for (const [name, value] of Object.entries(headers)) {
    // A header *named* after the key cannot carry a marker (not a token): it is dropped.
    if (scrub(name) !== name) delete headers[name];
    else headers[name] = Array.isArray(value) ? value.map(scrub) : scrub(value);
  }
}

/** Request headers that ask for part of a response: stripped where a credential is injected (docs/security.md). */
const RANGE_HEADERS = new Set(['range', 'if-range']);

/**
 * Whether this rule's responses may be partial windows. A rule that injects a credential (static
 * headers or a credential scheme) does not allow them unless it says `allow_range: true`: an agent
 * joining several small windows of an echo could assemble the key from pieces too short to recognise.
 */
export function windowsAllowed(rule: HostRule): boolean {
  return rule.allowRange || (rule.injectHeaders.length === 0 && rule.credential === undefined);
}

/** The upstream headers without Range and If-Range, when the rule does not allow windows. */
export function withoutRange(rule: HostRule, headers: [string, string][]): [string, string][] {
  return windowsAllowed(rule) ? headers : headers.filter(([k]) => !RANGE_HEADERS.has(k));
}
