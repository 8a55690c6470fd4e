// Credential injection and placeholder handling. Secrets are revealed only here, only into the
// headers of a request whose rule owns them; the recorded copy carries "[injected:NAME]".
import type { Config, HostRule } from '../../policies/types.ts';
import { type EchoSet, echoSetOf, scrubEchoes } from '../dlp/echo.ts';

export interface Injection {
  /** Headers for the upstream request (real secret values). */
  upstream: [string, string][];
  /** The same headers for the store, secrets masked. */
  recorded: [string, string][];
  injected: string[];
}

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
 * URL or any header, as sent or percent-decoded. (Bodies and WebSocket messages: dlp/tripwire.ts.)
 */
export function checkPlaceholders(foreign: readonly ForeignPlaceholder[], url: string, headers: [string, string][]): PlaceholderCheck {
  if (foreign.length === 0) return { ok: true };
  const sent = [url, ...headers.map(([, v]) => v)];
  const once = sent.filter((t) => t.includes('%')).map(percentDecoded);
  const texts = [...sent, ...once, ...once.filter((t) => t.includes('%')).map(percentDecoded)];
  for (const p of foreign) if (texts.some((t) => t.includes(p.value))) return { ok: false, placeholderOf: p.host };
  return { ok: true };
}

/** %XX sequences decoded; anything else kept as is (a second pass reads double encoding). */
function percentDecoded(s: string): string {
  return s.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export function inject(rule: HostRule, headers: [string, string][]): Injection {
  const upstream: [string, string][] = [];
  const recorded: [string, string][] = [];
  const injected: string[] = [];
  const overwritten = new Set(rule.injectHeaders.map((h) => h.name));
  for (const [name, value] of headers) {
    if (overwritten.has(name)) continue; // airlock's value always wins over the agent's
    let swapped = value;
    for (const p of rule.placeholders) {
      if (swapped.includes(p.value)) swapped = swapped.split(p.value).join(p.secret.reveal());
    }
    upstream.push([name, swapped]);
    if (swapped === value) recorded.push([name, value]);
    else {
      recorded.push([name, `[injected:${name}]`]);
      injected.push(name);
    }
  }
  for (const h of rule.injectHeaders) {
    upstream.push([h.name, h.secret.reveal()]);
    recorded.push([h.name, `[injected:${h.name}]`]);
    injected.push(h.name);
  }
  return { upstream, recorded, injected };
}

const echoSets = new WeakMap<HostRule, EchoSet | null>();

/** Every form of the rule's injected secrets (and its placeholders' real value) to keep from the agent. Once per rule. */
export function echoSetOfRule(rule: HostRule): EchoSet | null {
  let set = echoSets.get(rule);
  if (set === undefined) {
    const secrets = new Set([...rule.injectHeaders.map((h) => h.secret.reveal()), ...rule.placeholders.map((p) => p.secret.reveal())]);
    echoSets.set(rule, (set = echoSetOf([...secrets])));
  }
  return set;
}

/** Removes any echo of the rule's secrets, in any form echo.ts reads, from upstream response headers. */
export function scrubResponseHeaders(rule: HostRule, headers: Record<string, string | string[]>): void {
  const set = echoSetOfRule(rule);
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
 * Whether this rule's responses may be partial windows. A rule that injects a credential does
 * not allow them unless it says `allow_range: true`: an agent joining several small windows of
 * an echo could assemble the key from pieces too short to recognise.
 */
export function windowsAllowed(rule: HostRule): boolean {
  return rule.allowRange || rule.injectHeaders.length === 0;
}

/** The upstream headers without Range and If-Range, when the rule does not allow windows. */
export function withoutRange(rule: HostRule, headers: [string, string][]): [string, string][] {
  return windowsAllowed(rule) ? headers : headers.filter(([k]) => !RANGE_HEADERS.has(k));
}
