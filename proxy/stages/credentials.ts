// Credential injection and placeholder handling. Secrets are revealed only here, only into the
// headers of a request whose rule owns them; the recorded copy carries "[injected:NAME]".
import type { Config, HostRule } from '../../policies/types.ts';

export interface Injection {
  /** Headers for the upstream request (real secret values). */
  upstream: [string, string][];
  /** The same headers for the store, secrets masked. */
  recorded: [string, string][];
  injected: string[];
}

export type PlaceholderCheck = { ok: true } | { ok: false; placeholderOf: string };

/** Every placeholder in the policy with the rule it belongs to, for the exfiltration check. */
export function placeholderIndex(config: Config): { value: string; ruleId: string; host: string }[] {
  return config.hosts.flatMap((r) => r.placeholders.map((p) => ({ value: p.value, ruleId: r.id, host: r.match })));
}

/** A placeholder seen on a request whose rule does not own it is an exfiltration attempt. */
export function checkPlaceholders(
  index: { value: string; ruleId: string; host: string }[],
  rule: HostRule,
  url: string,
  headers: [string, string][],
): PlaceholderCheck {
  for (const p of index) {
    if (rule.placeholders.some((own) => own.value === p.value)) continue;
    if (url.includes(p.value) || headers.some(([, v]) => v.includes(p.value))) return { ok: false, placeholderOf: p.host };
  }
  return { ok: true };
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

/** Removes any echo of the rule's secrets from upstream response headers. */
export function scrubResponseHeaders(rule: HostRule, headers: Record<string, string | string[]>): void {
  const secrets = [...rule.injectHeaders.map((h) => h.secret), ...rule.placeholders.map((p) => p.secret)];
  if (secrets.length === 0) return;
  for (const [name, value] of Object.entries(headers)) {
    const scrub = (v: string) => secrets.reduce((acc, s) => acc.split(s.reveal()).join('[redacted:injected]'), v);
    headers[name] = Array.isArray(value) ? value.map(scrub) : scrub(value);
  }
}
