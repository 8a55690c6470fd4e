// Builders for the two common rule shapes: a token with a fixed prefix (found wherever it is), and
// a value with no prefix of its own, found next to a key name that names its service. Both keep the
// prefilter contract: every keyword is a literal that every match contains.
import type { DlpAction, DlpRule, Severity } from '../types.ts';
import { all, notIdentifier, randomToken, type Check } from '../validators.ts';
import { assigned, END, re } from './shape.ts';

interface Spec {
  id: string;
  service: string;
  /** Where the format is documented (see DlpRule.source). */
  source: string;
  description: string;
  keywords: string[];
  match: string[];
  nomatch: string[];
  severity?: Severity;
  action?: DlpAction;
  /** Replaces the default check: not a placeholder, an entropy floor, and for keyed values not an identifier. */
  validate?: Check;
  /** Entropy floor in bits per character for the default check (hex is capped at 3). */
  bits?: number;
}

const rule = (s: Spec, pattern: string, check: Check): DlpRule => ({
  id: s.id,
  description: s.description,
  service: s.service,
  source: s.source,
  pattern,
  keywords: s.keywords,
  validate: s.validate ?? check,
  severity: s.severity ?? 'critical',
  action: s.action ?? 'block',
  examples: { match: s.match, nomatch: s.nomatch },
});

/** A token that names itself: `\b(<token>)` and not followed by another token character. */
export const tokenRule = (s: Spec & { token: string; end?: string }): DlpRule => rule(s, re`\b(${s.token})${s.end ?? END}`, randomToken(s.bits ?? 3.5));

/**
 * A value next to a key name (`key`, case-insensitive, e.g. `algolia`) in env files, YAML, JSON and
 * code (shape.ts `assigned`). The key name must contain one of the keywords.
 */
export const keyedRule = (s: Spec & { key: string; value: string; end?: string; nameTail?: string }): DlpRule =>
  rule({ severity: 'high', ...s }, assigned(s.key, s.value, s.end, s.nameTail), all(randomToken(s.bits ?? 3.5), notIdentifier));
