// Policy-parser property (see bench/fuzz-props.ts): a separate module so a parser change being
// made elsewhere never stops the other properties from loading.
import fc from 'fast-check';
import { parsePolicy } from '../policies/parse.ts';
import { fail, type Prop } from './fuzz-props.ts';

// ---------------------------------------------------------------- policy parser

const scalar = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const anyYaml = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('value'), { maxKeys: 4 })),
})).value;
const TOP = ['data_dir', 'listen', 'routes', 'upstream', 'ca', 'store', 'log', 'limits', 'hosts', 'dlp'];
const policyShaped = fc.dictionary(
  fc.constantFrom(...TOP, 'hots', 'limit'),
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

