// The `include` list: presets (policies/presets/) by name, or as a mapping that scopes them
// (`agents`, `mode`) and wires their credential (`secret`, `placeholder`). Each preset rule becomes
// a host rule after the policy's own, so a rule the operator wrote always wins a tie.
import { type DraftRule, type HostsContext, parseAgents, parseMode, parseRule } from './parse-hosts.ts';
import { PRESET_NAMES, PRESETS } from './presets/index.ts';
import { Problems, checkKeys, join, mapping, present, readString, suggest } from './problems.ts';

const INCLUDE_KEYS = ['preset', 'agents', 'mode', 'secret', 'placeholder'];

export function parseIncludes(value: unknown, ctx: HostsContext, firstIndex: number): { rules: DraftRule[]; presets: string[] } {
  const out = { rules: [] as DraftRule[], presets: [] as string[] };
  if (value === null || value === undefined) return out;
  const { p } = ctx;
  if (!Array.isArray(value)) {
    p.add('include', 'expected a list of preset names');
    return out;
  }
  value.forEach((item, i) => {
    const path = `include[${i}]`;
    const fields = typeof item === 'string' ? new Map<string, unknown>([['preset', item]]) : mapping(item, path, p);
    if (!fields) return;
    checkKeys(fields, INCLUDE_KEYS, path, p);
    const name = present(fields, 'preset') ? readString(fields.get('preset'), typeof item === 'string' ? path : join(path, 'preset'), p) : undefined;
    if (name === undefined) {
      if (!present(fields, 'preset')) p.add(join(path, 'preset'), 'required');
      return;
    }
    const preset = PRESETS[name];
    if (!preset) {
      const guess = suggest(name, PRESET_NAMES);
      p.add(typeof item === 'string' ? path : join(path, 'preset'), `no preset "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}; presets: ${PRESET_NAMES.join(', ')}`);
      return;
    }
    if (out.presets.includes(name)) {
      p.add(path, `preset "${name}" is included twice`);
      return;
    }
    out.presets.push(name);
    const agents = parseAgents(fields, path, ctx);
    const mode = parseMode(fields, path, p);
    const secret = present(fields, 'secret') ? readString(fields.get('secret'), join(path, 'secret'), p) : undefined;
    if ((secret !== undefined || present(fields, 'placeholder')) && !preset.credentialHeader) {
      p.add(join(path, 'secret'), `preset "${name}" takes no credential`);
      return;
    }
    if (present(fields, 'placeholder') && secret === undefined) p.add(join(path, 'placeholder'), 'needs "secret": the placeholder stands for it');
    for (const r of preset.hosts) {
      const raw = new Map<string, unknown>(Object.entries(r).filter(([k]) => k !== 'credential'));
      if (agents) raw.set('agents', agents);
      if (mode) raw.set('mode', mode);
      const wired = r.credential && secret !== undefined;
      if (wired) {
        raw.set('inject', { headers: { [preset.credentialHeader!]: secret } });
        if (present(fields, 'placeholder')) raw.set('placeholder', fields.get('placeholder'));
      }
      // Problems of the wiring are the include entry's (`include[1].secret: environment variable X is not set`).
      const local = new Problems();
      const rule = parseRule(raw, firstIndex + out.rules.length, path, { ...ctx, p: local }, ctx.ids ??= new Map(), (ctx.placeholderOwners ??= new Map()));
      for (const line of local.list) p.list.push(line.replace(`${path}.inject.headers.${preset.credentialHeader}`, `${path}.secret`));
      if (rule) out.rules.push({ ...rule, preset: name });
    }
  });
  return out;
}
