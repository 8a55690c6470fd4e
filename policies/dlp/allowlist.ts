// Public example values: credentials that issuers and standards print in their documentation for
// everyone to copy (AWS's AKIAIOSFODNN7EXAMPLE, the jwt.io token, Firebase's config snippet, the
// Azurite emulator key...). They are not secrets, and flagging them stops docs and tutorials from
// passing through. Every built-in rule checks its candidate secret against this list after its
// pattern matched (index.ts), before its own validate: by exact value or by a strict pattern on the
// whole candidate, never by a loose substring, so a real secret cannot hide behind one.

export interface PublicExample {
  /** What the value is and where it is published. */
  what: string;
  is: (candidate: string) => boolean;
}

/** Exact values, each with where it is published. */
const EXACT: Record<string, string> = {
  AKIAIOSFODNN7EXAMPLE: 'AWS documentation: example access key ID',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY': 'AWS documentation: example secret access key',
  AKIAI44QH8DHBEXAMPLE: 'AWS documentation: second example access key ID',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY': 'AWS documentation: second example secret access key',
  'AIzaSyDOCAbC123dEf456GhI789jKl01-MnO': 'Firebase documentation: the apiKey of the web app config snippet',
  'AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe': 'Google Cloud documentation: the API key in "Using API keys"',
  AIzaSyB41DRUbKWJHPxaFjMAwdrzWzbVKartNGg: 'Google Maps Platform: the key in the published JavaScript API samples',
  sk_test_4eC39HqLyjWDarjtT1zdp7dc: 'Stripe documentation: the test-mode secret key of every code sample',
  sk_test_BQokikJOvBiI2HlWgH4olfQ2: 'Stripe documentation (older samples): test-mode secret key',
  'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy': 'Slack documentation: the bot token in the oauth.v2.access example response',
  'key-3ax6xnjp29jd6fds4gc373sgvjxteol0': 'Mailgun documentation: the API key of the samples.mailgun.org examples',
  JBSWY3DPEHPK3PXP: 'Google Authenticator key-URI documentation: the example TOTP secret (base32 of "Hello!")',
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==':
    'Azure Storage emulator (Azurite): the well-known devstoreaccount1 account key',
};

function jsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The jwt.io example token, whatever its algorithm and signature: its payload is exactly the demo
 * claims (`sub` 1234567890, `name` John Doe, optionally `iat` 1516239022 and `admin`).
 */
function jwtIoExample(candidate: string): boolean {
  const parts = candidate.split('.');
  if (parts.length !== 3 || !parts[0].startsWith('eyJ')) return false;
  const claims = jsonPart(parts[1]);
  if (!claims || claims.sub !== '1234567890' || claims.name !== 'John Doe') return false;
  return Object.keys(claims).every((k) => k === 'sub' || k === 'name' || k === 'admin' || (k === 'iat' && claims.iat === 1516239022));
}

// RFC 2606 reserves example.com/.net/.org (and their subdomains) and the .example, .test,
// .invalid and .localhost top-level domains for documentation and tests: no one receives mail there.
const RESERVED_DOMAIN = /^[^@\s]{1,64}@(?:[a-z0-9-]{1,63}\.){0,6}(?:example\.(?:com|net|org)|[a-z0-9-]{1,63}\.(?:example|test|invalid|localhost))$/i;

// A constant's name where the value goes (`Bearer YOUR_ACCESS_TOKEN`, `api_key=MY_API_KEY_123`):
// upper-case words joined by `_`, one of them naming the kind of value. No issuer's token looks so.
const PLACEHOLDER_NAME = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+){1,8}$/;
const VALUE_WORD = /(?:^|_)(?:TOKEN|KEY|SECRET|PASSWORD|PASS|PWD|API|ACCESS|AUTH|BEARER|CREDENTIALS?|YOUR|MY|HERE|VALUE|PLACEHOLDER)(?:_|$)/;

export const PUBLIC_EXAMPLES: readonly PublicExample[] = [
  { what: 'a documented example value (exact match)', is: (c) => Object.hasOwn(EXACT, c) },
  { what: 'the jwt.io example token', is: jwtIoExample },
  { what: 'an address at a domain reserved for documentation (RFC 2606)', is: (c) => c.includes('@') && RESERVED_DOMAIN.test(c) },
  { what: "a constant's name in place of a value (YOUR_ACCESS_TOKEN)", is: (c) => PLACEHOLDER_NAME.test(c) && VALUE_WORD.test(c) },
];

/** The public example this candidate secret is, if it is one. */
export function publicExample(candidate: string): PublicExample | undefined {
  return PUBLIC_EXAMPLES.find((e) => e.is(candidate));
}

/** Where an exact public example value is published (for docs and tests). */
export const PUBLISHED: Readonly<Record<string, string>> = EXACT;
