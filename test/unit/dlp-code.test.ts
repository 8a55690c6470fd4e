// Secrets as code and configuration write them, in every language and format the generic rules
// read (policies/dlp/rules/generic.ts, shape.ts codeAssignment), through the whole pack with its
// keyword prefilter: each snippet's secret is found by the rule named, exactly, and the same
// snippet with the value taken from the environment, a template or a placeholder finds nothing.
// Also: the documented public example values of the allow-list (policies/dlp/allowlist.ts) pass.
import fc from 'fast-check';
import RE2 from 're2';
import { describe, expect, it } from 'vitest';
import { PUBLISHED, publicExample } from '../../policies/dlp/allowlist.ts';
import { BUILTIN_RULES } from '../../policies/dlp/index.ts';
import { cloudRules } from '../../policies/dlp/rules/cloud.ts';
import { chatRules } from '../../policies/dlp/rules/chat.ts';
import { GENERIC_PREFILTERS, genericRules } from '../../policies/dlp/rules/generic.ts';
import { paymentRules } from '../../policies/dlp/rules/payment.ts';
import { piiRules } from '../../policies/dlp/rules/pii.ts';
import { tokenRules } from '../../policies/dlp/rules/tokens.ts';
import type { DlpRule } from '../../policies/dlp/types.ts';
import { variableReference } from '../../policies/dlp/validators.ts';
import { compileEngine, findMatches } from '../../proxy/dlp/engine.ts';

const pack = compileEngine(BUILTIN_RULES);
function scan(text: string, engine = pack): { rule: string; action: string; secret: string }[] {
  const buf = Buffer.from(text);
  return findMatches(engine, buf, 0, () => true).map((m) => ({ rule: m.rule.rule.id, action: m.rule.rule.action, secret: buf.subarray(m.sStart, m.sEnd).toString() }));
}
const blocking = (text: string) => scan(text).filter((f) => f.action === 'block');

const PW = 'Vq7#rT2!mZ9p';
const KEY = 'Kx9Lq2Wm7Rt4Vp8Zn3Bc6Hd';
const TOKEN = 'Tz5Lq8Wm3Rx9Kp2Vn7Bc4HdJe';

// [language, snippet with the secret, the rule that must find it, the secret]
const SNIPPETS: [string, string, string, string][] = [
  ['Python assignment', `DB_PASSWORD = "${PW}"`, 'generic-password', PW],
  ['Python kwargs', `psycopg2.connect(host="db", user="etl", password='${PW}')`, 'generic-password', PW],
  ['Python os.environ', `os.environ["PAYMENTS_API_KEY"] = "${KEY}"`, 'generic-api-key', KEY],
  ['Python dict', `headers = {"x-api-key": "${KEY}"}`, 'generic-api-key', KEY],
  ['Python raw string', `SECRET_KEY = r"${KEY}"`, 'generic-secret', KEY],
  ['Go short declaration', `apiToken := "${TOKEN}"`, 'generic-token', TOKEN],
  ['Go struct literal', `cfg := Config{ClientSecret: "${KEY}", Region: "eu"}`, 'generic-secret', KEY],
  ['Go os.Setenv', `os.Setenv("GITHUB_TOKEN", "${TOKEN}")`, 'generic-token', TOKEN],
  ['Go raw string', `const dbPassword = \`${PW}\``, 'generic-password', PW],
  ['Java field', `private static final String API_KEY = "${KEY}";`, 'generic-api-key', KEY],
  ['Java setProperty', `props.setProperty("password", "${PW}");`, 'generic-password', PW],
  ['Kotlin typed val', `val clientSecret: String = "${KEY}"`, 'generic-secret', KEY],
  ['Kotlin const', `const val AUTH_TOKEN = "${TOKEN}"`, 'generic-token', TOKEN],
  ['C# verbatim string', `var connPassword = @"${PW}";`, 'generic-password', PW],
  ['C# property initializer', `public string ApiKey { get; set; } = "${KEY}";`, 'generic-api-key', KEY],
  ['C# appsettings.json', `{"Billing": {"ApiKey": "${KEY}"}}`, 'generic-api-key', KEY],
  ['JS object', `const client = new Client({ apiToken: '${TOKEN}' });`, 'generic-token', TOKEN],
  ['TS typed const', `const webhookSecret: string = "${KEY}";`, 'generic-secret', KEY],
  ['PHP array', `'password' => '${PW}',`, 'generic-password', PW],
  ['Ruby hash', `config.api_key = "${KEY}"`, 'generic-api-key', KEY],
  ['Rust const', `const API_KEY: &str = "${KEY}";`, 'generic-api-key', KEY],
  ['comparison in code', `if token == "${TOKEN}" {`, 'generic-token', TOKEN],
  ['shell export', `export SLACK_BOT_TOKEN="${TOKEN}"`, 'generic-token', TOKEN],
  ['.env', `STRIPE_WEBHOOK_SECRET=${KEY}\nPORT=3000`, 'generic-secret', KEY],
  ['.env after a JSON-escaped newline', `{"content": "NODE_ENV=production\\nSMTP_PASSWORD=${PW}\\n"}`, 'generic-password', PW],
  ['YAML', `smtp:\n  host: mail.internal\n  password: ${PW}\n`, 'generic-password', PW],
  ['YAML quoted', `api_key: '${KEY}'`, 'generic-api-key', KEY],
  ['TOML', `[api]\nclient_secret = "${KEY}"`, 'generic-secret', KEY],
  ['properties', `spring.datasource.password=${PW}`, 'generic-password', PW],
  ['INI', `[database]\npassword = ${PW}\n`, 'generic-password', PW],
  ['Dockerfile', `ENV ACME_TOKEN=${TOKEN}`, 'generic-token', TOKEN],
  ['Compose env list', `environment:\n  - DB_PASSWORD=${PW}\n`, 'generic-password', PW],
  ['Kubernetes env', `env:\n  - name: API_KEY\n    value: "${KEY}"\n`, 'generic-api-key', KEY],
  ['XML element', `<server><id>acme</id><password>${PW}</password></server>`, 'generic-password', PW],
  ['web.config appSettings', `<add key="ApiKey" value="${KEY}" />`, 'generic-api-key', KEY],
  ['Spring XML property', `<property name="password" value="${PW}"/>`, 'generic-password', PW],
  ['URL query', `GET /v1/forecast?city=Berlin&api_key=${KEY}&units=metric`, 'generic-api-key', KEY],
  ['curl header', `curl -H 'X-Api-Key: ${KEY}' https://api.acme.internal`, 'generic-api-key', KEY],
  ['CLI flag', `psql --username=etl --password=${PW} billing`, 'generic-password', PW],
  ['password starting with $', `password = "$${PW}"`, 'generic-password', `$${PW}`],
];

// [what, snippet]: code and config full of key names that hold no secret.
const NOT_SECRETS: [string, string][] = [
  ['environment lookup (Python)', 'DB_PASSWORD = os.environ["DB_PASSWORD"]'],
  ['environment lookup (Go)', 'apiToken := os.Getenv("API_TOKEN")'],
  ['environment lookup (Java)', 'private final String apiKey = System.getenv("API_KEY");'],
  ['environment lookup (C#)', 'var clientSecret = Environment.GetEnvironmentVariable("CLIENT_SECRET");'],
  ['environment lookup (JS)', 'const apiKey = process.env.API_KEY ?? "";'],
  ['shell variable', 'export API_TOKEN="$GITHUB_TOKEN"'],
  ['shell variable, lower case', 'password="$db_password"'],
  ['shell default', 'export DB_PASSWORD="${DB_PASSWORD:-}"'],
  ['command substitution', 'export NPM_TOKEN=$(cat ~/.npm-token)'],
  ['template', 'client_secret: "{{ .Values.oauth.clientSecret }}"'],
  ['GitHub Actions', 'token: ${{ secrets.GITHUB_TOKEN }}'],
  ['placeholder', 'api_key = "<your-api-key>"'],
  ['placeholder name', 'API_KEY=YOUR_API_KEY_HERE'],
  ['Bearer placeholder', 'curl -H "Authorization: Bearer ACCESS_TOKEN_GOES_HERE_123" https://api.acme.internal'],
  ['changeme', 'SECRET_KEY=changeme'],
  ['xxx', 'password: xxx-xxx-xxx'],
  ['repeated characters', 'api_key = "aaaaaaaaaaaaaaaaaaaaaaaa"'],
  ['Windows variable', '<add key="ClearTextPassword" value="%NUGET_PASSWORD%" />'],
  ['Maven property', '<password>${env.MAVEN_PASSWORD}</password>'],
  ['Spring placeholder', 'spring.datasource.password=${DB_PASSWORD}'],
  ['type annotation', 'password: string;'],
  ['Kotlin parameter', 'data class Login(val username: String, val password: String)'],
  ['function call', 'token = get_token(scope="read")'],
  ['identifier', 'clientSecret = settings.oauthClientSecret'],
  ['Kubernetes secretKeyRef', '- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef: {name: db, key: password}'],
  ['YAML tag', 'password: !secret wifi_password'],
  ['validation rules', "'password' => 'required|string|min:8|confirmed',"],
  ['value that names itself', 'password: "wrong-password"'],
  ['pagination token', '{"next_page_token": "CAoQAA8xYWJjZGVmZ2hpamtsbW5vcA"}'],
  ['CSRF token', '<input type="hidden" name="csrf_token" value="Zk9LQ2xWbTRSdDd4S3A4Vno">'],
  ['empty', 'API_KEY=\nSECRET_KEY=\n'],
];

describe('secrets in code and config, every language and format', () => {
  it.each(SNIPPETS)('%s: found', (_what, snippet, rule, secret) => {
    expect(scan(snippet).filter((f) => f.rule === rule).map((f) => f.secret)).toEqual([secret]);
  });

  it.each(NOT_SECRETS)('%s: nothing blocks', (_what, snippet) => {
    expect(blocking(snippet)).toEqual([]);
  });

  it('a value starting with $ is a variable only when a variable name follows', () => {
    for (const v of ['$DB_PASSWORD', '$dbPassword', '$password', '$db_pass', '$this->password', '$env:API_TOKEN', "$config['key']", '$ENV{TOKEN}']) expect(variableReference(v), v).toBe(true);
    for (const v of ['$ecr3t!Pw9', '$Tr0ngP4ss', '$2b$12$abcdefghijklmnopqrstuv', '$1x']) expect(variableReference(v), v).toBe(false);
  });
});

describe('generic rules: every match contains one of the rule keywords and the native prefilter (the prefilter contracts)', () => {
  const NAMES = ['password', 'DB_PASSWORD', 'dbPassword', 'smtp.pass', 'SMTP_PASS', 'dbPass', 'pwd', 'user_pwd', 'passphrase', 'secret', 'client_secret', 'SECRET_KEY_BASE', 'webhookSecret', 'api_key', 'apiKey', 'X-Api-Key', 'ACCESS_KEY', 'subscriptionKey', 'signing-key', 'token', 'accessToken', 'GITHUB_TOKEN', 'slack_bot_token', 'id_token', 'credentials', 'DEPLOY_CREDS'];
  const FORMS = [
    (k: string, v: string) => `${k} = "${v}"`,
    (k: string, v: string) => `${k}: '${v}'`,
    (k: string, v: string) => `"${k}": "${v}"`,
    (k: string, v: string) => `${k} := \`${v}\``,
    (k: string, v: string) => `val ${k}: String = "${v}"`,
    (k: string, v: string) => `os.environ["${k}"] = "${v}"`,
    (k: string, v: string) => `setenv("${k}", "${v}")`,
    (k: string, v: string) => `<${k}>${v}</${k}>`,
    (k: string, v: string) => `<add key="${k}" value="${v}" />`,
    (k: string, v: string) => `- name: ${k}\n  value: ${v}`,
    (k: string, v: string) => `\nexport ${k}=${v}\n`,
    (k: string, v: string) => `https://x.internal/a?b=1&${k}=${v}&c=2`,
    (k: string, v: string) => `tool --${k} ${v} --verbose`,
    (k: string, v: string) => `curl -H '${k}: ${v}'`,
    (k: string, v: string) => `if ${k} == "${v}" {`,
  ];
  const rules = genericRules.map((r) => [r, new RE2(r.pattern, 'g'), GENERIC_PREFILTERS[r.id] ? new RE2(GENERIC_PREFILTERS[r.id]) : undefined] as const);
  it('holds for key names in every form, with random values (fast-check)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NAMES), fc.constantFrom(...FORMS), fc.stringMatching(/^[A-Za-z0-9!#%]{8,40}$/), (name, form, value) => {
        const text = form(name, value);
        for (const [rule, re, prefilter] of rules) {
          re.lastIndex = 0;
          for (let m = re.exec(text); m; m = re.exec(text)) {
            const match = m[0].toLowerCase();
            if (!rule.keywords.some((k) => match.includes(k))) throw new Error(`${rule.id} matched ${JSON.stringify(m[0])} without a keyword`);
            if (prefilter && !prefilter.test(m[0])) throw new Error(`${rule.id} matched ${JSON.stringify(m[0])} but its native prefilter does not`);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('public example values (allow-list): documentation passes through', () => {
  // Each documented value in a line as docs print it, and the rule that finds it without the allow-list.
  const own = (rules: DlpRule[], id: string) => rules.find((r) => r.id === id)!;
  const jwtIo =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  const jwtIoAdmin = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1234567890","name":"John Doe","admin":true,"iat":1516239022}').toString('base64url')}.KMUFsIDTnFmyG3nMiGM6H9FNFUROf3wh7SmqJp-QV30`;
  const CASES: [string, string, DlpRule][] = [
    ['Firebase web config', 'const firebaseConfig = {\n  apiKey: "AIzaSyDOCAbC123dEf456GhI789jKl01-MnO",\n  authDomain: "myapp-project-123.firebaseapp.com",\n};', own(genericRules, 'generic-api-key')],
    ['Google Cloud API key docs', 'curl "https://language.googleapis.com/v1/documents:analyzeEntities?key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"', own(cloudRules, 'gcp-api-key')],
    ['Google Maps samples', '<script src="https://maps.googleapis.com/maps/api/js?key=AIzaSyB41DRUbKWJHPxaFjMAwdrzWzbVKartNGg&callback=initMap" defer></script>', own(cloudRules, 'gcp-api-key')],
    ['Stripe docs', "const stripe = require('stripe')('sk_test_4eC39HqLyjWDarjtT1zdp7dc');", own(paymentRules, 'stripe-test-key')],
    ['Stripe docs, older', 'curl https://api.stripe.com/v1/charges -u sk_test_BQokikJOvBiI2HlWgH4olfQ2:', own(paymentRules, 'stripe-test-key')],
    ['Slack docs', '{"ok": true, "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", "token_type": "bot"}', own(chatRules, 'slack-bot-token')],
    ['Mailgun docs', "MAILGUN_API_KEY = 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0'\nMAILGUN_DOMAIN = 'samples.mailgun.org'", own(genericRules, 'generic-api-key')],
    ['Azurite', 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;', own(cloudRules, 'azure-storage-account-key')],
    ['jwt.io', `Authorization: Bearer ${jwtIo}`, own(tokenRules, 'jwt')],
    ['jwt.io, admin claim', `curl -H "Authorization: Bearer ${jwtIoAdmin}" https://api.example.com/`, own(tokenRules, 'jwt')],
    ['RFC 2606 address', 'Contact alice@example.com or ops@mail.example.org (or bob@build.test).', own(piiRules, 'email-address')],
    ['Bearer placeholder', 'curl -H "Authorization: Bearer GITHUB_ACCESS_TOKEN_2024" https://api.github.com/user', own(genericRules, 'bearer-token')],
    ['Bearer constant name', 'Authorization: Bearer MY_PERSONAL_ACCESS_TOKEN_2', own(genericRules, 'bearer-token')],
  ];

  it.each(CASES)('%s: the rule alone would find it, the pack finds nothing', (_what, text, rule) => {
    expect(scan(text, compileEngine([rule])).length, `${rule.id} no longer finds it: the case proves nothing`).toBeGreaterThan(0);
    expect(scan(text)).toEqual([]);
  });

  it('is exact: one character changed and the value is a secret again', () => {
    for (const value of Object.keys(PUBLISHED)) {
      expect(publicExample(value), value).toBeDefined();
      const changed = value.slice(0, -2) + (value.at(-2) === 'Q' ? 'R' : 'Q') + value.at(-1);
      expect(publicExample(changed), changed).toBeUndefined();
    }
    expect(blocking('const stripe = require("stripe")("sk_test_4eC39HqLyjWDarjtT1zdp7dC");').map((f) => f.rule)).toEqual(['stripe-test-key']);
  });

  it('is strict: other claims in a jwt.io-shaped token, or real domains, are still found', () => {
    const other = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1234567890","name":"John Doe","iat":1516239022,"role":"admin","tenant":"acme"}').toString('base64url')}.KMUFsIDTnFmyG3nMiGM6H9FNFUROf3wh7SmqJp-QV30`;
    expect(blocking(`Authorization: Bearer ${other}`).map((f) => f.rule)).toEqual(['jwt']);
    expect(scan('write to alice@example.co or alice@examples.com').map((f) => f.secret)).toEqual(['alice@example.co', 'alice@examples.com']);
  });

  it('Sentry DSNs are public by design: at most logged', () => {
    const found = scan('Sentry.init({ dsn: "https://4f1b8b2a9c3d4e5f8a7b6c5d4e3f2a1b@o450001.ingest.us.sentry.io/4506112233" });');
    expect(found.map((f) => [f.rule, f.action])).toEqual([['sentry-dsn', 'log']]);
  });
});
