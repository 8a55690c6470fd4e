// Peeks at the first bytes of a connection to tell TLS from plain HTTP, without losing them:
// whatever was read is pushed back with unshift() before the socket is handed on.
import type net from 'node:net';
import { MAX_HELLO_BYTES, parseClientHello } from './client-hello.ts';

export type Sniffed =
  | { kind: 'tls'; serverName?: string; alpn: string[] }
  | { kind: 'http' }
  | { kind: 'other'; reason: string; timeout?: boolean };

/**
 * Text (printable ASCII, or the CR/LF/space/tab a request may start with) is HTTP for Node's
 * strict parser to read: a malformed request line ("get / HTTP/1.1", "GET  /") then gets a 400
 * like any other bad request. Binary that is not a ClientHello is closed.
 */
const TEXT = (b: number) => (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;

/** `timeoutMs`: how long the agent may take to send its first request or ClientHello (limits.header_timeout). */
export function sniff(socket: net.Socket, timeoutMs: number): Promise<Sniffed> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (result: Sniffed) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      clearTimeout(timer);
      socket.pause();
      if (buf.length) socket.unshift(buf);
      resolve(result);
    };
    const onEnd = () => done({ kind: 'other', reason: 'connection closed before any request' });
    const timer = setTimeout(
      () => done({ kind: 'other', reason: `no complete ClientHello or request line within ${timeoutMs / 1000}s (limits.header_timeout)`, timeout: true }),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (buf[0] === 0x16) {
        const hello = parseClientHello(buf);
        if (hello.kind === 'hello') done({ kind: 'tls', serverName: hello.serverName, alpn: hello.alpn });
        else if (hello.kind === 'invalid') done({ kind: 'other', reason: `bad TLS ClientHello: ${hello.reason}` });
        else if (buf.length > MAX_HELLO_BYTES + 1024) done({ kind: 'other', reason: 'ClientHello too large' });
        return;
      }
      done(TEXT(buf[0]) ? { kind: 'http' } : { kind: 'other', reason: 'not HTTP or TLS' });
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}
