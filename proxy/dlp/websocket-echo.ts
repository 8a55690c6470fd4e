// Upstream-to-agent WebSocket messages on a rule that injects a credential: the upstream's
// frames are parsed (ws's Receiver, unmasked server frames), each whole message — and a close
// frame's reason — is scrubbed of every form of the key (echo.ts), and framed again for the
// agent (ws's Sender, unmasked as a server's). A message larger than maxMessage closes both sides
// with 1009, as on the agent's side: a message is scrubbed whole, so it is held whole.
import type { Duplex } from 'node:stream';
import { type EchoSet, scrubEchoes } from './echo.ts';
import { Receiver, Sender } from './websocket.ts';

export interface EchoHooks {
  /** The upstream broke the protocol or sent too large a message: both sides are being closed. */
  onRefused: (code: 'bad_websocket' | 'websocket_message_too_large', reason: string) => void;
}

/** Returns the writer for the upstream's bytes; what reaches the agent never holds the key. */
export function scrubUpstreamMessages(up: Duplex, agent: Duplex, echo: EchoSet, maxMessage: number, hooks: EchoHooks): (chunk: Buffer) => void {
  const rx = new Receiver({ isServer: false, maxPayload: maxMessage, binaryType: 'nodebuffer' });
  const tx = new Sender(agent);
  const scrub = (b: Buffer) => scrubEchoes(echo, b, true).out;
  let refused = false;
  const refuse = (code: 1002 | 1009, kind: 'bad_websocket' | 'websocket_message_too_large', reason: string) => {
    if (refused) return;
    refused = true;
    hooks.onRefused(kind, reason);
    tx.close(code, reason.slice(0, 120), false, () => agent.end());
    new Sender(up).close(1001, '', true, () => up.end());
  };
  rx.on('message', (data, isBinary) => {
    if (!refused) tx.send(scrub(data), { binary: isBinary, fin: true, mask: false, compress: false });
  });
  rx.on('ping', (d) => tx.ping(scrub(d), false));
  rx.on('pong', (d) => tx.pong(scrub(d), false));
  rx.on('conclude', (code, reason) => tx.close(code === 1005 ? undefined : code, scrub(reason), false));
  rx.on('error', (err) =>
    err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
      ? refuse(1009, 'websocket_message_too_large', `an upstream WebSocket message is larger than limits.max_websocket_message_bytes (${maxMessage})`)
      : refuse(1002, 'bad_websocket', `upstream: ${err.message}`),
  );
  return (chunk) => {
    if (!refused) rx.write(chunk);
  };
}
