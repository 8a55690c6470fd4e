// The built-in DLP rule pack: every rule from policies/dlp/rules/, in a stable order.
import { publicExample } from './allowlist.ts';
import type { DlpRule } from './types.ts';
import { aiRules } from './rules/ai.ts';
import { businessRules } from './rules/business.ts';
import { chatRules } from './rules/chat.ts';
import { cloudRules } from './rules/cloud.ts';
import { databaseRules } from './rules/databases.ts';
import { devopsRules } from './rules/devops.ts';
import { financeRules } from './rules/finance.ts';
import { genericRules } from './rules/generic.ts';
import { keyRules } from './rules/keys.ts';
import { paymentRules } from './rules/payment.ts';
import { piiRules } from './rules/pii.ts';
import { PREFILTERS } from './prefilters.ts';
import { registryRules } from './rules/registries.ts';
import { socialRules } from './rules/social.ts';
import { tokenRules } from './rules/tokens.ts';
import { vcsRules } from './rules/vcs.ts';

/** A rule that drops documented public example values (allowlist.ts) before its own check. */
function skippingPublicExamples(rule: DlpRule): DlpRule {
  const own = rule.validate;
  return { ...rule, validate: own ? (s) => publicExample(s) === undefined && own(s) : (s) => publicExample(s) === undefined };
}

/** Vendor-specific rules first, generic assignments and PII last: the order findings are listed in. */
export const BUILTIN_RULES: readonly DlpRule[] = Object.freeze(
  [
    ...keyRules,
    ...cloudRules,
    ...aiRules,
    ...vcsRules,
    ...paymentRules,
    ...chatRules,
    ...registryRules,
    ...tokenRules,
    ...devopsRules,
    ...businessRules,
    ...socialRules,
    ...financeRules,
    ...databaseRules,
    ...genericRules,
    ...piiRules,
  ]
    .map((r) => (PREFILTERS[r.id] ? { ...r, prefilter: PREFILTERS[r.id] } : r))
    .map(skippingPublicExamples),
);

const byId = new Map(BUILTIN_RULES.map((r) => [r.id, r]));
if (byId.size !== BUILTIN_RULES.length) throw new Error('duplicate built-in DLP rule id');
for (const id of Object.keys(PREFILTERS)) if (!byId.has(id)) throw new Error(`prefilter for unknown DLP rule ${id}`);

/** The built-in rule with this id, or undefined. */
export function ruleById(id: string): DlpRule | undefined {
  return byId.get(id);
}
