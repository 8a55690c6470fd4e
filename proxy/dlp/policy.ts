// The rules that apply to one request: the policy's compiled engine (once per policy) and each
// rule's action for this host and path, exceptions applied.
import { exceptionApplies, ruleMatches } from '../../policies/dlp-actions.ts';
import type { RuleAction } from '../../policies/dlp/types.ts';
import type { DlpConfig } from '../../policies/types.ts';
import { compileEngine, type Engine } from './engine.ts';
import type { Rules } from './stream.ts';

interface Compiled {
  engine: Engine;
  base: RuleAction[];
  /** Per exception: the rule indexes it covers. */
  covers: number[][];
}

const compiled = new WeakMap<DlpConfig, Compiled>();

export function compiledDlp(dlp: DlpConfig): Compiled {
  let c = compiled.get(dlp);
  if (!c) {
    const engine = compileEngine(dlp.rules);
    const ids = dlp.rules.map((r) => r.id);
    c = {
      engine,
      base: ids.map((id) => dlp.actions[id] ?? 'off'),
      covers: dlp.exceptions.map((e) => ids.flatMap((id, i) => (e.rules.some((pat) => ruleMatches(pat, id)) ? [i] : []))),
    };
    compiled.set(dlp, c);
  }
  return c;
}

/** null when DLP is off or every rule is off for this request. */
export function rulesFor(dlp: DlpConfig, host: string, path: string): Rules | null {
  if (!dlp.enabled) return null;
  const c = compiledDlp(dlp);
  let actions = c.base;
  dlp.exceptions.forEach((e, k) => {
    if (!exceptionApplies(e, host, path)) return;
    if (actions === c.base) actions = [...c.base];
    for (const i of c.covers[k]) actions[i] = e.action;
  });
  if (actions.every((a) => a === 'off')) return null;
  return { engine: c.engine, actions, report: dlp.mode === 'report' };
}
