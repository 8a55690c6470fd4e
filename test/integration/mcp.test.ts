// MCP over HTTP through a real airlock: the official TypeScript SDK's client (streamable HTTP
// transport) against a small MCP server built with the same SDK, over TLS with a test CA, on a
// base-URL route and through the explicit proxy. A tool the policy denies comes back to the
// client as a JSON-RPC error it shows, the server never sees the call, and every call is recorded
// with its method, tool and arguments (DLP-redacted).
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { freePort } from '../helpers/dns.ts';
import { DLP_KEY } from '../helpers/ui-fixture.ts';
import { loopbackIp } from '../helpers/upstream.ts';

let dir: string;
let server: https.Server;
let airlock: TestAirlock;
/** Tool calls that reached the MCP server. */
const called: { tool: string; args: Record<string, unknown> }[] = [];
/** The Authorization each request to secure-mcp.test carried (airlock injects it there). */
const secureAuth: (string | undefined)[] = [];
const MCP_TOKEN = 'mcp-server-token-REAL-5e1c7a90';

function mcpServer(): McpServer {
  const s = new McpServer({ name: 'files', version: '1.0.0' });
  s.registerTool('read_file', { description: 'Read a file', inputSchema: { path: z.string() } }, async (args) => {
    called.push({ tool: 'read_file', args });
    return { content: [{ type: 'text', text: `contents of ${args.path}` }] };
  });
  s.registerTool('delete_file', { description: 'Delete a file', inputSchema: { path: z.string() } }, async (args) => {
    called.push({ tool: 'delete_file', args });
    return { content: [{ type: 'text', text: `deleted ${args.path}` }] };
  });
  return s;
}

beforeAll(async () => {
  dir = tempDir();
  const ip = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['mcp.test', 'plain-mcp.test', 'secure-mcp.test', 'report-mcp.test']);
  // Stateless streamable HTTP: a server and a transport per request (the SDK's own pattern).
  server = https.createServer({ cert: pki.cert, key: pki.key }, async (req, res) => {
    if (req.headers.host?.startsWith('secure-mcp.test')) secureAuth.push(req.headers.authorization);
    const s = mcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void s.close();
    });
    await s.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((r) => server.listen(0, ip, r));
  const port = (server.address() as AddressInfo).port;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:${await freePort()}
routes:
  - listen: 127.0.0.1:${await freePort()}
    upstream: https://mcp.test:${port}
upstream:
  ca_files: [${pki.caCert}]
  resolve: { mcp.test: ${ip}, plain-mcp.test: ${ip}, secure-mcp.test: ${ip}, report-mcp.test: ${ip} }
hosts:
  - name: files-mcp
    match: mcp.test
    ports: [${port}]
    mcp: { tools: [read_*, delete_*], deny: [delete_*] }
  - name: plain-mcp
    match: plain-mcp.test
    ports: [${port}]
  - name: secure-mcp
    match: secure-mcp.test
    ports: [${port}]
    mcp: { deny: [delete_*] }
    inject: { bearer: env:MCP_TOKEN }
  - name: report-mcp
    match: report-mcp.test
    ports: [${port}]
    methods: [GET]
    mode: report
    mcp: { deny: [delete_*] }
dlp:
  actions: { anthropic-api-key: redact }
`,
    { MCP_TOKEN },
    dir,
  );
});

afterAll(async () => {
  await airlock?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function connect(url: string, fetchImpl?: typeof fetch): Promise<Client> {
  const client = new Client({ name: 'airlock-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), fetchImpl ? { fetch: fetchImpl } : {}));
  return client;
}

interface McpRow {
  flow: number;
  decision: string;
  code: string | null;
  method: string;
  tool: string | null;
  arguments: string | null;
}

async function recorded(): Promise<McpRow[]> {
  await airlock.store.flush();
  return airlock.store.db
    .prepare('SELECT f.id AS flow, f.decision, f.code, m.method, m.tool, m.arguments FROM mcp_calls m JOIN flows f ON f.id = m.flow_id ORDER BY f.id, m.seq')
    .all() as McpRow[];
}

describe('MCP through airlock', () => {
  it('a denied tool is a JSON-RPC error the SDK client shows; the server never sees it; every call is recorded', async () => {
    const client = await connect(`http://${airlock.addresses.routes[0].address}/mcp`);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['delete_file', 'read_file']);

    const ok = await client.callTool({ name: 'read_file', arguments: { path: '/etc/motd' } });
    expect(ok.content).toEqual([{ type: 'text', text: 'contents of /etc/motd' }]);

    const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/etc/passwd' } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(denied).toBeInstanceOf(McpError);
    expect((denied as McpError).code).toBe(-32001);
    expect((denied as McpError).message).toContain('the MCP tool "delete_file" is denied by rule files-mcp (mcp.deny delete_*)');
    expect((denied as McpError).data).toMatchObject({ error: 'mcp_tool_denied', tool: 'delete_file', rule: 'files-mcp' });
    expect(called.map((c) => c.tool)).toEqual(['read_file']);

    // A secret in a tool's arguments: DLP redacts it on the way (this policy's action) and in the record.
    const withKey = await client.callTool({ name: 'read_file', arguments: { path: `/keys/${DLP_KEY}` } });
    expect(JSON.stringify(withKey.content)).not.toContain(DLP_KEY);
    expect(JSON.stringify(called[1].args)).not.toContain(DLP_KEY);
    await client.close();

    const rows = await recorded();
    const methods = rows.map((r) => r.method);
    expect(methods).toEqual(expect.arrayContaining(['initialize', 'notifications/initialized', 'tools/list', 'tools/call']));
    const calls = rows.filter((r) => r.method === 'tools/call');
    expect(calls.map((r) => [r.tool, r.decision, r.code])).toEqual([
      ['read_file', 'allow', null],
      ['delete_file', 'deny', 'mcp_tool_denied'],
      ['read_file', 'allow', null],
    ]);
    expect(JSON.parse(calls[0].arguments!)).toEqual({ path: '/etc/motd' });
    expect(JSON.parse(calls[1].arguments!)).toEqual({ path: '/etc/passwd' });
    expect(calls[2].arguments).not.toContain(DLP_KEY);
    expect(calls[2].arguments).toContain('[REDACTED:anthropic-api-key]');
    const flow = airlock.store.db.prepare('SELECT status, reason FROM flows WHERE id = ?').get(calls[1].flow);
    expect(flow).toEqual({ status: 200, reason: 'the MCP tool "delete_file" is denied by rule files-mcp (mcp.deny delete_*)' });
  });

  it('the same through the explicit proxy (CONNECT, TLS to airlock)', async () => {
    const before = called.length;
    const proxy = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const viaProxy = ((input: string | URL | Request, init?: RequestInit) => undiciFetch(input as string, { ...(init as object), dispatcher: proxy })) as unknown as typeof fetch;
    const port = (server.address() as AddressInfo).port;
    const client = await connect(`https://mcp.test:${port}/mcp`, viaProxy);
    const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/' } }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(McpError);
    expect((denied as McpError).message).toContain('denied by rule files-mcp');
    expect(called.length).toBe(before);
    await client.close();
    await proxy.close();
  });

  it('an MCP server whose rule has no mcp key: its calls are recorded all the same (from the MCP headers), none refused', async () => {
    const proxy = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const viaProxy = ((input: string | URL | Request, init?: RequestInit) => undiciFetch(input as string, { ...(init as object), dispatcher: proxy })) as unknown as typeof fetch;
    const port = (server.address() as AddressInfo).port;
    const client = await connect(`https://plain-mcp.test:${port}/mcp`, viaProxy);
    const r = await client.callTool({ name: 'delete_file', arguments: { path: '/tmp/x' } });
    expect(r.content).toEqual([{ type: 'text', text: 'deleted /tmp/x' }]);
    await client.close();
    await proxy.close();
    await airlock.store.flush();
    const rows = airlock.store.db
      .prepare("SELECT m.method, m.tool, m.arguments, f.decision FROM mcp_calls m JOIN flows f ON f.id = m.flow_id WHERE f.host = 'plain-mcp.test' AND m.method = 'tools/call'")
      .all();
    expect(rows).toEqual([{ method: 'tools/call', tool: 'delete_file', arguments: '{"path":"/tmp/x"}', decision: 'allow' }]);
  });

  it('an MCP server whose rule injects a credential: an allowed call, read whole and checked, goes on with the credential; a denied one never gets it', async () => {
    const before = called.length;
    const proxy = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const viaProxy = ((input: string | URL | Request, init?: RequestInit) => undiciFetch(input as string, { ...(init as object), dispatcher: proxy })) as unknown as typeof fetch;
    const port = (server.address() as AddressInfo).port;
    const client = await connect(`https://secure-mcp.test:${port}/mcp`, viaProxy);
    const ok = await client.callTool({ name: 'read_file', arguments: { path: '/srv/a' } });
    expect(ok.content).toEqual([{ type: 'text', text: 'contents of /srv/a' }]);
    const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/srv/a' } }).catch((e: unknown) => e);
    expect((denied as McpError).message).toContain('denied by rule secure-mcp');
    await client.close();
    await proxy.close();
    expect(called.slice(before)).toEqual([{ tool: 'read_file', args: { path: '/srv/a' } }]);
    // Every request that reached the server (initialize, the allowed call, ...) carried the credential.
    expect(secureAuth.length).toBeGreaterThan(0);
    expect(secureAuth.every((a) => a === `Bearer ${MCP_TOKEN}`)).toBe(true);
    await airlock.store.flush();
    const rows = airlock.store.db
      .prepare("SELECT f.request_headers AS headers, f.decision FROM mcp_calls m JOIN flows f ON f.id = m.flow_id WHERE f.host = 'secure-mcp.test' AND m.method = 'tools/call' ORDER BY f.id")
      .all() as { headers: string; decision: string }[];
    expect(rows.map((r) => r.decision)).toEqual(['allow', 'deny']);
    for (const r of rows) expect(r.headers).not.toContain(MCP_TOKEN);
  });

  it('report mode lets through what the host rule would deny, but a denied MCP tool stays denied', async () => {
    const before = called.length;
    const proxy = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem } });
    const viaProxy = ((input: string | URL | Request, init?: RequestInit) => undiciFetch(input as string, { ...(init as object), dispatcher: proxy })) as unknown as typeof fetch;
    const port = (server.address() as AddressInfo).port;
    const client = await connect(`https://report-mcp.test:${port}/mcp`, viaProxy);
    const ok = await client.callTool({ name: 'read_file', arguments: { path: '/srv/r' } });
    expect(ok.content).toEqual([{ type: 'text', text: 'contents of /srv/r' }]);
    const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/srv/r' } }).catch((e: unknown) => e);
    expect((denied as McpError).message).toContain('denied by rule report-mcp');
    await client.close();
    await proxy.close();
    expect(called.slice(before)).toEqual([{ tool: 'read_file', args: { path: '/srv/r' } }]);
    await airlock.store.flush();
    const rows = airlock.store.db
      .prepare("SELECT f.decision, f.code FROM mcp_calls m JOIN flows f ON f.id = m.flow_id WHERE f.host = 'report-mcp.test' AND m.method = 'tools/call' ORDER BY f.id")
      .all();
    // POST is not in the rule's methods: the allowed tool went through as would_deny; the denied tool was answered by airlock.
    expect(rows).toEqual([
      { decision: 'would_deny', code: 'method_not_allowed' },
      { decision: 'deny', code: 'mcp_tool_denied' },
    ]);
  });

  it('a batch holding a denied call is not sent; an unreadable body gets a JSON-RPC error', async () => {
    const base = `http://${airlock.addresses.routes[0].address}/mcp`;
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_file', arguments: { path: 'a' } } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'delete_file', arguments: { path: 'b' } } },
    ];
    const r = await fetch(base, { method: 'POST', headers, body: JSON.stringify(batch) });
    expect(r.status).toBe(200);
    // airlock's answer, not the server's: the same headers as any refusal (issue 15), Proxy-Status included.
    expect(r.headers.get('x-airlock-decision')).toBe('mcp_tool_denied');
    expect(r.headers.get('proxy-status')).toMatch(/^airlock; error=http_request_denied; details="mcp_tool_denied: the MCP tool \\"delete_file\\" is denied/);
    const answers = (await r.json()) as { id: number; error: { code: number; data: { error: string } } }[];
    expect(answers.map((a) => [a.id, a.error.code, a.error.data.error])).toEqual([
      [1, -32001, 'mcp_batch_refused'],
      [2, -32001, 'mcp_tool_denied'],
    ]);
    const bad = await fetch(base, { method: 'POST', headers, body: '{"not": "json-rpc"' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('proxy-status')).toMatch(/^airlock; error=http_request_error; details="mcp_unreadable: /);
    expect(await bad.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, data: { error: 'mcp_unreadable' } } });
    expect(called.filter((c) => c.args.path === 'a' || c.args.path === 'b')).toEqual([]);
  });
});
