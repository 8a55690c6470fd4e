// Command-line options for every airlock command: node:util parseArgs, with errors a person can
// act on ("unknown option --hots (did you mean --host?)") instead of Node's parser text.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../flow-filter.ts';
import { editDistance } from '../../policies/problems.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with strict checking; a bad flag is a UsageError naming it and the closest known one. */
export function parseCli<O extends Options>(args: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(describeArgError(e as NodeJS.ErrnoException, options));
  }
}

function describeArgError(e: NodeJS.ErrnoException, options: Options): string {
  const flag = /'(-{1,2}[^'\s]*)'/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const name = (flag ?? '').replace(/^-+/, '').replace(/=.*$/, '');
      const known = Object.keys(options);
      const guess = closest(name, known);
      return `unknown option ${flag ?? name}${guess ? ` (did you mean --${guess}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = /--([\w-]+)/.exec(e.message)?.[1];
      const o = name ? options[name] : undefined;
      return o?.type === 'boolean' ? `option --${name} takes no value` : `option --${name ?? '?'} needs a value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''}`.trim();
    default:
      return e.message;
  }
}

/** The candidate closest to `word` (edit distance at most 2, or a prefix of at least 3 letters), or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 1 : editDistance(word, c);
    if (d < bestDistance) (best = c), (bestDistance = d);
  }
  return bestDistance <= Math.min(2, Math.max(1, Math.floor(word.length / 2))) ? best : undefined;
}

/** "unknown subcommand "lsit" (did you mean "list"?)" */
export function unknownSubcommand(what: string, word: string, known: readonly string[]): UsageError {
  const guess = closest(word, known);
  return new UsageError(`unknown ${what} "${word}"${guess ? ` (did you mean "${guess}"?)` : ''}; expected ${known.join(', ')}`);
}
