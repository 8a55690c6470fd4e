// Budget counters in the store (schema 7, proxy/budgets/): what each agent used of each budget
// per window, summed over every airlock process that writes this store. Claims and additions run
// in their own IMMEDIATE transactions, so two processes never grant the same share twice.
// Plain CommonJS: the writer thread runs it.
'use strict';

function createCounters(db) {
  const ensure = db.prepare('INSERT INTO budget_counters (budget, agent, metric, window_start, used) VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING');
  const get = db.prepare('SELECT used FROM budget_counters WHERE budget = ? AND agent = ? AND metric = ? AND window_start = ?').pluck();
  const bump = db.prepare('UPDATE budget_counters SET used = used + ? WHERE budget = ? AND agent = ? AND metric = ? AND window_start = ?');
  const since = db.prepare('SELECT budget, agent, metric, window_start, used FROM budget_counters WHERE window_start >= ?').raw();
  const prune = db.prepare('DELETE FROM budget_counters WHERE window_start < ?');
  /** Grants up to `want` of what is left under `max` (0 when nothing is): [budget, agent, metric, window_start]. */
  const claim = db.transaction((key, want, max) => {
    ensure.run(...key);
    const used = get.get(...key);
    const granted = Math.max(0, Math.min(want, max - used));
    if (granted > 0) bump.run(granted, ...key);
    return granted;
  });
  /** [[budget, agent, metric, window_start, delta], ...] */
  const add = db.transaction((rows) => {
    for (const r of rows) {
      ensure.run(r[0], r[1], r[2], r[3]);
      bump.run(r[4], r[0], r[1], r[2], r[3]);
    }
  });
  return {
    claim: (key, want, max) => claim.immediate(key, want, max),
    add: (rows) => add.immediate(rows),
    read: (from) => since.all(from),
    prune: (before) => prune.run(before).changes,
  };
}

module.exports = { createCounters };
