// The TLS handshake with the agent on a socket airlock accepted (and sniffed). It has a deadline,
// and however the agent gives up (an alert, a reset, a FIN without a word, silence) the socket is
// destroyed at once and the connection is recorded as agent_tls with what happened.
import type net from 'node:net';
import tls from 'node:tls';
import { attachConn, type ConnInfo, endsAs } from '../conn.ts';

/** Alerts an agent sends when it does not trust the certificate it was shown. */
const UNTRUSTED = new Set(['unknown_ca', 'bad_certificate', 'certificate_unknown', 'unsupported_certificate', 'certificate_expired', 'certificate_revoked']);
const NOT_TRUSTED = "it does not trust airlock's CA (install it in the agent: airlock ca install)";

export interface HandshakeOptions {
  context: tls.SecureContext;
  /** The server the secured socket is handed to ('secureConnection'); Node's HTTP/1 fallback reads socket.server. */
  server: tls.Server;
  timeoutMs: number;
}

/** Starts TLS on `socket`; `onSecure` gets the secured socket. A failure is recorded when the socket closes. */
export function acceptTls(socket: net.Socket, conn: ConnInfo, o: HandshakeOptions, onSecure: (secure: tls.TLSSocket) => void): void {
  endsAs(conn, 'agent_tls', 'TLS handshake with the agent failed: the connection closed during the handshake', 'tls');
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: o.context, ALPNProtocols: ['h2', 'http/1.1'], server: o.server } as tls.TLSSocketOptions);
  // The agent's FIN ends the connection. The TLS socket inherits allowHalfOpen from the one it
  // wraps, which an HTTP server accepted (half-open allowed); an HTTP/2 session never closes a
  // half-open socket itself, so it would sit in CLOSE-WAIT until the idle timeout.
  secure.allowHalfOpen = false;
  attachConn(secure, conn);
  let settled = false;
  const fail = (why: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    endsAs(conn, 'agent_tls', `TLS handshake with the agent failed: ${why}`, 'tls');
    secure.destroy();
    socket.destroy();
  };
  // A deadline, not Node's handshakeTimeout: that one is an idle timer, which a byte now and then resets.
  const timer = setTimeout(() => fail(`not finished within ${o.timeoutMs / 1000}s (limits.tls_handshake_timeout)`), o.timeoutMs);
  secure.once('close', () => clearTimeout(timer)); // however it closed (airlock stopping too), no deadline is left
  secure.on('error', (err: Error & { code?: string }) => {
    if (!settled) return fail(describeTlsError(err));
    // After the handshake the socket's reader (HTTP/1 or HTTP/2) closes it; this says why, should no flow name the connection.
    if (err.code === 'ECONNRESET') endsAs(conn, 'client_closed', 'the agent reset the connection after the TLS handshake, before sending a request', 'tls');
    else endsAs(conn, 'agent_tls', `TLS with the agent failed after the handshake: ${describeTlsError(err)}`, 'tls');
  });
  // The agent's FIN mid-handshake: what a Node client does when it rejects the certificate (no alert).
  secure.once('end', () => fail(`the agent closed the connection during the handshake without an alert: most likely ${NOT_TRUSTED}`));
  secure.once('secure', () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    releaseAsNodeServerDoes(secure);
    endsAs(conn, 'client_closed', 'the agent closed the connection after the TLS handshake, before sending a request', 'tls');
    onSecure(secure);
  });
}

/**
 * What Node's own TLS server does with a socket whose handshake finished (onServerSocketSecure in
 * lib/_tls_wrap.js): errors are emitted as 'error' to whoever reads the socket from now on (until
 * then Node keeps them to the handshake's listeners), and it no longer counts as connecting (an
 * HTTP/2 session waits for a 'secureConnect' that a server socket never emits otherwise).
 */
function releaseAsNodeServerDoes(secure: tls.TLSSocket): void {
  (secure as unknown as { _releaseControl(): void })._releaseControl();
  (secure as unknown as { secureConnecting: boolean }).secureConnecting = false;
}

function describeTlsError(err: Error & { code?: string; reason?: string }): string {
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1)_ALERT_(\w+)$/.exec(err.code ?? '')?.[1].toLowerCase();
  if (alert) return `the agent sent alert ${alert}${UNTRUSTED.has(alert) ? `: ${NOT_TRUSTED}` : ''}`;
  if (err.code === 'ECONNRESET') return 'the agent reset the connection';
  // OpenSSL's message carries its source path; its reason is the part that says what went wrong.
  return err.reason ? `${err.reason} (${err.code})` : err.message;
}
