// Checks run on a candidate secret after its pattern matched: checksums, entropy and structure.
// Each returns false to drop a match. Pure, small, no I/O; they run on every candidate.
import { crc32 } from 'node:zlib';

export type Check = (secret: string) => boolean;

// Passes only when every check passes: rules combine a format check with a placeholder filter.
export const all =
  (...checks: Check[]): Check =>
  (s) =>
    checks.every((c) => c(s));

// Luhn mod-10: the check digit every payment card number carries; drops 90% of random digit runs.
export function luhn(digits: string): boolean {
  if (!/^[0-9]{2,32}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

// Card brands by leading digits and allowed lengths: a Luhn-valid run that no issuer uses is not a card.
const CARD_BRANDS: Array<[RegExp, number[]]> = [
  [/^4/, [16, 19]], // Visa (13-digit Visa is retired; 13 digits starting 4 are mostly EAN-13 barcodes)
  [/^(?:5[1-5]|2(?:22[1-9]|2[3-9][0-9]|[3-6][0-9]{2}|7[01][0-9]|720))/, [16]], // Mastercard
  [/^3[47]/, [15]], // American Express
  [/^(?:6011|65|64[4-9]|622)/, [16, 17, 18, 19]], // Discover / UnionPay co-branded
  [/^35(?:2[89]|[3-8][0-9])/, [16, 17, 18, 19]], // JCB
  [/^3(?:0[0-5]|[689])/, [14, 15, 16, 17, 18, 19]], // Diners Club
];

// Processors' published test numbers (Stripe, Braintree, Adyen docs): in code and tests everywhere, never real cards.
const TEST_CARDS = new Set([
  '4242424242424242', '4111111111111111', '4000056655665556', '4012888888881881', '5555555555554444',
  '5105105105105100', '2223003122003222', '378282246310005', '371449635398431', '6011111111111117',
  '6011000990139424', '3530111333300000', '3566002020360505', '30569309025904', '36227206271667',
]);

// A card number as written: digits with either no separators or one kind of separator between the
// usual groups (4-4-4-4[-3], 4-6-5 for Amex, 4-6-4 for Diners); brand prefix, length and Luhn.
export function paymentCard(text: string): boolean {
  const groups = text.split(/[ -]/);
  if (groups.length > 1) {
    const seps = text.replace(/[0-9]/g, '');
    if (new Set(seps).size !== 1) return false;
    const lens = groups.map((g) => g.length).join('-');
    const regular = groups.slice(0, -1).every((g) => g.length === 4) && groups.at(-1)!.length >= 1 && groups.at(-1)!.length <= 4;
    if (!regular && lens !== '4-6-5' && lens !== '4-6-4') return false;
  }
  const digits = groups.join('');
  const brand = CARD_BRANDS.find(([re]) => re.test(digits));
  if (!brand || !brand[1].includes(digits.length)) return false;
  if (/^([0-9])\1+$/.test(digits.slice(1)) || /0{7}/.test(digits)) return false; // fillers, 4000 0000 0000 0002-style test cards
  return luhn(digits) && !TEST_CARDS.has(digits);
}

// IBAN lengths per country (ISO 13616 registry); an unknown country code is not an IBAN.
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27,
  MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24,
  SE: 24, SI: 19, SK: 24, SM: 27, TN: 24, TR: 26, UA: 29, VG: 24, XK: 20,
};

// IBAN check digits (ISO 7064 mod 97-10) plus the country's fixed length: 1 in 97 random strings pass the sum alone.
export function ibanMod97(text: string): boolean {
  const iban = text.replace(/ /g, '').toUpperCase();
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== iban.length) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    rem = v > 9 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

// SSNs the SSA never issues or that were published in ads/docs (Woolworth wallet card, etc.).
const FAMOUS_SSNS = new Set(['078-05-1120', '219-09-9999', '457-55-5462', '123-45-6789', '111-11-1111']);

// US SSN issuance rules: area not 000/666/900-999, group not 00, serial not 0000, not a famous fake.
export function usSsn(ssn: string): boolean {
  const m = /^([0-9]{3})-([0-9]{2})-([0-9]{4})$/.exec(ssn);
  if (!m) return false;
  const area = Number(m[1]);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (m[2] === '00' || m[3] === '0000') return false;
  if (/^(\d)\1\1-(\d)\2-(\d)\3\3\3$/.test(ssn)) return false; // 111-22-3333-style examples
  return !FAMOUS_SSNS.has(ssn);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// CRC32 of a token's random part as 6 base62 digits: the checksum GitHub and npm append to their tokens.
export function base62Crc32(random: string): string {
  let n = crc32(random) >>> 0;
  let out = '';
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(6, '0');
}

// GitHub `ghp_/gho_/ghu_/ghs_/ghr_` and npm `npm_` tokens: prefix, 30 random chars, 6-char CRC32; a typo or a made-up token fails.
export function githubChecksum(token: string): boolean {
  const m = /^[a-z]{3}_([A-Za-z0-9]{30})([A-Za-z0-9]{6})$/.exec(token);
  return m !== null && base62Crc32(m[1]) === m[2];
}

// Shannon entropy in bits per character: random keys score high, words and repeated filler low.
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

// An entropy floor. Hex strings top out at 4 bits/char (random 32-hex keys score ~3.5-3.8), so for
// them the floor is capped at 3.
export const minEntropy =
  (bits: number): Check =>
  (s) =>
    shannonEntropy(s) >= (/^[0-9a-fA-F]+$/.test(s) ? Math.min(bits, 3) : bits);

// Words that mark a documentation value, not a secret; checked case-insensitively as substrings.
const FAKE_WORDS = new RegExp(
  [
    'example', 'sample', 'dummy', 'placeholder', 'changeme', 'change_me', 'change-me', 'redacted', 'fake', 'xxxx', '\\*\\*\\*', '\\.\\.\\.',
    '12345678', 'abcdefgh', '00000000', 'insert', 'replace', 'your[_-]?', 'my[_-]?(?:key|token|secret|pass)', 'lorem', 'foobar',
    '(?:^|[^a-z])test', '(?:^|[^a-z0-9])(?:todo|tbd|fixme|xxx)(?:[^a-z0-9]|$)', 'not[_-]?(?:a[_-]?)?real', 'goes[_-]?here', '[_-]here$', 'here[_-]',
    '^(?:enter|paste|put|generate|set)[_-]',
  ].join('|'),
  'i',
);
// A value made of lower-case words that names the kind of value it stands for (`wrong-password`,
// `super-secret-key`, `ci_deploy_token`): a test value or a placeholder. A passphrase of other
// words (`ripple-anvil-cactus-moss`) is not this.
const SAYS_WHAT_IT_IS = /^(?=[a-z]+(?:[-_.][a-z]+)+$)(?:.*[-_.])?(?:password|passwd|pass|pwd|secret|token|key|apikey|credentials?)(?:[-_.].*)?$/;

// Values that are exactly a common word (a field's name repeated as its value, defaults).
const FAKE_VALUES = new Set([
  'password', 'passwd', 'pass', 'secret', 'token', 'apikey', 'api_key', 'key', 'null', 'nil', 'none',
  'undefined', 'true', 'false', 'admin', 'root', 'user', 'guest', 'default', 'empty', 'string', 'value',
  'qwerty', 'letmein', 'hunter2', 'welcome', 'postgres', 'mysql', 'redis', 'rabbitmq', 'mongo', 'private',
  'anonymous', 'nobody', 'anything', 'xyz', 'abc', 'foo', 'bar', 'baz', '123', '1234', '12345', '123456', 'pw', 'pwd',
  'pa$$word', 'p@ssw0rd', 'p@ssword', 'passw0rd', 'password1', 'password123', 'secret123', 'admin123',
  'boolean', 'number', 'any', 'unknown', 'object', 'bytes', 'str', 'int', // type names: `password: string`
]);

// Credentials printed in RFCs and API docs (OAuth 2.0 RFC 6749, HTTP Basic RFC 7617, Kubernetes), copied into many codebases.
const DOC_VALUES = new Set([
  '2YotnFZFEjr1zCsicMWpAA', 'tGzv3JOkF0XG5Qx2TlKWIA', 'SplxlOBeZQQYbYS6WxSbIA', 'mF_9.B5f-4.1JqM', 'gX1fBat3bV',
  'open sesame', 'Aladdin:open sesame', 's6BhdRkqt3:gX1fBat3bV',
  '1f2d1e2e67df', // the Kubernetes Secret documentation's password (MWYyZDFlMmU2N2Rm)
  'geheim$parole', // Python's urllib documentation
  'correct-horse-battery-staple', 'correcthorsebatterystaple', 'CorrectHorseBatteryStaple', // xkcd 936
]);

// A `$` value that is a variable or expression, not a literal: `$DB_PASSWORD`, `$dbPassword`,
// `$password`, `$this->pw`, `$env:TOKEN`, `$config['key']`. A password that merely starts with `$`
// (`$ecr3t!Pw`, `$Tr0ngP4ss`) is none of these, so it is still a value.
export function variableReference(v: string): boolean {
  if (/^\$(?:[A-Z][A-Z0-9_]*|[a-z_][a-z0-9_]*|[a-z]+(?:[A-Z][a-z0-9]*)+)$/.test(v)) return true;
  return /^\$[A-Za-z_][A-Za-z0-9_]*(?:->|::|[[.:{])/.test(v);
}

// Template syntax of shells, CI systems, build tools and format strings: `${VAR}`, `{{ x }}`, `<your key>`,
// `$(cmd)`, `%VAR%`, `%(name)s`, `@VAR@`, `__VAR__`, `[value]`, and YAML tags (`!vault`, `!secret`, `!Ref`).
const TEMPLATE = /[<>{}]|\$\(|%\(|^%[A-Za-z_]+%$|^@[A-Za-z_]+@$|^__[A-Z0-9_]+__$|^\[.*\]$|^!{1,2}[A-Za-z][A-Za-z:._-]*$/;

function placeholderFree(value: string, longRun: RegExp): boolean {
  const v = value.trim();
  if (v.length === 0 || DOC_VALUES.has(v)) return false;
  if (TEMPLATE.test(v) || variableReference(v)) return false;
  if (FAKE_VALUES.has(v.toLowerCase())) return false;
  if (FAKE_WORDS.test(v)) return false;
  if (SAYS_WHAT_IT_IS.test(v)) return false;
  return !longRun.test(v);
}

// Runs a check on what follows a token's fixed prefix: `sk_test_…` is a real test-mode key, and its
// `test` is part of the format, not the word that marks a documentation value.
export const afterPrefix =
  (prefix: RegExp, check: Check): Check =>
  (s) =>
    check(s.replace(prefix, ''));

// Rejects templated or documentation values: ${VAR}, {{ var }}, <your-key>, %VAR%, $VAR, xxxx, ****, changeme, test…
export const notPlaceholder: Check = (value) => placeholderFree(value, /(.)\1{4}/); // aaaaa, 00000

// For fixed-format tokens: not documentation filler and not low-entropy. Checks the whole token; a run
// of up to 7 equal characters is allowed (Vault's hvb.AAAAAQ…, OpenSSH's AAAAAAAAAAAB).
export const randomToken =
  (bits = 3): Check =>
  (s) =>
    placeholderFree(s, /(.)\1{7}/) && minEntropy(bits)(s);

// snake_case, camelCase, PascalCase words and CONSTANT_CASE: a variable or type name on the right of `=`.
const IDENTIFIER = /^(?:[a-z]{2,}(?:_[a-z0-9]{2,})+|[a-z]{2,}(?:[A-Z][a-z]{2,}[0-9]?)+|[A-Z][a-z]{2,}(?:[A-Z][a-z]{2,})*|[A-Z]{2,}(?:_[A-Z0-9]{2,})+)$/;

// Not a variable or type name: for keyed rules whose random value may lack digits (24 random letters happen).
export const notIdentifier: Check = (s) => !IDENTIFIER.test(s);

// A value taken from a URL query runs on to the end of the URL (the value classes allow `&`, which
// quoted secrets contain): it is judged up to the next `&name=` parameter. The finding still covers
// all of it, which only redacts more.
const firstParam = (s: string) => s.split(/&(?=[A-Za-z_][\w.-]{0,40}=)/)[0];

// A free-form value (password, secret) that is neither a placeholder nor a variable or a code path.
export const realValue =
  (bits: number): Check =>
  (value) => {
    const s = firstParam(value);
    return (
    notPlaceholder(s) &&
    minEntropy(bits)(s) &&
    !/^[A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$][\w$]*)+(?:$|[^\w$])/.test(s) && // config.db.password, result?.pass, this.opts.get(…)
    !/^(?:process\.env|os\.|env\.|ENV\[|System\.getenv|getenv)/.test(s) &&
    !/[A-Za-z_]\(|^[A-Za-z_][A-Za-z0-9_.]*\[/.test(s) && // get_password(), cfg["db"]
    !/^[A-Za-z_$][\w$.]*(?:<[^>]*>)?(?:\[\])?[,;]$/.test(s) && // `password: BinaryLike,` `token: string;` (type annotations)
    !/^[a-z_]+(?::[\w,.]*)?(?:\|[a-z_]+(?::[\w,.]*)?)+$/.test(s) && // 'required|string|min:8' (validation rules)
    !IDENTIFIER.test(s) && // `getpass = unix_getpass`, `password = defaultPassword`, `= DB_PASSWORD`
    !/^[([]/.test(s) && // an expression: (a + b), [x, y]
    !/^(?:\/|\.{1,2}\/|~\/|[A-Za-z]:\\)|:\/\//.test(s) // a file path or a URL, not the secret itself
    );
  };

// A password hash in modular crypt format (`$2b$12$…`, `$argon2id$v=19$…`, `$5$rounds=…$…`) or
// Django's (`pbkdf2_sha256$600000$salt$hash`): a hash of a password, not the password.
const PASSWORD_HASH = /^\$[a-z0-9-]{1,20}\$|^[a-z0-9_]{2,24}\$[^$\s]{1,80}\$[A-Za-z0-9+/.=$]{16,}$/;

// A password value: real (see realValue) and either mixing character classes or long: `Summer24!`, not `Passwort`.
export const passwordLike: Check = (value) => {
  if (!realValue(2.5)(value) || PASSWORD_HASH.test(value)) return false;
  const s = firstParam(value);
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(s)).length;
  if (classes >= 2 && /[^A-Za-z]/.test(s)) return true;
  return s.length >= 12 && shannonEntropy(s) >= 3.3;
};

// A token made of letters only, or digits only, is a word or a number, not a random key.
export const mixedChars: Check = (s) => /[0-9]/.test(s) && /[A-Za-z]/.test(s);

// AWS's documentation keys (AKIAIOSFODNN7EXAMPLE and its secret) appear in countless READMEs.
export const notAwsExample: Check = (s) => !/EXAMPLE/.test(s) && s !== 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function decodeBase64(s: string): Buffer | undefined {
  const clean = s.replace(/\\[rn]|\s/g, '');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(clean)) return undefined;
  return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
}

function jsonObject(b64url: string): Record<string, unknown> | undefined {
  const raw = decodeBase64(b64url);
  if (!raw) return undefined;
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// JWT: header and payload are base64url JSON objects, the header names a signing "alg" (not "none").
export function jwtStructure(token: string): boolean {
  const [h, p, sig] = token.split('.');
  const header = jsonObject(h ?? '');
  if (!header || typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') return false;
  return jsonObject(p ?? '') !== undefined && (sig ?? '').length >= 16;
}

// HTTP Basic credentials: base64 of printable `user:password` with a real password after the colon.
export function basicAuth(b64: string): boolean {
  const raw = decodeBase64(b64);
  if (!raw || raw.length < 3) return false;
  const text = raw.toString('latin1');
  if (!/^[\x20-\x7e]+$/.test(text)) return false;
  const colon = text.indexOf(':');
  if (colon < 1 || colon === text.length - 1) return false;
  return notPlaceholder(text.slice(colon + 1));
}

// Discord bot token: its first segment is the bot's numeric user id (a snowflake) in base64.
export function discordBotToken(token: string): boolean {
  const id = decodeBase64(token.split('.')[0] ?? '');
  return id !== undefined && /^[0-9]{17,20}$/.test(id.toString('latin1')) && shannonEntropy(token) >= 4;
}

// A PEM/PGP/PuTTY block's payload: enough base64 with the entropy of key material, not `MIIE...` filler.
export function keyBlock(block: string): boolean {
  const payload = block
    .replace(/-----(?:BEGIN|END)[^-]{1,60}-----/g, '')
    .replace(/^[A-Za-z-]{2,30}:[^\n\\]{0,200}/gm, '')
    .replace(/\\[rn]|[\s\\]/g, '');
  // Judged on the block's first 200 base64 characters: a block cut off before its END line runs on
  // into whatever text follows, and that text must not decide whether the key is a key.
  const b64 = payload.replace(/[^A-Za-z0-9+/]/g, '').slice(0, 200);
  return b64.length >= 40 && shannonEntropy(b64) >= 4.5 && !/EXAMPLE|REDACTED/.test(b64);
}

// Email addresses, minus the look-alikes: image@2x.png asset names and git@host SSH remotes.
export function emailAddress(addr: string): boolean {
  const at = addr.lastIndexOf('@');
  const local = addr.slice(0, at);
  const domain = addr.slice(at + 1).toLowerCase();
  if (local === 'git') return false;
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  return !/^(?:png|jpe?g|gif|svg|webp|avif|ico|bmp|js|mjs|cjs|ts|tsx|jsx|css|scss|json|map|html?|md|txt|woff2?|ttf|otf|mp[34]|wasm|lock|ya?ml|toml|tgz|zip)$/.test(tld);
}

// International phone number: 8 to 15 digits after the `+` (E.164), grouped like a phone number, not a run of one digit.
export function phoneNumber(text: string): boolean {
  if (/^\+[0-9]+\.[0-9]+$/.test(text)) return false; // a signed decimal: +35236450.6
  const digits = text.replace(/[^0-9]/g, '');
  if (digits.length < 8 || digits.length > 15) return false;
  if (/^([0-9])\1+$/.test(digits.slice(1))) return false;
  return true;
}

// Password in a URL: percent-decoded, not a placeholder (`${DB_PASSWORD}`, `password`, `changeme`).
export function urlPassword(pw: string): boolean {
  let v = pw;
  try {
    v = decodeURIComponent(pw);
  } catch {
    // keep the raw text: an invalid escape is still a value
  }
  return v.length >= 3 && notPlaceholder(v) && !/^\*+$/.test(v);
}

// A Kubernetes Secret's data block holds at least one real value: a `data:` entry that decodes from
// base64 to text that is not a placeholder (or to binary key material), or a `stringData:` entry
// that is not a placeholder. Templated (`{{ … | b64enc }}`) and documentation values are not.
export function kubernetesSecretData(text: string): boolean {
  const header = /(?:^|\n)[ \t]*(string)?[Dd]ata:[ \t]*\r?\n/.exec(text);
  if (!header) return false;
  for (const line of text.slice(header.index + header[0].length).split(/\r?\n/)) {
    const entry = /^[ \t]+[A-Za-z0-9_.-]+:[ \t]+(.+?)[ \t]*$/.exec(line);
    if (!entry) break;
    const value = entry[1].replace(/^(["'])(.*)\1$/, '$2');
    if (header[1] !== undefined) {
      if (value.length >= 6 && notPlaceholder(value) && minEntropy(2.5)(value)) return true;
      continue;
    }
    if (!/^[A-Za-z0-9+/]{4,}={0,2}$/.test(value)) continue;
    const raw = Buffer.from(value, 'base64');
    const text = raw.toString('utf8');
    if (!/^[\x20-\x7e\t\r\n]*$/.test(text)) {
      if (raw.length >= 16) return true; // binary: a key or certificate
    } else if (text.length >= 4 && notPlaceholder(text)) return true;
  }
  return false;
}
