// Schema 4's LLM columns and the hash chain: rows from before it keep verifying, LLM values are covered.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { newFlow } from '../../proxy/flow.ts';
import { createBatchWriter } from '../../proxy/store/batch.ts';
import { COLUMNS, llmValues, STORED_COLUMNS, toRow } from '../../proxy/store/rows.ts';
import { migrate } from '../../proxy/store/schema.ts';
import { verifyChain } from '../../proxy/store/verify.ts';
import { tempDir } from '../helpers/airlock.ts';

const opened: Database.Database[] = [];
afterEach(() => opened.splice(0).forEach((d) => d.open && d.close()));

const flow = () => toRow(newFlow({ entry: 'explicit', listener: 'l', client: 'c', host: 'api.test', method: 'POST', path: '/v1/messages' }));

it('rows written before schema 4 verify after it; the LLM values of newer rows are hashed', () => {
  const db = new Database(path.join(tempDir(), 'flows.sqlite'));
  opened.push(db);
  migrate(db, 3);
  createBatchWriter(db, COLUMNS)([flow(), flow()], [], Buffer.alloc(0));
  migrate(db);
  const write = createBatchWriter(db, STORED_COLUMNS, COLUMNS.length);
  const llm = llmValues({ provider: 'anthropic', model: 'claude-x', inputTokens: 10, outputTokens: 5, stopReason: 'end_turn', tools: ['t'], called: [] });
  write([[...flow(), ...llm], [...flow(), ...llmValues(null)]], [], Buffer.alloc(0));
  expect(verifyChain(db)).toMatchObject({ ok: true, verified: 4 });

  db.prepare('UPDATE flows SET llm_model = NULL, llm_provider = NULL, llm_input_tokens = NULL, llm_output_tokens = NULL, llm_stop_reason = NULL, llm_tools = NULL WHERE id = 3').run();
  expect(verifyChain(db)).toMatchObject({ ok: false, problem: 'flow 3: hash mismatch (row changed after it was written)' });
  db.prepare("UPDATE flows SET llm_model = 'claude-x', llm_provider = 'anthropic', llm_input_tokens = 10, llm_output_tokens = 5, llm_stop_reason = 'end_turn', llm_tools = '[\"t\"]' WHERE id = 3").run();
  db.prepare("UPDATE flows SET llm_model = 'forged' WHERE id = 1").run();
  expect(verifyChain(db)).toMatchObject({ ok: false, problem: 'flow 1: hash mismatch (row changed after it was written)' });
});
