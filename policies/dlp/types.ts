// The shape of a DLP rule: built-in ones live in policies/dlp/rules/, custom ones come from the
// policy file (validated at load). Patterns are RE2 syntax and run on bytes (Buffers), never on
// JS RegExp, so no rule can stall the proxy.

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type DlpAction = 'block' | 'redact' | 'log';

export interface DlpRule {
  /** Stable kebab-case id, e.g. `aws-access-key-id`; shown in 403s, findings, `airlock dlp rules`. */
  id: string;
  /** Plain words for auditors: what the rule finds. */
  description: string;
  /** Who issues the credential (`GitHub`, `Stripe`), or what kind of data it is (`generic`, `PII`). */
  service: string;
  /**
   * Where the format is documented (prefix, length, alphabet, checksum): the issuer's page when it
   * publishes one, else the public scanner rule the facts come from. Custom rules: `policy file`.
   */
  source: string;
  /**
   * RE2 pattern (no lookaround, no backreferences). If it has a capture group, the first group
   * (of the first four) that took part in the match is the secret (what is masked, validated and
   * redacted): alternatives that need different context around the secret each capture it once.
   * Without a group the whole match is.
   * Case-insensitivity is written inline: `(?i)`.
   */
  pattern: string;
  /**
   * Lower-case literals; the rule runs only on text containing at least one of them
   * (case-insensitively). Empty: the rule always runs (card numbers, SSNs: no fixed literal).
   */
  keywords: string[];
  /**
   * For the native scanner only (Hyperscan syntax): a pattern that matches within every match of
   * `pattern`, far rarer in ordinary text than the keywords. The scanner then verifies the rule
   * within its longest match of each prefilter hit instead of each keyword. For rules whose
   * keywords are common words in code ('+', '@', 'token', 'pass').
   */
  prefilter?: string;
  /** Checksum / entropy / structure check on the secret; a false return drops the match. */
  validate?: (secret: string) => boolean;
  severity: Severity;
  /** Default action; the policy may override it per rule and per host. */
  action: DlpAction;
  /** Run as tests: every `match` string must produce a finding of this rule, no `nomatch` one may. */
  examples: { match: string[]; nomatch: string[] };
}

/** A rule's effective action for one request: its default, a policy override, or an exception. */
export type RuleAction = DlpAction | 'off';
