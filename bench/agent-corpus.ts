// Agent traffic for the benches, in the shape of the shared harness's `agent` workload
// (../shared/bench/lib/agent-bodies.js): an Anthropic Messages API conversation whose history
// grows turn by turn, tool_use/tool_result pairs carrying real JavaScript from npm's own tree
// (with "token", "auth" and "password" where real code has them), 10-350 KB per body. Turn t of a
// session sends the whole history up to t; sessions never share a message.
import fs from 'node:fs';
import path from 'node:path';

export interface Conversation {
  head: string;
  tail: string;
  /** Message JSON texts; `@@S@@` stands for the session number. */
  messages: string[];
  turns: number;
}

export function conversation(turns = 60, maxFileBytes = 20_000): Conversation {
  const root = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const files: string[] = [];
  (function walk(d: string) {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && !/test|fixture/i.test(p)) files.push(p);
    }
  })(root);
  const step = Math.floor(files.length / turns);
  const system = 'You are a coding agent working in a repository. Use the tools to read files, run commands and edit code. '.repeat(40);
  const tools = ['Read', 'Write', 'Edit', 'Bash', 'Grep', 'Glob', 'WebFetch', 'TodoWrite'].map((name) => ({
    name,
    description: `${name}: ${'Performs the operation described by its parameters and returns the result as text. '.repeat(12)}`,
    input_schema: { type: 'object', properties: { path: { type: 'string' }, command: { type: 'string' } } },
  }));
  const head = `${JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 4096, stream: false, system, tools }).slice(0, -1)},"messages":[`;
  const messages = [JSON.stringify({ role: 'user', content: 'Session @@S@@: audit how this package handles registry authentication and report.' })];
  for (let t = 1; t <= turns; t++) {
    const file = files[(t - 1) * step];
    const rel = path.relative(root, file);
    const text = fs.readFileSync(file, 'utf8').slice(0, maxFileBytes);
    const id = `toolu_@@S@@_${String(t).padStart(3, '0')}`;
    messages.push(JSON.stringify({ role: 'assistant', content: [{ type: 'text', text: `Reading ${rel}.` }, { type: 'tool_use', id, name: 'Read', input: { path: rel } }] }));
    messages.push(JSON.stringify({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: text }] }));
  }
  return { head, tail: ']}', messages, turns };
}

/** The request bodies of one session: turn t sends messages 0 .. 2t. */
export function sessionBodies(c: Conversation, session: number): Buffer[] {
  const msgs = c.messages.map((m) => m.replaceAll('@@S@@', String(session)));
  const out: Buffer[] = [];
  for (let t = 1; t <= c.turns; t++) out.push(Buffer.from(c.head + msgs.slice(0, 2 * t + 1).join(',') + c.tail));
  return out;
}

/** Bytes of one session's distinct content: every message once. */
export function distinctBytes(c: Conversation): number {
  return Buffer.byteLength(c.head + c.messages.join(',') + c.tail);
}
