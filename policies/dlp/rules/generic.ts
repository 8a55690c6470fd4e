// Generic credentials with no vendor prefix: assignments to password / secret / api key / token
// names, and HTTP Basic / Bearer credentials. Each needs a real-looking value (an entropy floor, no
// placeholder, no variable reference), so `password: ${DB_PASSWORD}` is not a finding.
import type { DlpRule } from '../types.ts';
import { all, basicAuth, mixedChars, passwordLike, randomToken, realValue } from '../validators.ts';
import { assignment, re } from './shape.ts';

const KEY_WORDS = ['api', 'access', 'app', 'auth', 'client', 'master', 'private', 'subscription'];
const KEY_NAME = re`(?:${KEY_WORDS.join('|')})[_.-]?key`;
const TOKEN_NAME = re`(?:access|auth|api|bearer|refresh|session|bot|app|private|personal|oauth|service|deploy)[_.-]?token`;

export const genericRules: DlpRule[] = [
  {
    id: 'generic-password',
    description: 'Password assigned in code, config, env files or JSON (password / passwd / passphrase / pass)',
    pattern: assignment(
      re`[A-Za-z0-9_.-]{0,30}(?:password|passwd|passphrase|pass)`,
      re`[A-Za-z0-9_.-]{0,40}(?:password|passwd|passphrase|pass)`,
      re`[^\s"'\x60\\<>]{6,128}`,
    ),
    keywords: ['pass'],
    validate: passwordLike,
    severity: 'high',
    action: 'block',
    examples: {
      match: [
        'DB_PASSWORD=ko96gyDQ!7',
        '{"username": "svc-reports", "password": "Ueq6jBK7QH#4"}',
        'spring:\n  datasource:\n    password: 9z6erGM6zIK29\n',
        'db = connect(host="10.0.0.5", user="etl", password="J7ZFdzXJl%2")',
        '{"content": "my config:\\nSMTP_PASS=oKxD4gEZmjas3\\nSMTP_PORT=587"}',
        '{"role": "user", "content": "why does this fail? db.connect(user=\\"etl\\", password=\\"KUOkmrvG3ca$5\\")"}',
      ],
      nomatch: [
        'password: ${DB_PASSWORD}',
        'password := os.Getenv("DB_PASSWORD")',
        'password = os.environ["DB_PASSWORD"]',
        'DB_PASSWORD=changeme',
        '"password": "<your-password>"',
        '{"password": "********"}',
        'const password = config.database.password;',
        'if (password == "e37h0JptxG") {',
        '<input type="password" name="password" autocomplete="current-password">',
        '"password": "Passwort"',
        'password: !vault |',
        '    getpass = unix_getpass',
        'self.passwd = password_mgr',
        'password: BinaryLike,',
      ],
    },
  },
  {
    id: 'generic-secret',
    description: 'Secret assigned in code, config, env files or JSON (secret, client_secret, secret_key…)',
    pattern: assignment(
      re`[A-Za-z0-9_.-]{0,30}secret(?:[_.-]?key)?`,
      re`[A-Za-z0-9_.-]{0,40}secret[A-Za-z0-9_.-]{0,20}`,
      re`[A-Za-z0-9_.~+/=!@#%^&*-]{16,256}`,
    ),
    keywords: ['secret'],
    validate: all(realValue(3.5), mixedChars),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['"client_secret": "JXmhcYXgVzwQg1lV4Moihi0AguPWujmT"', 'SECRET_KEY_BASE=46a49bfdc8a895e0373eb506ee3bd53d5160eef6e7135171df0f0a8376db27a0', "app.config['SECRET_KEY'] = 'sEWdNFnztcFn3XCqgXREauhhukCgTSMW'", 'JWT_SECRET=fpq7taGG0g1iTlFV1J0SLXa8UilzpWMQM1MzY9xw'],
      nomatch: ['client_secret: ${CLIENT_SECRET}', 'secret: "{{ .Values.secret }}"', 'SECRET_KEY=your-secret-key-here', 'secretName: db-credentials', 'secret_file: /run/secrets/db_password'],
    },
  },
  {
    id: 'generic-api-key',
    description: 'API key assigned in code, config, env files or JSON (api_key, apiKey, access_key, client_key…)',
    pattern: assignment(re`[A-Za-z0-9_.-]{0,30}${KEY_NAME}`, re`[A-Za-z0-9_.-]{0,40}${KEY_NAME}`, re`[A-Za-z0-9_.~+/=-]{16,256}`),
    keywords: KEY_WORDS.flatMap((w) => ['', '_', '-', '.'].map((s) => `${w}${s}key`)),
    validate: all(realValue(3.5), mixedChars),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['WEATHER_API_KEY=lxdcR9fXBPCiAu4T5T7yNA2jEDm5oSCE', '{"apiKey": "ed1f3283392f86848b983c963a734884", "units": "metric"}', 'headers = {"x-api-key": "KugeiNCFXoAIigOaS0pqN1JAr36zm4OEIwg8MsmI"}'],
      nomatch: ['apiKey: process.env.WEATHER_API_KEY', 'api_key = "YOUR_API_KEY"', 'API_KEY=', '"api_key": "sk-..."', '{"apiKey": "abcdefghijklmnopqrstuvwx"}'],
    },
  },
  {
    id: 'generic-token',
    description: 'Token assigned in code, config, env files or JSON (token, access_token, auth_token, SOMETHING_TOKEN=…)',
    pattern: assignment(
      re`[A-Za-z0-9_.-]{0,30}${TOKEN_NAME}|(?:^|[^A-Za-z0-9_.-])token`,
      re`[A-Za-z0-9_.-]{0,40}token`,
      re`[A-Za-z0-9_.~+/=-]{20,1000}`,
    ),
    keywords: ['token'],
    validate: all(realValue(3.5), mixedChars),
    severity: 'high',
    action: 'block',
    examples: {
      match: ['{"access_token": "H0vXFmWe5mBW0YREWiXiICHCOmKCNYiK0vgOTQfl", "expires_in": 3600}', 'ACME_TOKEN=bCcTV7DNvgYIDrEuIIqOU6Fn9g8nwET6gF9yFBGz40aPbCWr', '  token: BQbp1ahGMwctWIxNRwgxLtd6MyGcEJbNChuW\n'],
      nomatch: ['token: ${{ secrets.GITHUB_TOKEN }}', '{"next_page_token": "OZV8EGL57YvQ6ng0Kf2MKaS2cOJL4dBGMJfMml99"}', '"csrf_token": "nbf5nzHNlqKFhsBez7oYIOiSx3PRAr2pqhu7fo4Y"', 'token = get_token()', 'ACCESS_TOKEN=<token>'],
    },
  },
  {
    id: 'basic-auth-credentials',
    description: 'HTTP Basic credentials (Basic <base64 of user:password>)',
    pattern: re`(?i:\bbasic)[ \t]{1,4}([A-Za-z0-9+/]{6,500}={0,2})(?:[^A-Za-z0-9+/=]|$)`,
    keywords: ['basic'],
    validate: basicAuth,
    severity: 'high',
    // Agents send their own tokens in Authorization headers to hosts the policy allows; blocking
    // every one would break them. Recorded, and specific token rules still block known formats.
    action: 'log',
    examples: {
      match: ['Authorization: Basic ZGVwbG95LWJvdDpKVFJGS2xDejRNdlBwSEtx', 'curl -H "Authorization: basic YWRtaW46MHJyUDJPV2lDcHlX" https://ci.acme.internal/api'],
      nomatch: ['Authorization: Basic dXNlcjpjaGFuZ2VtZQ==', 'Basic authentication is supported', 'Authorization: Basic ${CREDENTIALS}', 'Authorization: Basic '],
    },
  },
  {
    id: 'bearer-token',
    description: 'High-entropy Bearer token in an Authorization header or curl command',
    pattern: re`(?i:\bbearer)[ \t]{1,4}([A-Za-z0-9_.~+/-]{20,1000}={0,2})(?:[^A-Za-z0-9_.~+/=-]|$)`,
    keywords: ['bearer'],
    validate: all(randomToken(3.5), mixedChars),
    severity: 'high',
    // Agents send their own tokens in Authorization headers to hosts the policy allows; blocking
    // every one would break them. Recorded, and specific token rules still block known formats.
    action: 'log',
    examples: {
      match: ['Authorization: Bearer nniNQCUS_n5op8sPrIPEv06237JAjYrfR9CiPBdi', 'curl -H "Authorization: Bearer xBKt5pilPc18AEOqCfu4uUyiIM86r3FE0jiFTRbkLDNF23p1sNCv3DTh4W8XqAIy" https://api.acme.internal/v1/jobs'],
      nomatch: ['Authorization: Bearer ${TOKEN}', 'Authorization: Bearer YOUR_ACCESS_TOKEN_HERE', 'Bearer <token>', 'the bearer tokenization scheme'],
    },
  },
];
