// The validated, frozen shape of an airlock policy file. Produced only by parsePolicy().
import type { DlpRule, RuleAction } from './dlp/types.ts';
import type { Secret, SecretSource } from './secrets.ts';

export type ListenAddr =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

/** A CIDR block that a host rule names explicitly (allow_ips), or a single resolve address. */
export interface Cidr {
  text: string; // as written, e.g. "198.18.0.0/15"
  contains(ip: string): boolean;
}

export interface InjectedHeader {
  name: string; // lower-case header name
  secret: SecretSource;
}

export interface Placeholder {
  value: string; // the string the agent is given instead of the real key
  /** What airlock swaps it for (rules with `inject.headers`); absent when the rule's scheme sets the whole credential. */
  secret?: SecretSource;
}

/**
 * How a rule authenticates its requests beyond static headers (`inject.bearer`, `.basic`,
 * `.oauth2`, `.aws_sigv4`, `.github_app`; docs/policy.md#credentials). At most one per rule.
 */
export type CredentialScheme =
  | { kind: 'bearer'; token: SecretSource }
  | { kind: 'basic'; user: string; password: SecretSource }
  | {
      kind: 'oauth2';
      tokenUrl: URL;
      clientId: string;
      clientSecret: SecretSource;
      scopes: string[];
      audience?: string;
      /** client_secret_basic (default) or client_secret_post (RFC 6749 2.3.1). */
      clientAuth: 'basic' | 'body';
    }
  | {
      kind: 'aws_sigv4';
      accessKeyId: SecretSource;
      secretAccessKey: SecretSource;
      sessionToken?: SecretSource;
      region: string;
      service: string;
      /** A body whose hash the agent did not send is read up to this many bytes to sign it. */
      maxSignedBody: number;
    }
  | {
      kind: 'github_app';
      appId: string;
      installationId: string;
      privateKey: SecretSource;
      /** REST API base: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server. */
      apiUrl: URL;
      /** auto: Basic x-access-token for git over HTTPS, Bearer otherwise. */
      as: 'auto' | 'basic' | 'bearer';
      permissions?: Record<string, string>;
      repositories?: string[];
    };

export interface HostRule {
  /** Position in `hosts`, used in config paths: `hosts[2]`. */
  index: number;
  /** Stable id used in decisions and the store: the rule's `name`, or `hosts[N]`. */
  id: string;
  /** Lower-case exact name, IP literal, or `*.suffix` wildcard (never a bare `*`). */
  match: string;
  /** Allowed ports; undefined means the scheme's default port (443, or 80 with plain_http). */
  ports?: number[];
  /** Upper-case methods; undefined means any. */
  methods?: string[];
  /** Path prefixes (each starts with "/"); undefined means any path. */
  paths?: string[];
  /**
   * Agent identities this rule applies to: a Proxy-Authorization Basic user name, or
   * `listener:ADDR` (the listener as printed, e.g. `listener:unix:/run/a.sock`). Undefined: every agent.
   */
  agents?: string[];
  /** Non-public addresses this rule may reach after DNS (loopback, private, ...). */
  allowIps: Cidr[];
  /** Plain-HTTP upstream requests (http://, transparent :80, plaintext in a tunnel). Default false. */
  plainHttp: boolean;
  /** WebSocket upgrades. Default true. */
  websocket: boolean;
  /**
   * Range requests (and 206 answers) on a rule that injects a credential. Default false: Range
   * and If-Range are stripped and a 206 is refused, so an echo cannot be read in pieces.
   */
  allowRange: boolean;
  injectHeaders: InjectedHeader[];
  /** The rule's credential scheme, if any (sets Authorization, or signs the request). */
  credential?: CredentialScheme;
  placeholders: Placeholder[];
  /** The host is an MCP server (streamable HTTP): its JSON-RPC calls are read, recorded and checked. */
  mcp?: McpPolicy;
  /**
   * report: a request to this rule's host that the rule would deny (port, method, path, scheme,
   * WebSocket) goes through and is recorded as would_deny. Undefined: the policy's mode.
   */
  mode?: PolicyMode;
  /** The preset this rule came from (`include:`), if any. */
  preset?: string;
  /** Plain words for auditors: what this rule allows. */
  explain: string;
}

/** `hosts[].mcp`: which tools an agent may call on this MCP server (proxy/stages/mcp.ts). */
export interface McpPolicy {
  /** Tool name globs allowed; undefined: every tool not denied. */
  tools?: string[];
  /** Tool name globs denied; they win over `tools`. */
  deny: string[];
  /** A JSON-RPC request body is read whole (to be checked) up to this size; larger ones are refused. */
  maxBodyBytes: number;
}

/** `prices`: what a model's tokens cost, per million (any currency; the UI and budgets use it as is). */
export interface Price {
  /** The model glob as written. */
  model: string;
  pattern: RegExp;
  input: number;
  output: number;
}

export type BudgetLimitKey = 'requests_per_minute' | 'tokens_per_hour' | 'tokens_per_day' | 'spend_per_day';

export interface BudgetLimit {
  key: BudgetLimitKey;
  metric: 'requests' | 'tokens' | 'spend';
  window: 'minute' | 'hour' | 'day';
  windowMs: number;
  /** Requests, tokens (input + output), or spend in millionths (policies/parse-budgets.ts SPEND_UNIT). */
  max: number;
}

/** `budgets[]`: limits each agent it applies to has on its own (proxy/budgets/). */
export interface Budget {
  index: number;
  name: string;
  /** As in HostRule.agents; undefined: every agent (each counted on its own). */
  agents?: string[];
  /** Host rule ids whose requests count; undefined: every rule. */
  rules?: string[];
  limits: BudgetLimit[];
}

/** enforce: denials are refused. report: policy denials are let through and recorded as would_deny. */
export type PolicyMode = 'enforce' | 'report';

/**
 * An explicit deny rule (`deny:`): an exception under the allow rules, e.g. `admin.example.com`
 * under `*.example.com`. A deny rule that matches always wins, whatever the order of the rules.
 */
export interface DenyRule {
  /** Position in `deny`, used in config paths: `deny[0]`. */
  index: number;
  /** The rule's `name`, or `deny[N]`. Unique across hosts and deny. */
  id: string;
  /** As in HostRule.match. */
  match: string;
  /** Denied ports; undefined means every port. */
  ports?: number[];
  /** Upper-case methods; undefined means every method. Compared case-insensitively. */
  methods?: string[];
  /** Lower-case path prefixes, compared with the canonical path (policies/deny.ts); undefined: every path. */
  paths?: string[];
  /** As in HostRule.agents. */
  agents?: string[];
  explain: string;
}

export interface Route {
  index: number;
  listen: ListenAddr;
  /** Upstream origin plus optional base path, e.g. https://api.anthropic.com or https://h/v1 */
  upstream: URL;
}

export interface Config {
  /** Absolute path of the policy file, or undefined for an in-memory policy. */
  sourcePath?: string;
  /**
   * report: requests the host rules would deny (host, port, method, path, scheme, WebSocket) go
   * through, recorded as would_deny with the reason; deny rules, IP checks, placeholders and
   * DLP still apply (docs/policy.md#report-mode).
   */
  mode: PolicyMode;
  /** Presets named under `include`, in order. */
  presets: string[];
  /**
   * A refused CONNECT (or transparent TLS connection) is accepted and its first request answered
   * with the 403 JSON inside TLS, for agents that cannot read a CONNECT response. Off by default.
   */
  explainInTls: { enabled: boolean; perMinute: number };
  /** Serving processes behind the listeners (proxy/workers/): a number, or auto (one per core airlock may use). */
  workers: number | 'auto';
  /** Absolute data directory: CA, flow store. */
  dataDir: string;
  /** proxy: explicit proxy; transparent: iptables REDIRECT target; admin: /healthz and /metrics;
   * ui: the read-only, token-protected audit-trail API (web-ui/, docs/api.md). */
  listen: { proxy?: ListenAddr; transparent?: ListenAddr; admin?: ListenAddr; ui?: ListenAddr };
  routes: Route[];
  upstream: {
    /** Absolute paths of extra trusted CA bundles (PEM), on top of the system roots. */
    caFiles: string[];
    /** Lower-case host name -> IP address (like curl --resolve). */
    resolve: Map<string, string>;
    /** DNS servers ("ip" or "ip:port"); empty means the system resolver (getaddrinfo). */
    dnsServers: string[];
    connectTimeoutMs: number;
    /** Time allowed until the upstream's response headers arrive. */
    responseTimeoutMs: number;
    /** Idle time allowed while a body streams. */
    idleTimeoutMs: number;
  };
  ca: {
    /** Write nameConstraints (the policy's hosts) into a CA created by `ca init`. */
    nameConstraints: boolean;
    /** How many leaf certificates (with SecureContext) stay cached. */
    cacheSize: number;
  };
  store: {
    /** Absolute path of the SQLite file (the store unless `postgres` is set). */
    path: string;
    /** This airlock's name in the audit trail: every flow carries it, and each instance has its own hash chain. */
    instance: string;
    /** The PostgreSQL store (several instances, one audit trail) instead of the SQLite file. */
    postgres?: {
      /** postgres://user:password@host:port/database[?sslmode=verify-full&sslrootcert=...] */
      url: Secret;
      /** The PostgreSQL schema airlock's tables live in. */
      schema: string;
      /** Connections each reader (the web UI, `airlock flows`) may hold. */
      pool: number;
      /** Where flows wait while PostgreSQL cannot take them, and how much may wait. */
      spool: { path: string; maxBytes: number };
    };
    /** Bytes of each request and response body kept in the store (0: bodies are not kept). */
    bodyCapBytes: number;
    /** Deleting the oldest flows in the background (writer thread); unset limits keep everything. */
    retention: {
      /** Flows that started longer ago than this are deleted. */
      maxAgeMs?: number;
      /** The oldest flows are deleted until the store's used pages fit in this many bytes. */
      maxBytes?: number;
    };
    /** While the store cannot write: answer new requests 503 (refuse) or let them through unrecorded (serve). */
    onUnavailable: 'refuse' | 'serve';
    /** Free space kept on the store's file system (at or below it the store counts as full); {} is 1 GiB or 5 %, whichever is smaller. */
    minFree: { bytes?: number; percent?: number };
  };
  log: {
    /** One JSON line per flow on stdout. */
    flows: boolean;
  };
  /** What one agent may cost airlock (policies/parse-limits.ts; docs/policy.md#limits). */
  limits: Limits;
  hosts: HostRule[];
  /** Deny rules, checked before any allow rule (policies/deny.ts). */
  deny: DenyRule[];
  dlp: DlpConfig;
  /** Prices per million tokens by model (estimated cost in the UI, spend budgets). */
  prices: Price[];
  /** Budgets and rate limits per agent, checked on every request (docs/policy.md#budgets). */
  budgets: Budget[];
}

export interface Limits {
  /** HTTP/1 request line plus headers; HTTP/2 header list. Over it: 431. */
  maxHeaderBytes: number;
  /** Header fields in one request. Over it: 431. */
  maxHeaders: number;
  /** The request target (path and query, or absolute URL). Over it: 414. */
  maxUrlBytes: number;
  /** Time to send a request's headers once its first byte arrived (slowloris). Over it: 408. */
  headerTimeoutMs: number;
  /** Time from the agent's complete ClientHello to a finished TLS handshake. Over it: closed, agent_tls. */
  tlsHandshakeTimeoutMs: number;
  /** A connection with no request in progress (also: the first bytes of a new connection). */
  idleTimeoutMs: number;
  /** Silence while the agent sends a request body. Over it: 408. */
  bodyTimeoutMs: number;
  /** From a request's complete head to the end of its body (the head has headerTimeoutMs). Over it: 408. */
  requestTimeoutMs: number;
  /** Bytes per second a request body must average over each window of waiting for the agent; 0: off. Under it: 408. */
  minBodyRate: number;
  /** The window minBodyRate is judged over; the first window of a body is a grace period. */
  minBodyRateWindowMs: number;
  /** Chunk extensions (and other chunk framing past the size line) in one request, in total. Over it: 400. */
  maxChunkExtensionBytes: number;
  /** Agent header names with "_" (never forwarded when they alias a framing or injected header). */
  headersWithUnderscores: 'allow' | 'drop' | 'reject';
  /** Open connections from one client address (all listeners together). */
  maxConnectionsPerClient: number;
  /** New leaf certificates one client may cause per minute (a flood of new SNI names). */
  leafMintsPerMinute: number;
  /** HTTP/2 streams open at once on one agent connection. */
  h2MaxConcurrentStreams: number;
  /** One WebSocket message from the agent (assembled to be scanned). Over it: close 1009. */
  maxWebsocketMessageBytes: number;
}

/** A DLP exception: for these hosts (and path prefixes), these rules get this action. */
export interface DlpException {
  index: number;
  /** Normalised host patterns, as in hosts[].match. */
  hosts: string[];
  paths?: string[];
  /** Rule ids, `prefix-*`, or `*`. */
  rules: string[];
  action: RuleAction;
}

export interface DlpConfig {
  enabled: boolean;
  /** report: record what would have been blocked or redacted, change nothing. */
  mode: 'enforce' | 'report';
  /** Scan response bodies with the rules too (echoes of injected secrets are scrubbed regardless). */
  responses: boolean;
  /** Built-in rules, then the policy's custom ones. */
  rules: readonly DlpRule[];
  /** Action per rule id, policy overrides applied. */
  actions: Readonly<Record<string, RuleAction>>;
  exceptions: DlpException[];
  /** Decompressed bytes allowed per body, and decompressed:compressed ratio (bombs are blocked). */
  maxDecodedBytes: number;
  maxRatio: number;
}

export type ParseResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/** A policy decision: a value, never an exception. `reason` is a fixed phrase tests can assert. */
export type Decision =
  | { allow: true; rule: HostRule }
  | { allow: false; code: DenyCode; reason: string; hint: string; ruleId?: string };

export type DenyCode =
  | 'host_not_allowed'
  | 'host_denied_by_rule'
  | 'request_denied_by_rule'
  | 'port_not_allowed'
  | 'method_not_allowed'
  | 'path_not_allowed'
  | 'plain_http_not_allowed'
  | 'websocket_not_allowed'
  | 'address_not_allowed'
  | 'host_mismatch'
  | 'placeholder_exfiltration'
  | 'bad_request';
