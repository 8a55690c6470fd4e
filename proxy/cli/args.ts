// Command-line options for every airlock command: node:util parseArgs, with errors a person can
// act on ("unknown option --hots (did you mean --host?)") instead of Node's parser text.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../flow-filter.ts';

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
    const d = c.startsWith(word) && word.length >= 3 ? 1 : distance(word, c);
    if (d < bestDistance) (best = c), (bestDistance = d);
  }
  return bestDistance <= Math.min(2, Math.max(1, Math.floor(word.length / 2))) ? best : undefined;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two neighbours counts once. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** "unknown subcommand "lsit" (did you mean "list"?)" */
export function unknownSubcommand(what: string, word: string, known: readonly string[]): UsageError {
  const guess = closest(word, known);
  return new UsageError(`unknown ${what} "${word}"${guess ? ` (did you mean "${guess}"?)` : ''}; expected ${known.join(', ')}`);
}
