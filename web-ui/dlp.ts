// What the UI shows about DLP rules: id, the service it is for, plain-words description, the
// documentation of its format, severity and the action in force. They come from the policy in force (`dlp.rules`: the built-in pack, then the policy's
// custom rules; `dlp.actions`: per-rule actions after the policy's overrides), read defensively so
// the UI works the same with a policy that has no DLP section.
export interface DlpRuleInfo {
  id: string;
  description: string;
  service?: string;
  source?: string;
  severity?: string;
  action?: string;
}

export interface DlpSummary {
  enabled: boolean;
  mode: string;
  responses: boolean;
  /** For these hosts (and paths), these rules get this action. */
  exceptions: { hosts: string[]; paths: string[]; rules: string[]; action: string }[];
}

interface DlpShape {
  enabled?: unknown;
  mode?: unknown;
  responses?: unknown;
  rules?: unknown;
  actions?: Record<string, unknown>;
  exceptions?: unknown;
}

function dlpOf(config: unknown): DlpShape | undefined {
  const d = (config as { dlp?: unknown } | undefined)?.dlp;
  return d && typeof d === 'object' ? (d as DlpShape) : undefined;
}

export function dlpRulesOf(config: unknown): DlpRuleInfo[] {
  const d = dlpOf(config);
  if (!d || !Array.isArray(d.rules)) return [];
  return (d.rules as { id?: unknown; description?: unknown; service?: unknown; source?: unknown; severity?: unknown; action?: unknown }[])
    .filter((r) => typeof r?.id === 'string')
    .map((r) => ({
      id: r.id as string,
      description: typeof r.description === 'string' ? r.description : '',
      service: typeof r.service === 'string' ? r.service : undefined,
      source: typeof r.source === 'string' ? r.source : undefined,
      severity: typeof r.severity === 'string' ? r.severity : undefined,
      action: typeof d.actions?.[r.id as string] === 'string' ? (d.actions[r.id as string] as string) : typeof r.action === 'string' ? r.action : undefined,
    }));
}

export function dlpSummaryOf(config: unknown): DlpSummary | null {
  const d = dlpOf(config);
  if (!d) return null;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const exceptions = (Array.isArray(d.exceptions) ? (d.exceptions as Record<string, unknown>[]) : []).map((e) => ({
    hosts: strings(e?.hosts),
    paths: strings(e?.paths),
    rules: strings(e?.rules),
    action: typeof e?.action === 'string' ? e.action : '',
  }));
  return { enabled: d.enabled !== false, mode: typeof d.mode === 'string' ? d.mode : 'enforce', responses: d.responses === true, exceptions };
}
