// Pattern pieces shared by the rule files. Patterns are written with String.raw so a backslash in
// the source is a backslash in the RE2 pattern. Every repeat is bounded (the scanner keeps a
// 16 KiB window) and RE2 refuses nested repeats whose product exceeds 1000.

export const re = String.raw;

/** A quote, possibly JSON-escaped (`\"`): code and config pasted inside a JSON string body. */
export const Q = re`(?:\\?["'\x60])`;

/** A type annotation between a name and `=`: `: String` (Kotlin, TS, Swift), `: &str` (Rust). */
const TYPE = re`(?::[ \t]{0,4}&?[A-Za-z_][A-Za-z0-9_.<>?\[\]]{0,40}[ \t]{0,4})?`;

/** An assignment operator (`=`, `:`, Go's `:=`, PHP/Ruby `=>`, JS `??=` / `||=`), or a comparison with a literal (`== "…"`: a hard-coded credential check). */
const OP = re`(?::=|=>|\?\?=|\|\|=|!?={1,3}|:)`;

/** An opening quote: C# verbatim `@"` and Python `r"` / `b"` / `u"` strings too. */
const OPEN = re`[@rRbBuU]?${Q}`;

/**
 * Between a key and its value in env files, YAML, JSON, INI and code: `=`, `:`, `:=`, `=>`, quotes,
 * a subscript's `"]` (`os.environ["KEY"] = …`), a type (`val key: String = …`), or the key and the
 * value as the two string arguments of a call (`os.Setenv("KEY", "…")`, `put("key", "…")`), or the
 * value as a call's first argument (`Lob("…")`, `require('messagebird')('…')`).
 */
export const SEP = re`(?:${Q}?\]?[ \t]{0,4}${TYPE}${OP}[ \t]{0,4}(?:${OPEN})?|${Q}[ \t]{0,4},[ \t]{0,4}${Q}|${Q}?\)?\([ \t]{0,4}${Q})`;

/** After a token made of `[A-Za-z0-9_-]`: the token does not continue. */
export const END = re`(?:[^A-Za-z0-9_-]|$)`;

/** After a base64 value: the value does not continue. */
export const END64 = re`(?:[^A-Za-z0-9+/=]|$)`;

/**
 * `KEY…: value` / `KEY=value` / `"key": "value"`: a value with no fixed prefix, found next to a key
 * name (`key` is matched case-insensitively; `nameTail`, by default up to 24 name characters, may
 * follow it, as in `COHERE_API_KEY`). Group 1 is the value.
 */
export function assigned(key: string, value: string, end = END, nameTail = '[A-Za-z0-9_.-]{0,24}'): string {
  return re`(?i:${key})${nameTail}${SEP}(${value})${end}`;
}

/** Where a free-form value ends: its closing quote, `<` of a closing tag, a space, line end or comment, the next URL or connection-string parameter. */
const VALUE_END = re`(?:${Q}|<|[ \t\r\n#&;]|\\[rn]|$)`;

// After the key in a quoted / XML attribute / C# property / env-list form: what leads to the value.
const AFTER_KEY = [
  re`${Q}?\]?[ \t]{0,4}${TYPE}${OP}[ \t]{0,4}${OPEN}`, // = "…", : '…', := "…", => '…', "] = "…"
  re`${Q}[ \t]{1,4}value=${Q}`, // <add key="ApiKey" value="…"/>
  re`[ \t]{1,4}\{[ \t]{0,4}get;[^}\r\n]{0,40}\}[ \t]{0,4}=[ \t]{0,4}${OPEN}`, // C#: ApiKey { get; set; } = "…"
  re`${Q}?[ \t]{0,4}(?:\r?\n|\\n)[ \t]{0,20}value:[ \t]{0,4}${Q}?`, // - name: API_KEY \n value: …
];

/**
 * A secret written as code and configuration write it: a value next to a key name that marks a
 * secret, in any of these forms. Group 1 is the value.
 * - quoted, anywhere: `apiToken = "…"`, `"client_secret": "…"`, `api_key: '…'`, `os.environ["X"] = "…"`,
 *   `apiKey := "…"` (Go), `String apiKey = "…";` (Java, C#, `@"…"`), `val apiKey: String = "…"` (Kotlin),
 *   `'password' => '…'` (PHP), `setenv("X", "…")`, `secret = "…"` (TOML, HCL), `password == "…"`
 * - an HTTP header in a quoted argument: `-H 'X-Api-Key: …'`
 * - XML: `<password>…</password>`, `<add key="ApiKey" value="…"/>`, `<property name="password" value="…"/>`
 * - Kubernetes / Compose env lists: `- name: API_KEY` then `value: …` on the next line
 * - a whole line, unquoted: `.env` (`export X=…`), YAML, INI, properties (`db.password=…`), Dockerfile `ENV X=…`
 * - a URL query or connection-string parameter: `?api_key=…&`, `;Password=…;`
 * - a command-line flag: `--password=…`, `--api-key …`
 * `key` is the word that marks the secret (`(?:api|access)[_.-]?key`), matched case-insensitively
 * and found anywhere in a name (`X_API_KEY`); `lineKey` is the whole name as it starts an unquoted
 * line (`[A-Za-z0-9_.-]{0,30}` + `key`); `delimitedKey`, by default `key`, is what the forms that
 * start at a delimiter (header, parameter, flag, call, element) accept after the name. Only the line form spells out the name before the word:
 * a bounded run of name characters before a word, at every position of the text, is what makes
 * RE2's DFA grow past its budget (measured: 50 → 2 MB/s on source code), so the forms found
 * anywhere start at the word; those that start at a quote, `?`, `&`, `;` or ` --` spell the name out. A bare identifier in code (`password = cfg.password`) is none of these forms.
 */
export function codeAssignment(key: string, lineKey: string, value: string, delimitedKey = key): string {
  const k = re`(?i:${key})`;
  const d = re`(?i:${delimitedKey})`;
  const afterKey = AFTER_KEY.join('|');
  const line = re`(?:^|[\r\n]|\\n)[ \t]{0,12}(?:(?:export|set|setx|ENV|ARG|-)[ \t]{1,4})?(?i:${lineKey})[ \t]{0,4}[:=][ \t]{0,4}`;
  // These start at a delimiter, so they may spell out the name before the word.
  const header = re`${Q}[A-Za-z0-9-]{0,30}${d}[ \t]{0,4}:[ \t]{0,4}`; // 'X-Api-Key: …' (closed by the quote)
  const param = re`[?&;][A-Za-z0-9_.-]{0,30}${d}=`;
  const flag = re`[ \t]--[A-Za-z0-9-]{0,30}${d}(?:=|[ \t]{1,4})${Q}?`;
  // A call's two string arguments: setenv("KEY", "…"), put("password", "…"); not a tuple of strings.
  const call = re`[A-Za-z0-9_]\(${Q}[A-Za-z0-9_.-]{0,30}${d}${Q}[ \t]{0,4},[ \t]{0,4}${Q}`;
  // An element's text: <password>…</password>; not a placeholder in a URL (user:<password>@host).
  const element = re`(?:^|[\s>])<[A-Za-z0-9_.:-]{0,30}${d}>`;
  return re`(?:${k}(?:${afterKey})|${line}|${header}|${param}|${flag}|${call}|${element})(${value})${VALUE_END}`;
}

/**
 * For the native scanner (policies/dlp/prefilters.ts): a pattern found inside every
 * codeAssignment match, starting at the end of the key (`keyEnd`: a superset of the rule's key
 * words, without `\b` or case-sensitive parts). The short forms run on to the value's first `n`
 * characters of `valueClass`; the forms with long bounded gaps (a type annotation, an XML
 * attribute, a C# property, an env list) stop where that gap starts: Hyperscan slows down on long
 * bounded repeats (bench corpus, CPU time on a shared machine: 237-241 MB/s with them spelled
 * out, 247-266 without). A flag's key is followed by a space, so that form keeps its `--`.
 */
export function codeAssignmentPrefilter(keyEnd: string, valueClass: string, n: number): string {
  const toValue = [
    re`${Q}?\]?[ \t]{0,4}${OP}[ \t]{0,4}(?:${OPEN})?`, // = "…", : '…', := "…", line, header, parameter, flag with `=`
    re`${Q}[ \t]{0,4},[ \t]{0,4}${Q}`, // call
    '>', // element
  ].join('|');
  const stops = [
    re`${Q}?\]?[ \t]{0,4}:[ \t]{0,4}&?[A-Za-z_]`, // a type: val apiKey: String = "…"
    re`${Q}[ \t]{1,4}value=${Q}`, // <add key="ApiKey" value="…"/>
    re`[ \t]{1,4}\{[ \t]{0,4}get;`, // ApiKey { get; set; } = "…"
    re`${Q}?[ \t]{0,4}(?:\r?\n|\\n)[ \t]{0,20}value:`, // - name: API_KEY \n value: …
  ].join('|');
  return re`(?i)(?:(?:${keyEnd})(?:(?:${toValue})${valueClass}{${n}}|${stops})|--[A-Za-z0-9_.-]{0,32}(?:${keyEnd})[ \t]{1,4}${Q}?${valueClass}{${n}})`;
}

/** One character of a PEM body: base64, line breaks, or a JSON-escaped line break (`\n`). */
const B64 = re`[A-Za-z0-9+/=\t\r\n \\]`;

/**
 * An armored block: `-----BEGIN <label>-----`, its headers and the first base64 that follows.
 * The scanner extends a finding that starts with a BEGIN line to its END line (proxy/dlp/engine.ts),
 * so redaction removes the whole block; the pattern stays small (spelling out a 4,000-character
 * body costs RE2 megabytes per rule). The body has no `-`, so it stops at the END line.
 */
export function armored(label: string, header = ''): string {
  return re`-----BEGIN ${label}-----${header}${B64}{40,1000}`;
}

/** Armor header lines (`Proc-Type: …`, `Version: …`, `Comment: …`) before a block's body. */
export const armorHeaders = (max: number) => re`(?:(?:\s|\\[rn]){1,4}[A-Za-z][A-Za-z-]{0,29}: ?[^\r\n\\]{0,120}){0,${max}}`;
