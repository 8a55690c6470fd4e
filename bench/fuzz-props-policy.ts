// Policy-parser property (see bench/fuzz-props.ts): a separate module so a parser change being
// made elsewhere never stops the other properties from loading.
import fc from 'fast-check';
import { decideConnect, decideRequest } from '../policies/decide.ts';
import { parsePolicy } from '../policies/parse.ts';
import type { Config } from '../policies/types.ts';
import { fail, type Prop } from './fuzz-props.ts';

// ---------------------------------------------------------------- policy parser

const scalar = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const anyYaml = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 4 })),
})).value;
const TOP = ['data_dir', 'listen', 'routes', 'upstream', 'ca', 'store', 'log', 'limits', 'hosts', 'deny', 'dlp'];
const policyShaped = fc.dictionary(
  fc.constantFrom(...TOP, 'hots', 'limit', 'denny'),
  fc.oneof(
    anyYaml,
    fc.dictionary(fc.constantFrom('proxy', 'max_headers', 'header_timeout', 'max_header_bytes', 'idle_timeout', 'match', 'ca_files', 'resolve'), anyYaml, { maxKeys: 4 }),
    fc.array(fc.dictionary(fc.constantFrom('match', 'ports', 'methods', 'paths', 'allow_ips', 'inject', 'placeholder', 'agents', 'name'), anyYaml, { maxKeys: 5 }), { maxLength: 3 }),
  ),
  { maxKeys: 6 },
);
// A path: segments (a bare key without control characters or ':', or a quoted JSON string), each with
// optional [n] indexes, joined by '.'; then ": " and the problem.
const SEGMENT = String.raw`(?:"(?:[^"\\]|\\.)*"|[^\x00-\x1f:"\[]+)(?:\[\d+\])*`;
const PATH = new RegExp(String.raw`^${SEGMENT}(?:\.${SEGMENT})*: \S`, 's');

export const POLICY_PROPS: Prop[] = [
  {
    name: 'parsePolicy never throws, and every problem names a path ("path: problem")',
    arbs: [fc.oneof(policyShaped, anyYaml)],
    predicate: (raw: unknown) => {
      const r = parsePolicy(raw, { baseDir: '/nonexistent-airlock-fuzz', env: {}, defaultDataDir: '/nonexistent-airlock-fuzz/data' });
      if (r.ok) return true;
      if (r.errors.length === 0) fail('refused without a problem');
      for (const e of r.errors) if (typeof e !== 'string' || !PATH.test(e)) fail(`problem without a path: ${JSON.stringify(e)}`);
      return true;
    },
  },
];


// ---------------------------------------------------------------- deny rules

let denyConfig: Config | undefined;
/** `*.example.test` allowed; `admin.example.test` denied outright; `/admin/keys` denied on every host under it. */
function denyPolicy(): Config {
  if (denyConfig) return denyConfig;
  const r = parsePolicy(
    {
      listen: { proxy: '127.0.0.1:8080' },
      hosts: [{ name: 'wild', match: '*.example.test' }],
      deny: [
        { name: 'no-admin-host', match: 'admin.example.test' },
        { name: 'no-keys', match: '*.example.test', paths: ['/admin/keys'] },
      ],
    },
    { baseDir: '/nonexistent-airlock-fuzz', env: {}, defaultDataDir: '/nonexistent-airlock-fuzz/data' },
  );
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return (denyConfig = r.config);
}

const hex = (c: string) => c.charCodeAt(0).toString(16).padStart(2, '0');
/** One way a lenient upstream would still read the character `c`. */
const spellChar = fc.constantFrom('same', 'upper', 'pct', 'PCT', 'pct2');
function spell(c: string, how: string): string {
  if (how === 'upper') return c.toUpperCase();
  if (how === 'pct') return `%${hex(c)}`;
  if (how === 'PCT') return `%${hex(c).toUpperCase()}`;
  if (how === 'pct2') return `%25${hex(c)}`;
  return c;
}
/** What may come before a segment: nothing, "./", "x/../", an extra "/", or a ";param". */
const segmentNoise = fc.constantFrom('', './', 'zz/../', '/', ';p=1/', '%2e/', 'a/%2e%2e/');
const slash = fc.constantFrom('/', '/', '//', '\\', '%2f', '%2F', '%5c');

export const DENY_PROPS: Prop[] = [
  {
    name: 'deny rules win: a denied path under a wildcard allow is denied in every spelling a lenient upstream would read the same',
    arbs: [
      fc.array(spellChar, { minLength: 10, maxLength: 10 }),
      fc.tuple(segmentNoise, segmentNoise),
      slash,
      fc.constantFrom('', '/', '/x', 'x', '?q=1', '/a/b?c', ';v=2', '#f'),
      fc.constantFrom('GET', 'POST', 'DELETE', 'get'),
      fc.constantFrom('api', 'Deep.Sub', 'x-1'),
    ],
    predicate: (how: string[], noise: [string, string], sep: string, tail: string, method: string, sub: string) => {
      const word = (w: string, off: number) => [...w].map((c, i) => spell(c, how[(off + i) % how.length])).join('');
      const path = `/${noise[0]}${word('admin', 0)}${sep}${noise[1]}${word('keys', 5)}${tail}`;
      const d = decideRequest(denyPolicy(), { host: `${sub}.example.test`, port: 443, scheme: 'https', method, path, websocket: false });
      if (d.allow || d.code !== 'request_denied_by_rule' || d.ruleId !== 'no-keys') fail(`${path} was not denied: ${JSON.stringify(d)}`);
      return true;
    },
  },
  {
    name: 'deny rules win at connection time: the denied host in any case, with or without a trailing dot, never gets a connection; its siblings do',
    arbs: [fc.array(fc.boolean(), { minLength: 18, maxLength: 18 }), fc.boolean(), fc.domain().filter((d) => d.length < 200)],
    predicate: (upper: boolean[], dot: boolean, other: string) => {
      const name = [...'admin.example.test'].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('') + (dot ? '.' : '');
      const d = decideConnect(denyPolicy(), name, 443);
      if (d.allow || d.code !== 'host_denied_by_rule') fail(`${name} was not denied: ${JSON.stringify(d)}`);
      const sibling = `${other.replace(/\.+$/, '')}.example.test`;
      if (sibling.toLowerCase() === 'admin.example.test') return true;
      const s = decideConnect(denyPolicy(), sibling, 443);
      if (!s.allow && s.code === 'host_denied_by_rule') fail(`${sibling} was denied by a rule naming another host`);
      return true;
    },
  },
];
