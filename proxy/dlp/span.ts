// The longest match an RE2 pattern can produce, in bytes (Infinity when unbounded), read from
// the pattern text. Lets the engine run a rule only near its keywords: a match that contains a
// keyword at p lies within [p - max, p + max]. Errs on the long side (a class counts 4 bytes
// when it may match non-ASCII), never on the short side.
export function maxMatchLength(pattern: string): number {
  let i = 0;
  const p = pattern;

  // alternation := sequence ('|' sequence)*
  function alternation(): number {
    let best = sequence();
    while (p[i] === '|') {
      i++;
      best = Math.max(best, sequence());
    }
    return best;
  }

  function sequence(): number {
    let total = 0;
    while (i < p.length && p[i] !== '|' && p[i] !== ')') total += quantified(atom());
    return total;
  }

  function atom(): number {
    const c = p[i];
    if (c === '(') {
      i++;
      if (p[i] === '?') {
        // (?:...), (?i), (?i:...), (?P<name>...), (?<name>...)
        i++;
        if (p[i] === 'P' || p[i] === '<') {
          while (i < p.length && p[i] !== '>') i++;
          i++;
        } else {
          while (i < p.length && p[i] !== ':' && p[i] !== ')') i++;
          if (p[i] === ')') {
            i++;
            return 0; // a flag group: (?i)
          }
          i++;
        }
      }
      const n = alternation();
      i++; // ')'
      return n;
    }
    if (c === '[') return charClass();
    if (c === '\\') {
      const e = p[i + 1];
      i += 2;
      if (e === 'x' && p[i] === '{') {
        while (p[i] !== '}') i++;
        i++;
        return 4;
      }
      if (e === 'x') i += 2;
      if (e === 'p' || e === 'P') {
        if (p[i] === '{') while (p[i++] !== '}');
        else i++;
        return 4;
      }
      if ('bBAz'.includes(e)) return 0;
      return 1;
    }
    i++;
    if (c === '^' || c === '$') return 0;
    if (c === '.') return 4;
    return Buffer.byteLength(c);
  }

  function charClass(): number {
    i++;
    let wide = false;
    if (p[i] === ']') i++;
    while (i < p.length && p[i] !== ']') {
      if (p[i] === '\\') {
        if ('pPW'.includes(p[i + 1]) || p[i + 1] === 'x') wide = true;
        i += 2;
      } else {
        if (p.charCodeAt(i) > 0x7f) wide = true;
        i++;
      }
    }
    i++;
    // A negated class matches non-ASCII too.
    return wide || p.slice(0, i).endsWith('^]') ? 4 : classMax(p, i);
  }

  function quantified(n: number): number {
    for (;;) {
      const c = p[i];
      if (c === '*' || c === '+') {
        i++;
        if (p[i] === '?') i++;
        if (n > 0) return Infinity;
      } else if (c === '?') {
        i++;
        if (p[i] === '?') i++;
      } else if (c === '{') {
        const close = p.indexOf('}', i);
        const [lo, hi] = p.slice(i + 1, close).split(',');
        i = close + 1;
        if (p[i] === '?') i++;
        if (hi === '') return n > 0 ? Infinity : 0;
        n *= Number(hi ?? lo);
      } else return n;
    }
  }

  const n = alternation();
  return i < p.length ? Infinity : n;
}

/** A class like [^a-z] matches any byte sequence of a character: up to 4 bytes. */
function classMax(p: string, end: number): number {
  let start = end - 2;
  while (start > 0 && !(p[start] === '[' && p[start - 1] !== '\\')) start--;
  return p[start + 1] === '^' ? 4 : 1;
}
