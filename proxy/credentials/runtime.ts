// What each rule injects right now, and the values airlock has sent on its behalf. Static secrets
// are asked for per request (a rotated file: applies from the next request); minted tokens come
// from MintedToken. When every value is at hand, resolve() is synchronous and, when nothing
// changed, allocation-free. Credentials.valuesFor(rule) is the one list of what must never come
// back to the agent or reach the store: response echo scrubbing, header scrubbing and stored
// copies all take it (an InjectedValues object stays the same until a value changes, so derived
// structures can be cached per object).
import { type Got, headerSafe, type Live, type Secret, type SecretSource } from '../../policies/secrets.ts';
import type { CredentialScheme, HostRule } from '../../policies/types.ts';
import type { AwsKeys } from './aws.ts';
import { gitHubAppMinter } from './github-app.ts';
import { type Minted, MintedToken, type Token } from './minted.ts';
import { oauth2Minter } from './oauth2.ts';
import type { TokenFetch } from './token-fetch.ts';

/** The values airlock injected (or sent to a token endpoint) for a rule: what must never come back. */
export interface InjectedValues {
  readonly values: readonly string[];
  readonly buffers: readonly Buffer[];
}

export const NO_VALUES: InjectedValues = Object.freeze({ values: Object.freeze([]), buffers: Object.freeze([]) });

export type Auth =
  | { kind: 'header'; value: string }
  | { kind: 'github'; token: string; as: 'auto' | 'basic' | 'bearer' }
  | { kind: 'aws'; keys: AwsKeys; region: string; service: string; maxSignedBody: number };

export interface Resolved {
  /** Static headers with their values. */
  headers: readonly [string, string][];
  /** Placeholder -> the value it stands for. */
  swaps: readonly [string, string][];
  auth: Auth | null;
  /** The minted token in `auth`, to hand back to invalidate() after a 401. */
  minted?: string;
}

type Reader = { current(): Live<unknown> };

const safeChecked = new WeakMap<Secret, Got<Secret>>();

function safe(secret: Secret): Got<Secret> {
  let got = safeChecked.get(secret);
  if (!got) safeChecked.set(secret, (got = headerSafe(secret)));
  return got;
}

/**
 * A minted token and what was sent to get it (client secret, JWT), shared by every rule with the
 * same credential (github.com and api.github.com with one App) and kept across policy reloads:
 * a reload neither mints again nor forgets a token that may still be echoed.
 */
export class Mint {
  readonly token: MintedToken;
  #sent: string[] = [];
  #sentVersion = 0;
  #values?: { minted: number; sent: number; out: InjectedValues };

  /** `key`: names the credential across workers, which share its token. */
  constructor(make: (onSecret: (values: string[]) => void) => () => Promise<Got<Minted>>, key?: string) {
    this.token = new MintedToken(make((values) => this.#sentThere(values)), Date.now, key);
  }

  /** Values sent to the token endpoint: kept (the latest few) to be scrubbed. */
  #sentThere(values: string[]): void {
    const next = [...new Set([...values, ...this.#sent])].slice(0, 8);
    if (next.join('\0') !== this.#sent.join('\0')) {
      this.#sent = next;
      this.#sentVersion++;
    }
  }

  /** The tokens that may still be valid, and what was sent for them. */
  values(): InjectedValues {
    const tokens = this.token.values(); // prunes expired tokens (and bumps the version)
    const v = this.#values;
    if (v && v.minted === this.token.version && v.sent === this.#sentVersion) return v.out;
    const out = valuesFrom([...this.#sent, ...tokens]);
    this.#values = { minted: this.token.version, sent: this.#sentVersion, out };
    return out;
  }
}

/** Longest first: a whole header value is replaced before a token inside it. */
function valuesFrom(list: Iterable<string>): InjectedValues {
  const values = [...new Set(list)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return values.length ? { values, buffers: values.map((s) => Buffer.from(s)) } : NO_VALUES;
}

/** What makes two minted credentials the same one: where and as whom the token is fetched. */
function mintKey(c: CredentialScheme | undefined): string | undefined {
  if (c?.kind === 'oauth2') return JSON.stringify(['oauth2', c.tokenUrl.href, c.clientId, c.clientSecret.name, c.scopes, c.audience ?? null, c.clientAuth]);
  if (c?.kind === 'github_app') return JSON.stringify(['github_app', c.apiUrl.href, c.appId, c.installationId, c.privateKey.name, c.permissions ?? null, c.repositories ?? null]);
  return undefined;
}

export class RuleCredentials {
  /** A minted token: after a 401 the request may be sent once more with a new one. */
  readonly retryable: boolean;
  readonly #rule: HostRule;
  readonly #readers: Reader[] = [];
  readonly #mint?: Mint;
  readonly #minted?: MintedToken;
  #last?: { items: unknown[]; resolved: Resolved; got: Got<Resolved> };
  /** The values before the last change (a rotated file's old key may still be echoed). */
  #previous?: Resolved;
  #values?: { resolved: Resolved | undefined; mint: InjectedValues | undefined; out: InjectedValues };

  constructor(rule: HostRule, mint: Mint | undefined) {
    this.#rule = rule;
    this.#mint = mint;
    this.#minted = mint?.token;
    this.retryable = this.#minted !== undefined;
    for (const s of [...rule.injectHeaders.map((h) => h.secret), ...schemeSources(rule.credential)]) this.#reader(s);
    if (this.#minted) this.#readers.push(this.#minted);
  }

  #reader(s: SecretSource): void {
    if (!this.#readers.includes(s)) this.#readers.push(s);
  }

  /** What to inject now: synchronous when every value is at hand. */
  resolve(): Live<Resolved> {
    const items = this.#readers.map((r) => r.current());
    if (items.some((i) => i instanceof Promise)) return Promise.all(items).then((all) => this.#build(all));
    return this.#build(items);
  }

  /** The upstream refused `token` (401): false when no new token will be minted now. */
  invalidate(token: string): boolean {
    return this.#minted?.invalidate(token) ?? false;
  }

  /** The upstream accepted `token` (an answer other than 401). */
  confirm(token: string): void {
    this.#minted?.confirm(token);
  }

  /** Every value this rule's requests carried (or its token requests sent). */
  values(): InjectedValues {
    const v = this.#values;
    const resolved = this.#last?.resolved;
    const mint = this.#mint?.values();
    if (v && v.resolved === resolved && v.mint === mint) return v.out;
    const list: string[] = [...(mint?.values ?? [])];
    for (const r of [resolved, this.#previous]) if (r) list.push(...valuesOf(r));
    const out = valuesFrom(list);
    this.#values = { resolved, mint, out };
    return out;
  }

  #build(items: unknown[]): Got<Resolved> {
    const last = this.#last;
    // Nothing changed (the common case): the same object as last time, nothing allocated.
    if (last && last.items.length === items.length && items.every((x, i) => x === last.items[i])) return last.got;
    const values: unknown[] = [];
    for (const item of items) {
      const got = item as Got<unknown>;
      if (!got.ok) return got;
      values.push(got.value);
    }
    const secretOf = (s: SecretSource) => values[this.#readers.indexOf(s)] as Secret;
    const headers: [string, string][] = [];
    for (const h of this.#rule.injectHeaders) {
      const got = safe(secretOf(h.secret));
      if (!got.ok) return got;
      headers.push([h.name, got.value.reveal()]);
    }
    const swaps: [string, string][] = this.#rule.placeholders.flatMap((p) => (p.secret ? [[p.value, secretOf(p.secret).reveal()] as [string, string]] : []));
    const token = this.#minted ? (values[values.length - 1] as Token).value : undefined;
    const auth = authOf(this.#rule.credential, secretOf, token);
    if (auth && !auth.ok) return auth;
    const resolved: Resolved = { headers, swaps, auth: auth?.value ?? null, ...(token ? { minted: token } : {}) };
    if (last) this.#previous = last.resolved;
    const got: Got<Resolved> = { ok: true, value: resolved };
    this.#last = { items, resolved, got };
    return got;
  }
}

function schemeSources(c: CredentialScheme | undefined): SecretSource[] {
  switch (c?.kind) {
    case 'bearer':
      return [c.token];
    case 'basic':
      return [c.password];
    case 'aws_sigv4':
      return [c.accessKeyId, c.secretAccessKey, ...(c.sessionToken ? [c.sessionToken] : [])];
    default:
      return []; // oauth2 and github_app read their secrets when they mint
  }
}

function authOf(c: CredentialScheme | undefined, secretOf: (s: SecretSource) => Secret, token: string | undefined): Got<Auth> | undefined {
  switch (c?.kind) {
    case undefined:
      return undefined;
    case 'bearer': {
      const t = safe(secretOf(c.token));
      return t.ok ? { ok: true, value: { kind: 'header', value: `Bearer ${t.value.reveal()}` } } : t;
    }
    case 'basic': {
      const pw = safe(secretOf(c.password));
      return pw.ok ? { ok: true, value: { kind: 'header', value: `Basic ${Buffer.from(`${c.user}:${pw.value.reveal()}`).toString('base64')}` } } : pw;
    }
    case 'oauth2':
      return { ok: true, value: { kind: 'header', value: `Bearer ${token}` } };
    case 'github_app':
      return { ok: true, value: { kind: 'github', token: token!, as: c.as } };
    case 'aws_sigv4': {
      const id = safe(secretOf(c.accessKeyId));
      if (!id.ok) return id;
      const session = c.sessionToken ? safe(secretOf(c.sessionToken)) : undefined;
      if (session && !session.ok) return session;
      const keys: AwsKeys = { accessKeyId: id.value.reveal(), secretAccessKey: secretOf(c.secretAccessKey), ...(session ? { sessionToken: session.value.reveal() } : {}) };
      return { ok: true, value: { kind: 'aws', keys, region: c.region, service: c.service, maxSignedBody: c.maxSignedBody } };
    }
  }
}

/** The strings a resolved credential puts on the wire, and the secrets they are made of. */
function valuesOf(r: Resolved): string[] {
  const out = [...r.headers.map(([, v]) => v), ...r.swaps.map(([, v]) => v)];
  const a = r.auth;
  if (a?.kind === 'header') {
    out.push(a.value, a.value.slice(a.value.indexOf(' ') + 1));
    if (a.value.startsWith('Basic ')) {
      const pair = Buffer.from(a.value.slice(6), 'base64').toString('utf8');
      out.push(pair, pair.slice(pair.indexOf(':') + 1));
    }
  } else if (a?.kind === 'github') {
    out.push(a.token, Buffer.from(`x-access-token:${a.token}`).toString('base64'));
  } else if (a?.kind === 'aws') {
    out.push(a.keys.accessKeyId, a.keys.secretAccessKey.reveal(), ...(a.keys.sessionToken ? [a.keys.sessionToken] : []));
  }
  return out;
}

/** The runtime side of every rule's credentials, for one policy and the ones reloaded after it. */
export class Credentials {
  readonly #rules = new WeakMap<HostRule, RuleCredentials | null>();
  /** Minted credentials by what they are (mintKey): shared by rules, kept across reloads. */
  readonly #mints = new Map<string, Mint>();
  /** A token endpoint's rule (by id and match, so a reload keeps it) -> the mints that sent secrets to it. */
  readonly #linked = new Map<string, Set<Mint>>();
  readonly #merged = new WeakMap<HostRule, { parts: InjectedValues[]; out: InjectedValues }>();

  constructor(private readonly fetch: TokenFetch) {}

  /** The rule's credentials, or null when it injects nothing. One object per rule. */
  of(rule: HostRule): RuleCredentials | null {
    let c = this.#rules.get(rule);
    if (c === undefined) {
      const injects = rule.injectHeaders.length > 0 || rule.credential !== undefined;
      c = injects ? new RuleCredentials(rule, this.#mintFor(rule)) : null;
      this.#rules.set(rule, c);
    }
    return c;
  }

  #mintFor(rule: HostRule): Mint | undefined {
    const c = rule.credential;
    const key = mintKey(c);
    if (key === undefined) return undefined;
    let mint = this.#mints.get(key);
    if (!mint) {
      const spec = c!;
      const purpose = `${rule.id} (${spec.kind})`;
      const made = new Mint((onSecret) => {
        const viaPolicy: TokenFetch = (r) => this.fetch({ ...r, onRule: (endpoint) => this.#link(endpoint, made) });
        if (spec.kind === 'oauth2') return oauth2Minter(spec, viaPolicy, purpose, onSecret);
        if (spec.kind === 'github_app') return gitHubAppMinter(spec, viaPolicy, purpose, onSecret);
        throw new Error(`${spec.kind} is not minted`);
      }, key);
      this.#mints.set(key, (mint = made));
    }
    return mint;
  }

  #link(endpoint: HostRule, mint: Mint): void {
    const key = `${endpoint.id}\0${endpoint.match}`;
    let set = this.#linked.get(key);
    if (!set) this.#linked.set(key, (set = new Set()));
    set.add(mint);
  }

  /** Everything to keep from the agent on this rule's responses and out of its stored copies. */
  valuesFor(rule: HostRule): InjectedValues {
    const own = this.of(rule);
    const linked = this.#linked.size ? this.#linked.get(`${rule.id}\0${rule.match}`) : undefined;
    if (!linked) return own ? own.values() : NO_VALUES;
    const parts = [...(own ? [own.values()] : []), ...[...linked].map((m) => m.values())];
    const hit = this.#merged.get(rule);
    if (hit && hit.parts.length === parts.length && hit.parts.every((p, i) => p === parts[i])) return hit.out;
    const out = valuesFrom(parts.flatMap((p) => p.values));
    this.#merged.set(rule, { parts, out });
    return out;
  }
}
