// Pattern pieces shared by the rule files. Patterns are written with String.raw so a backslash in
// the source is a backslash in the RE2 pattern. Every repeat is bounded (the scanner keeps a
// 16 KiB window) and RE2 refuses nested repeats whose product exceeds 1000.

export const re = String.raw;

/** A quote, possibly JSON-escaped (`\"`): code and config pasted inside a JSON string body. */
export const Q = re`(?:\\?["'\x60])`;

/** Between a key and its value in env files, YAML, JSON, INI and code: `=`, `:`, `:=`, `=>`, quotes. */
export const SEP = re`${Q}?[ \t]{0,4}(?::=|=>|[:=])[ \t]{0,4}${Q}?`;

/** After a token made of `[A-Za-z0-9_-]`: the token does not continue. */
export const END = re`(?:[^A-Za-z0-9_-]|$)`;

/** After a base64 value: the value does not continue. */
export const END64 = re`(?:[^A-Za-z0-9+/=]|$)`;

/**
 * `KEY…: value` / `KEY=value` / `"key": "value"`: a value with no fixed prefix, found next to a key
 * name (`key` is matched case-insensitively; up to 24 name characters may follow it, as in
 * `COHERE_API_KEY`). Group 1 is the value.
 */
export function assigned(key: string, value: string, end = END): string {
  return re`(?i:${key})[A-Za-z0-9_.-]{0,24}${SEP}(${value})${end}`;
}

/**
 * Free-form assignments (passwords, secrets): either a quoted value after `codeKey` (JSON, YAML,
 * code) or an unquoted value that fills the rest of an env/INI/YAML line after `lineKey`. A bare
 * identifier in code (`password = cfg.password`) is neither, so it is not a finding.
 */
export function assignment(codeKey: string, lineKey: string, value: string): string {
  const quoted = re`(?i:${codeKey})${Q}?\]?[ \t]{0,4}(?::=|=>|[:=])[ \t]{0,4}${Q}`;
  const line = re`(?:^|[\r\n]|\\n)[ \t]{0,12}(?:export[ \t]{1,4})?(?i:${lineKey})[ \t]{0,4}[:=][ \t]{0,4}`;
  return re`(?:${quoted}|${line})(${value})(?:["'\x60]|\\["'rn]|[ \t]{0,8}(?:[\r\n#]|$))`;
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
