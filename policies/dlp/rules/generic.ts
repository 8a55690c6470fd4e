// Generic credentials with no vendor prefix: values assigned to names that mark a secret (password,
// secret, API key, token), in the forms code and configuration are written in (shape.ts
// codeAssignment), and HTTP Basic / Bearer credentials. Each needs a real-looking value (an entropy
// floor, no placeholder, no variable reference), so `password: ${DB_PASSWORD}` is not a finding.
//
// Speed: these rules see the most candidates (their key names are everywhere in code). Each is
// prefiltered by a few key-name literals that every match contains (`pass`, `secret`, `token`,
// `api_key`…): the scanner looks for each keyword separately, so a handful of literals costs less
// than dozens of rarer ones. Every repeat is bounded.
import type { DlpRule } from '../types.ts';
import { all, basicAuth, mixedChars, passwordLike, randomToken, realValue } from '../validators.ts';
import { codeAssignment, codeAssignmentPrefilter, re } from './shape.ts';

const GENERIC = { service: 'generic' };
/** Key names that mark a secret: the facts gitleaks' generic rule and its allow-list encode. */
const GENERIC_SOURCE = 'key names and stop words after gitleaks generic-api-key (cmd/generate/config/rules/generic.go)';

/** Up to 30 name characters before the word that marks the secret, on an unquoted line: `DB_`, `smtp.`, `github`. */
const NAME = '[A-Za-z0-9_.-]{0,30}';

// Passwords: the long words anywhere in a name (`dbPassword`, `SMTP_PASSWORD`); `pass` only as a
// name's own segment (`SMTP_PASS`, `dbPass`, `"pass"`), not inside `bypass` or `compass`; `pwd`
// only as `…_PWD` or a quoted `"pwd"` (a bare `PWD=` is the shell's working directory).
const PASSWORD_WORDS = ['password', 'passwd', 'passphrase', 'passcode'];
const PASSWORD_KEY = re`(?:${PASSWORD_WORDS.join('|')})|(?:[_.-]|\b)pass|_pwd|["']pwd["']|[a-z0-9](?-i:Pass)`;
// `pass` is in every long word too; `pwd` always comes with a character next to it.
const PASSWORD_KEYWORDS = ['pass', '_pwd', 'pwd"', "pwd'"];

// Secrets: `secret`, `client_secret`, `SECRET_KEY(_BASE)`, `secretAccessKey`, `jwt_secret_value`; not
// `secretName`, `secret_file`, `secretRef` (names of a secret, not its value).
const SECRET_KEY = re`secret(?:[_.-]?(?:access[_.-]?)?key(?:[_.-]?base)?|[_.-]?(?:value|token|string|phrase))?`;

// API keys: `api_key`, `apiKey`, `x-api-key`, `ACCESS_KEY`, `subscriptionKey`, `signing_key`; not
// `public_key`, `primary_key`, `cache_key`, `idempotency_key`.
const KEY_WORDS = ['api', 'access', 'app', 'auth', 'client', 'master', 'private', 'subscription', 'signing', 'encryption'];
const API_KEY = re`(?:${KEY_WORDS.join('|')})[_.-]?key`;
// `apikey`, `api_key`; `-key` and `.key` stand for `api-key`, `app.key`… of every word (fewer literals to look for).
const API_KEYWORDS = [...KEY_WORDS.flatMap((w) => [`${w}key`, `${w}_key`]), '-key', '.key'];

// Tokens: a name ending in one of these words + `token` (`accessToken`, `slack_bot_token`), a bare
// `token`, or any CONSTANT_CASE `…_TOKEN` (env and constant names, `NETLIFY_TOKEN`); on a whole
// unquoted line (`.env`, YAML) any name ending in `token`. Not `csrf_token`, `pageToken`,
// `next_page_token`, `cancellationToken`: state, not credentials. Each word costs scan time on
// every text with `token` in it (measured: 48 words instead of none, 21 → 17.7 MB/s on the bench),
// so the list holds the prefixes common in code, not every service.
const TOKEN_WORDS = [
  'access', 'auth', 'api', 'bearer', 'refresh', 'session', 'bot', 'app', 'oauth', 'personal', 'private', 'service',
  'deploy', 'admin', 'secret', 'client', 'user', 'id', 'github', 'gh', 'gitlab', 'npm', 'slack', 'hf', 'pat', 'ci',
];
const TOKEN_KEY = re`(?:${TOKEN_WORDS.join('|')})[_.-]?token|\btoken|(?-i:[A-Z0-9]_TOKEN)`;
const TOKEN_KEYWORDS = ['token'];

// Weak evidence: names that suggest a credential without saying which (`credentials`, `DEPLOY_CREDS`).
const WEAK_KEY = re`credentials?|creds`;

// Value classes and shortest values, shared by each rule and its native-scanner prefilter.
const PASSWORD_VALUE = re`[^\s"'\x60\\<>]`;
const SECRET_VALUE = re`[A-Za-z0-9_.~+/=!@#%^&*$-]`;
const KEY_VALUE = re`[A-Za-z0-9_.~+/=-]`;
const WEAK_VALUE = re`[A-Za-z0-9_.~+/=:!@#%^&*$-]`;

/** For the native scanner (policies/dlp/prefilters.ts): what every match of each rule contains. */
export const GENERIC_PREFILTERS: Readonly<Record<string, string>> = {
  'generic-password': codeAssignmentPrefilter(re`pass(?:word|wd|phrase|code)?|_pwd|["']pwd["']`, PASSWORD_VALUE, 6),
  'generic-secret': codeAssignmentPrefilter(SECRET_KEY, SECRET_VALUE, 16),
  'generic-api-key': codeAssignmentPrefilter(API_KEY, KEY_VALUE, 16),
  'generic-token': codeAssignmentPrefilter('token', KEY_VALUE, 20),
  'generic-credential-weak': codeAssignmentPrefilter(WEAK_KEY, WEAK_VALUE, 16),
};

export const genericRules: DlpRule[] = [
  {
    id: 'generic-password',
    description: 'Password assigned in code, config, env files, XML or JSON (password / passwd / passphrase / pass / pwd)',
    ...GENERIC,
    source: GENERIC_SOURCE,
    pattern: codeAssignment(PASSWORD_KEY, re`${NAME}(?:${PASSWORD_KEY})`, re`${PASSWORD_VALUE}{6,128}`),
    keywords: PASSWORD_KEYWORDS,
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
        'if (password == "e37h0JptxG") {',
        'const dbPass = "Wq8#mKz2Lp";',
        'private static final String DB_PASSWORD = "Hv3!xQe9Ta";',
        'val smtpPassword: String = "r5T#uWq2Ly"',
        'var conn_pwd = @"Zk7$eRt4Mn";',
        'dbPassword := "Fy6&nBv1Xc"',
        '<password>Gt5%wQa8Ks</password>',
        '<add key="SmtpPassword" value="Nh2*jKd7Pe" />',
        'spring.datasource.password=Ub4!cLm9Rw',
        'env:\n  - name: DB_PASSWORD\n    value: "Jr8@pZx3Vn"\n',
        'mysql --host=db.internal --password=Qe6^tYu1Io dump',
        'ENV ADMIN_PASSWORD=Lk9(sDf2Gh',
        'password = "$ecr3t!Pw9"',
      ],
      nomatch: [
        'password: ${DB_PASSWORD}',
        'password := os.Getenv("DB_PASSWORD")',
        'password = os.environ["DB_PASSWORD"]',
        'DB_PASSWORD=changeme',
        '"password": "<your-password>"',
        '{"password": "********"}',
        'const password = config.database.password;',
        '<input type="password" name="password" autocomplete="current-password">',
        '"password": "Passwort"',
        'password: !vault |',
        '    getpass = unix_getpass',
        'self.passwd = password_mgr',
        'password: BinaryLike,',
        'bypass: "proxy-4.internal"',
        'compass = "NNW-330deg"',
        'password = "$DB_PASSWORD"',
        'password: "$dbPassword"',
        '<password>${SMTP_PASSWORD}</password>',
        'PASSWORD_MIN_LENGTH=12',
      ],
    },
  },
  {
    id: 'generic-secret',
    description: 'Secret assigned in code, config, env files, XML or JSON (secret, client_secret, secret_key…)',
    ...GENERIC,
    source: GENERIC_SOURCE,
    pattern: codeAssignment(SECRET_KEY, re`${NAME}(?:${SECRET_KEY})`, re`${SECRET_VALUE}{16,256}`),
    keywords: ['secret'],
    validate: all(realValue(3.5), mixedChars),
    severity: 'high',
    action: 'block',
    examples: {
      match: [
        '"client_secret": "JXmhcYXgVzwQg1lV4Moihi0AguPWujmT"',
        'SECRET_KEY_BASE=46a49bfdc8a895e0373eb506ee3bd53d5160eef6e7135171df0f0a8376db27a0',
        "app.config['SECRET_KEY'] = 'sEWdNFnztcFn3XCqgXREauhhukCgTSMW'",
        'JWT_SECRET=fpq7taGG0g1iTlFV1J0SLXa8UilzpWMQM1MzY9xw',
        'clientSecret := "Qm3vT8xKpW2rLs9YbN4dHf7J"',
        'public const string ClientSecret = "Ga5Rk2Lw9XpVn7Tq3MzCe8Bh";',
        'os.environ["APP_SECRET"] = "c8Fq2WzLm5RtX9vKp3NbY7Hd"',
        'export WEBHOOK_SECRET="Tn4Kx8Qp2Wm6Lr9Zv3Bc7Yh"',
        'webhook_secret = "Rb7Nq3Xk9Wp2Lm6Tz4Vc8Hy" # TOML',
        'curl "https://auth.acme.internal/token?client_id=ci&client_secret=Vd2Lp8Xq4Kn7Wm3Rz9Bt6Hc&grant_type=client_credentials"',
      ],
      nomatch: [
        'client_secret: ${CLIENT_SECRET}',
        'secret: "{{ .Values.secret }}"',
        'SECRET_KEY=your-secret-key-here',
        'secretName: db-credentials',
        'secret_file: /run/secrets/db_password',
        'clientSecret = process.env.CLIENT_SECRET;',
        'secret_key: "%(SECRET_KEY)s"',
        'const secret = "insert-your-signing-secret";',
      ],
    },
  },
  {
    id: 'generic-api-key',
    description: 'API key assigned in code, config, env files, XML or JSON (api_key, apiKey, x-api-key, access_key, signing_key…)',
    ...GENERIC,
    source: GENERIC_SOURCE,
    pattern: codeAssignment(API_KEY, re`${NAME}(?:${API_KEY})`, re`${KEY_VALUE}{16,256}`),
    keywords: API_KEYWORDS,
    validate: all(realValue(3.5), mixedChars),
    severity: 'high',
    action: 'block',
    examples: {
      match: [
        'WEATHER_API_KEY=lxdcR9fXBPCiAu4T5T7yNA2jEDm5oSCE',
        '{"apiKey": "ed1f3283392f86848b983c963a734884", "units": "metric"}',
        'headers = {"x-api-key": "KugeiNCFXoAIigOaS0pqN1JAr36zm4OEIwg8MsmI"}',
        "curl -H 'X-Api-Key: Pz8Wq3Lm6Rt9Kx2Vb5Nc7Hd' https://api.acme.internal/v1",
        'apiKey := "Hx4Lq9Wm2Rt7Kp3Vz8Nb6Yc"',
        'val apiKey: String = "Jm7Rq2Wx9Lt4Kp8Vz3Nb6Hc"',
        'String API_KEY = "Lw5Kq8Rm3Xt9Vp2Zn7Bc4Hd";',
        'os.Setenv("PAYMENTS_API_KEY", "Nq6Wx3Lm9Rt2Kp7Vz4Bc8Hd")',
        '<appSettings><add key="ApiKey" value="Rv9Lq2Wm6Xt3Kp8Zn4Bc7Hd" /></appSettings>',
        'https://api.acme.internal/v2/forecast?city=Berlin&api_key=Zt3Lq8Wm2Rx7Kp9Vn4Bc6Hd&units=metric',
      ],
      nomatch: [
        'apiKey: process.env.WEATHER_API_KEY',
        'api_key = "YOUR_API_KEY"',
        'API_KEY=',
        '"api_key": "sk-..."',
        '{"apiKey": "abcdefghijklmnopqrstuvwx"}',
        'public_key = "ssh-ed25519-AAAAC3NzaC1lZDI1NTE5"',
        '"idempotency_key": "3f2c9a7e-58b1-4d3c-9e6f-1a2b3c4d5e6f"',
        'apiKey = "${API_KEY}"',
      ],
    },
  },
  {
    id: 'generic-token',
    description: 'Token assigned in code, config, env files, XML or JSON (token, access_token, apiToken, SOMETHING_TOKEN=…)',
    ...GENERIC,
    source: GENERIC_SOURCE,
    pattern: codeAssignment(TOKEN_KEY, re`${NAME}token`, re`${KEY_VALUE}{20,1000}`),
    keywords: TOKEN_KEYWORDS,
    validate: all(realValue(3.5), mixedChars),
    severity: 'high',
    action: 'block',
    examples: {
      match: [
        '{"access_token": "H0vXFmWe5mBW0YREWiXiICHCOmKCNYiK0vgOTQfl", "expires_in": 3600}',
        'ACME_TOKEN=bCcTV7DNvgYIDrEuIIqOU6Fn9g8nwET6gF9yFBGz40aPbCWr',
        '  token: BQbp1ahGMwctWIxNRwgxLtd6MyGcEJbNChuW\n',
        'const apiToken = "Xk4Wq9Lm2Rt7Kp3Vz8Nb6YcHd";',
        'githubToken: "Qm7Wx2Lq9Rt4Kp8Vz3Nb6Hc5Jd"',
        'ACME_DEPLOY_TOKEN = "Tz5Lq8Wm3Rx9Kp2Vn7Bc4HdJe"',
        'export SLACK_BOT_TOKEN="Wn6Kq3Lm9Rt2Xp7Vz4Bc8HdJf"',
        'var authToken = "Lp4Wq8Km2Rt6Xz9Vn3Bc7HdJg";',
        '<token>Rk8Wq3Lm7Xt2Kp9Vz6Bn4HcJh</token>',
        'gh auth login --token Vq2Lw7Km4Rt9Xp3Zn8Bc6HdJi',
      ],
      nomatch: [
        'token: ${{ secrets.GITHUB_TOKEN }}',
        '{"next_page_token": "OZV8EGL57YvQ6ng0Kf2MKaS2cOJL4dBGMJfMml99"}',
        '"csrf_token": "nbf5nzHNlqKFhsBez7oYIOiSx3PRAr2pqhu7fo4Y"',
        '{"pageToken": "CgQIARAAGhQKEgoQbkxxV2pZb3dYcWdMRU1LbXo"}',
        'token = get_token()',
        'ACCESS_TOKEN=<token>',
        'cancellationToken: CancellationToken = CancellationToken.None',
        '"max_tokens": 4096',
      ],
    },
  },
  {
    id: 'generic-credential-weak',
    description: 'Random-looking value assigned to a name that suggests but does not establish a secret (credentials, creds): weak evidence, logged',
    ...GENERIC,
    source: GENERIC_SOURCE,
    pattern: codeAssignment(WEAK_KEY, re`${NAME}(?:${WEAK_KEY})`, re`${WEAK_VALUE}{16,256}`),
    keywords: ['credential', 'creds'],
    validate: all(realValue(3.5), mixedChars),
    severity: 'low',
    action: 'log',
    examples: {
      match: ['"credentials": "Yq3Lm8Wx2Rt7Kp9Vz4Nb6Hc"', 'DEPLOY_CREDS=Gk5Wq2Lm8Rt3Xp9Vz6Bc4Hd', 'registry_credentials = "ci-bot:Tq7Lm2Wx9Rk4Vp8Zn3Bc6Hd"'],
      nomatch: ['credentials: ${{ secrets.REGISTRY_CREDENTIALS }}', '"credentials": "include"', 'creds = load_credentials(path)', 'credentials_file: /etc/acme/credentials.json'],
    },
  },
  {
    id: 'basic-auth-credentials',
    description: 'HTTP Basic credentials (Basic <base64 of user:password>)',
    ...GENERIC,
    source: 'RFC 7617 (HTTP Basic authentication)',
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
    ...GENERIC,
    source: 'RFC 6750 (OAuth 2.0 bearer tokens)',
    pattern: re`(?i:\bbearer)[ \t]{1,4}([A-Za-z0-9_.~+/-]{20,1000}={0,2})(?:[^A-Za-z0-9_.~+/=-]|$)`,
    keywords: ['bearer'],
    validate: all(randomToken(3.5), mixedChars),
    severity: 'high',
    // Agents send their own tokens in Authorization headers to hosts the policy allows; blocking
    // every one would break them. Recorded, and specific token rules still block known formats.
    action: 'log',
    examples: {
      match: ['Authorization: Bearer nniNQCUS_n5op8sPrIPEv06237JAjYrfR9CiPBdi', 'curl -H "Authorization: Bearer xBKt5pilPc18AEOqCfu4uUyiIM86r3FE0jiFTRbkLDNF23p1sNCv3DTh4W8XqAIy" https://api.acme.internal/v1/jobs'],
      nomatch: ['Authorization: Bearer ${TOKEN}', 'Authorization: Bearer YOUR_ACCESS_TOKEN_HERE', 'Bearer <token>', 'the bearer tokenization scheme', 'Authorization: Bearer ACCESS_TOKEN_GOES_HERE_123'],
    },
  },
];
