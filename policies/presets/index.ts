// Presets: named groups of host rules shipped with airlock for common agents and tools, included
// by name (`include: [claude-code, npm]`, policies/parse-include.ts). Each is written in the
// policy's own YAML shape and tested against the real client (test/integration/presets.test.ts),
// so a preset that no longer covers what its client does fails a test instead of an agent.
// `credential: true` marks the rule that takes the include entry's `inject` and `placeholder`.

export interface PresetRule {
  name: string;
  match: string;
  methods?: string[];
  paths?: string[];
  ports?: number[];
  websocket?: boolean;
  credential?: true;
}

export interface Preset {
  /** One line for `airlock policy presets` and docs/policy.md. */
  summary: string;
  /** The header the credential rule's secret is injected as (`include: [{preset, secret}]`). */
  credentialHeader?: string;
  hosts: PresetRule[];
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  'anthropic-api': {
    summary: "Anthropic's API (Messages, token counting, batches, models, files), as the SDKs use it",
    credentialHeader: 'x-api-key',
    hosts: [{ name: 'anthropic-api', match: 'api.anthropic.com', methods: ['GET', 'POST', 'DELETE'], paths: ['/v1/'], websocket: false, credential: true }],
  },
  'claude-code': {
    summary: 'Claude Code (the CLI): the Messages API plus its start-up checks, settings, policy limits, WebFetch domain check and telemetry',
    credentialHeader: 'x-api-key',
    hosts: [
      {
        name: 'claude-code.api',
        match: 'api.anthropic.com',
        methods: ['GET', 'HEAD', 'POST'],
        paths: ['/v1/', '/api/'],
        websocket: false,
        credential: true,
      },
      // The connectivity check at start: HEAD / (any path, HEAD only).
      { name: 'claude-code.check', match: 'api.anthropic.com', methods: ['HEAD'], websocket: false },
    ],
  },
  npm: {
    summary: 'npm install / ci / view from the public registry (packuments, tarballs, audit)',
    credentialHeader: 'authorization',
    hosts: [
      { name: 'npm.registry', match: 'registry.npmjs.org', methods: ['GET', 'HEAD'], websocket: false, credential: true },
      { name: 'npm.audit', match: 'registry.npmjs.org', methods: ['POST'], paths: ['/-/npm/v1/security/'], websocket: false },
    ],
  },
  pypi: {
    summary: 'pip install / download from PyPI (simple index, JSON API, files)',
    hosts: [
      { name: 'pypi.index', match: 'pypi.org', methods: ['GET', 'HEAD'], paths: ['/simple/', '/pypi/'], websocket: false },
      { name: 'pypi.files', match: 'files.pythonhosted.org', methods: ['GET', 'HEAD'], paths: ['/packages/'], websocket: false },
    ],
  },
  github: {
    summary: 'git clone / fetch over HTTPS from GitHub, its API, release and raw downloads',
    credentialHeader: 'authorization',
    hosts: [
      { name: 'github.git', match: 'github.com', methods: ['GET', 'HEAD', 'POST'], websocket: false, credential: true },
      { name: 'github.api', match: 'api.github.com', methods: ['GET', 'HEAD'], websocket: false },
      { name: 'github.codeload', match: 'codeload.github.com', methods: ['GET', 'HEAD'], websocket: false },
      { name: 'github.content', match: '*.githubusercontent.com', methods: ['GET', 'HEAD'], websocket: false },
    ],
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);
