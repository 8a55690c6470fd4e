// Budget counters in PostgreSQL (as counters.cjs does for SQLite; proxy/budgets/): what each agent
// used of each budget per window, summed over every instance writing this store. A claim is one
// transaction holding the counter's row lock, so instances claiming at once are served one after
// the other and never grant the same share twice. Operations run one at a time, in the order
// sent (an addition is seen by every claim and read sent after it), on a connection of their own,
// so a slow batch write never holds a claim up.
// Plain CommonJS: the PostgreSQL writer thread runs it.
'use strict';

const KEY = 'budget = $1 AND agent = $2 AND metric = $3 AND window_start = $4';

function createPgCounters(pool) {
  let queue = Promise.resolve();
  const serial = (fn) => {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  };

  /** Grants up to `want` of what is left under `max` (0 when nothing is): key = [budget, agent, metric, window_start]. */
  const claim = (key, want, max) =>
    serial(async () => {
      const client = await pool.connect();
      let broken = true;
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO budget_counters (budget, agent, metric, window_start, used) VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING', key);
        const used = Number((await client.query(`SELECT used FROM budget_counters WHERE ${KEY} FOR UPDATE`, key)).rows[0].used);
        const granted = Math.max(0, Math.min(want, max - used));
        if (granted > 0) await client.query(`UPDATE budget_counters SET used = used + $5 WHERE ${KEY}`, [...key, granted]);
        await client.query('COMMIT');
        broken = false;
        return granted;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release(broken);
      }
    });

  /** [[budget, agent, metric, window_start, delta], ...]: one statement, so all or none. */
  const add = (given) => {
    // One row per counter: a statement may not update the same row twice.
    const sums = new Map();
    for (const r of given) {
      const k = JSON.stringify(r.slice(0, 4));
      const had = sums.get(k);
      if (had) had[4] += r[4];
      else sums.set(k, [...r]);
    }
    const rows = [...sums.values()];
    return serial(() =>
      pool.query(
        `INSERT INTO budget_counters AS c (budget, agent, metric, window_start, used)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
         ON CONFLICT (budget, agent, metric, window_start) DO UPDATE SET used = c.used + excluded.used`,
        [0, 1, 2, 3, 4].map((k) => rows.map((r) => r[k])),
      ),
    );
  };

  const read = (from) =>
    serial(async () =>
      (await pool.query('SELECT budget, agent, metric, window_start, used FROM budget_counters WHERE window_start >= $1', [from])).rows.map((r) => [
        r.budget,
        r.agent,
        r.metric,
        Number(r.window_start),
        Number(r.used),
      ]),
    );

  const prune = (before) => serial(() => pool.query('DELETE FROM budget_counters WHERE window_start < $1', [before]));

  return { claim, add, read, prune };
}

module.exports = { createPgCounters };
