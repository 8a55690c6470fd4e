// WebSocket messages from the agent, scanned like bodies: the agent's frames are parsed (ws's
// Receiver, masked client frames), each whole message is scanned, and clean (or redacted)
// messages are framed again for the upstream (ws's Sender, masked as a client must). A block
// closes both sides with 1008, an oversized message with 1009. Every WebSocket goes through
// here (the size limit holds with DLP off too), and compression is never negotiated (the
// agent's Sec-WebSocket-Extensions is not forwarded), so every frame is readable. Another rule's
// placeholder in a message closes both sides with 1008 too (placeholder_exfiltration).
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { type Finding, type Rules, scanValue } from './stream.ts';

// ws exports its frame parser and writer, but @types/ws does not declare them.
interface FrameReader {
  write(chunk: Buffer): boolean;
  on(e: 'message', f: (data: Buffer, isBinary: boolean) => void): this;
  on(e: 'ping' | 'pong', f: (data: Buffer) => void): this;
  on(e: 'conclude', f: (code: number, reason: Buffer) => void): this;
  on(e: 'error', f: (err: Error & { code?: string }) => void): this;
}
interface FrameWriter {
  send(data: Buffer, o: { binary: boolean; fin: boolean; mask: boolean; compress: boolean }): void;
  ping(data: Buffer, mask: boolean): void;
  pong(data: Buffer, mask: boolean): void;
  close(code: number | undefined, reason: Buffer | string, mask: boolean, cb?: () => void): void;
}
export const { Receiver, Sender } = createRequire(import.meta.url)('ws') as {
  Receiver: new (o: { isServer: boolean; maxPayload: number; binaryType: 'nodebuffer' }) => FrameReader;
  Sender: new (socket: Duplex) => FrameWriter;
};

export type WsRefusal = 'dlp_blocked' | 'placeholder_exfiltration' | 'bad_websocket' | 'websocket_message_too_large';

export interface WsScanHooks {
  onFinding: (f: Finding) => void;
  /** A message was blocked (or the agent broke the protocol): both sides are being closed. */
  onRefused: (code: WsRefusal, reason: string, finding?: Finding) => void;
  /** Values no message may carry (other rules' placeholders), and the reason naming one. */
  placeholders?: { values: readonly Buffer[]; reason: (i: number) => string };
}

/**
 * Returns the writer for the agent's bytes; its messages go to `up`, scanned when `rules` is
 * given. Every message is held to `maxMessage` bytes (limits.max_websocket_message_bytes).
 */
export function scanAgentMessages(agent: Duplex, up: Duplex, rules: Rules | null, maxMessage: number, hooks: WsScanHooks): (chunk: Buffer) => void {
  const rx = new Receiver({ isServer: true, maxPayload: maxMessage, binaryType: 'nodebuffer' });
  const tx = new Sender(up);
  let refused = false;
  const refuse = (code: 1008 | 1009 | 1002, kind: WsRefusal, reason: string, finding?: Finding) => {
    if (refused) return;
    refused = true;
    hooks.onRefused(kind, reason, finding);
    // A server's close frame is not masked.
    new Sender(agent).close(code, reason.slice(0, 120), false, () => agent.end());
    tx.close(1001, '', true, () => up.end());
  };
  const foreign = hooks.placeholders;
  rx.on('message', (data, isBinary) => {
    if (refused) return;
    const hit = foreign ? foreign.values.findIndex((v) => data.indexOf(v) >= 0) : -1;
    if (hit >= 0) return refuse(1008, 'placeholder_exfiltration', foreign!.reason(hit));
    if (!rules) return tx.send(data, { binary: isBinary, fin: true, mask: true, compress: false });
    const r = scanValue(rules, data, 'websocket');
    r.findings.forEach(hooks.onFinding);
    if (r.out === null) return refuse(1008, 'dlp_blocked', `a WebSocket message matched DLP rule ${r.blocked!.ruleId}`, r.blocked);
    tx.send(r.out, { binary: isBinary, fin: true, mask: true, compress: false });
  });
  rx.on('ping', (d) => tx.ping(d, true));
  rx.on('pong', (d) => tx.pong(d, true));
  rx.on('conclude', (code, reason) => tx.close(code === 1005 ? undefined : code, reason, true));
  rx.on('error', (err) =>
    err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
      ? refuse(1009, 'websocket_message_too_large', `a WebSocket message is larger than limits.max_websocket_message_bytes (${maxMessage})`)
      : refuse(1002, 'bad_websocket', err.message),
  );
  return (chunk) => {
    if (!refused) rx.write(chunk);
  };
}
