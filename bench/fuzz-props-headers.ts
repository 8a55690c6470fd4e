// Header-name properties (see bench/fuzz-props.ts): no spelling of a framing, hop-by-hop, Proxy-*
// or injected header name that an upstream could read as that header ever passes beside it.
import fc from 'fast-check';
import { checkHeaderNames, injectedAliases } from '../proxy/stages/headers.ts';
import { fail, type Prop } from './fuzz-props.ts';

const OWNED = ['transfer-encoding', 'content-length', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'proxy-x-anything', 'host', 'http2-settings'];
const INJECTED = ['x-api-key', 'authorization', 'x_legacy_token'];
const injected = injectedAliases(INJECTED);

/** `name` with each "-" or "_" written as either, at least one of them as "_" (names reach airlock lower-cased). */
const spelled = (names: string[]) =>
  fc.tuple(fc.constantFrom(...names.filter((n) => /[-_]/.test(n))), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 })).map(([name, bits]) => {
    let i = 0;
    return name.replace(/[-_]/g, () => (bits[i++ % bits.length] ? '_' : '-'));
  });

const otherName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/).filter((n) => !OWNED.includes(n) && !n.startsWith('proxy-') && !INJECTED.map((x) => x.replace(/_/g, '-')).includes(n));

export const HEADER_PROPS: Prop[] = [
  {
    name: 'a name that reads as a framing, hop-by-hop, Proxy-* or injected header is refused whatever the underscore setting, wherever it stands',
    arbs: [fc.oneof(spelled(OWNED), spelled(INJECTED)), fc.array(otherName, { maxLength: 5 }), fc.nat(5), fc.constantFrom('allow', 'drop', 'reject')],
    predicate: (alias: string, others: string[], at: number, mode: 'allow' | 'drop' | 'reject') => {
      const exact = [...OWNED, ...INJECTED].includes(alias);
      const headers: [string, string][] = others.map((n) => [n, 'v']);
      headers.splice(Math.min(at, headers.length), 0, [alias, 'x']);
      const r = checkHeaderNames(headers, injected, mode);
      // The exact injected name is replaced by airlock's value later; exact framing names never get here.
      if (exact) return true;
      if (r.ok) fail(`${alias} passed with ${mode}`);
      else if (r.code !== 'header_alias') fail(`${alias}: ${r.code}`);
      return true;
    },
  },
  {
    name: 'other names: without "_" they always pass untouched; with "_" they pass, are dropped or refused as the setting says',
    arbs: [fc.array(otherName, { maxLength: 6 }), fc.array(fc.stringMatching(/^[a-z0-9]{1,6}_[a-z0-9_]{0,6}$/), { maxLength: 3 }), fc.constantFrom('allow', 'drop', 'reject')],
    predicate: (plain: string[], under: string[], mode: 'allow' | 'drop' | 'reject') => {
      const clean = under.filter((n) => !injected.has(n.replace(/_/g, '-')) && !OWNED.includes(n.replace(/_/g, '-')) && !n.replace(/_/g, '-').startsWith('proxy-'));
      const headers: [string, string][] = [...plain, ...clean].map((n) => [n, 'v']);
      const r = checkHeaderNames(headers, injected, mode);
      if (clean.length === 0 || mode === 'allow') {
        if (!r.ok || r.headers.length !== headers.length) fail(`changed with ${mode}: ${JSON.stringify(headers)}`);
      } else if (mode === 'drop') {
        if (!r.ok || r.headers.some(([k]) => k.includes('_')) || r.headers.length !== plain.length) fail('not dropped');
      } else if (r.ok) fail('not refused');
      else if (r.code !== 'header_underscore') fail(r.code);
      return true;
    },
  },
];
