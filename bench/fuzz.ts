// Runs every fast-check property of bench/fuzz-props*.ts at least 100,000 times (CI runs a few
// thousand each) and prints the counts. Exit status 1 on the first counterexample.
// Run: npx tsx bench/fuzz.ts [--runs N] [--only GROUP] [--match TEXT] [--seed S]
import fc from 'fast-check';
import { ALL_PROPS, type Prop } from './fuzz-props.ts';
import { DLP_PROPS, ENGINE_PROPS, SEGMENT_PROPS } from './fuzz-props-dlp.ts';
import { HEADER_PROPS } from './fuzz-props-headers.ts';
import { DENY_PROPS, POLICY_PROPS } from './fuzz-props-policy.ts';
import { FILTER_PROPS, SEARCH_PROPS } from './fuzz-props-search.ts';
import { SECRETS_PROPS } from './fuzz-props-secrets.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const runs = Number(arg('--runs') ?? 100_000);
const only = arg('--only');
const match = arg('--match');
const seed = arg('--seed') === undefined ? Date.now() ^ (process.pid << 8) : Number(arg('--seed'));
const groups: Record<string, Prop[]> = {
  ...ALL_PROPS,
  policy: POLICY_PROPS,
  deny: DENY_PROPS,
  headers: HEADER_PROPS,
  search: SEARCH_PROPS,
  filters: FILTER_PROPS,
  dlp: DLP_PROPS,
  engines: ENGINE_PROPS,
  segments: SEGMENT_PROPS,
  secrets: SECRETS_PROPS,
};

let total = 0;
let failed = 0;
console.log(`fast-check: ${runs} runs per property, seed ${seed}`);
for (const [group, props] of Object.entries(groups)) {
  if (only && group !== only) continue;
  for (const p of props) {
    if (match && !p.name.includes(match)) continue;
    let n = 0;
    const t0 = performance.now();
    const counted = (...a: unknown[]) => {
      n++;
      return p.predicate(...a);
    };
    const r = fc.check(fc.property(...(p.arbs as [fc.Arbitrary<unknown>]), counted), { numRuns: runs, seed });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    total += n;
    if (r.failed) {
      failed++;
      console.log(`FAIL ${group}: ${p.name}\n  after ${r.numRuns} runs; counterexample ${fc.stringify(r.counterexample)}\n  ${String(r.errorInstance ?? '')}`);
    } else console.log(`ok   ${group}: ${p.name}\n     ${r.numRuns} runs (${n} calls incl. shrinking), ${s} s`);
  }
}
console.log(`${total} property calls in all, ${failed} failing ${failed === 1 ? 'property' : 'properties'}`);
process.exit(failed ? 1 : 0);
