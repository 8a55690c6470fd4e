// Binds a server to a host:port or a Unix socket path, and tracks its sockets so close() is prompt.
import fs from 'node:fs';
import type net from 'node:net';
import type { ListenAddr } from '../../policies/types.ts';

export function describeAddr(addr: ListenAddr): string {
  return addr.kind === 'unix' ? `unix:${addr.path}` : `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
}

export interface Bound {
  /** Where it really listens (port 0 resolved). */
  address: string;
  host?: string;
  port?: number;
  /** Stop accepting new connections; the open ones go on. */
  stopAccepting(): Promise<void>;
  /** Close every connection still open. */
  close(): Promise<void>;
}

export function listen(server: net.Server, addr: ListenAddr): Promise<Bound> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  if (addr.kind === 'unix') removeStaleSocket(addr.path);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = () => {
      server.off('error', reject);
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : undefined;
      let stopped: Promise<void> | undefined;
      const stopAccepting = () => (stopped ??= new Promise<void>((done) => server.close(() => done())).catch(() => {}));
      resolve({
        address: addr.kind === 'unix' ? `unix:${addr.path}` : describeAddr({ ...addr, port: port ?? addr.port }),
        host: addr.kind === 'tcp' ? addr.host : undefined,
        port,
        stopAccepting: () => {
          // server.close() waits for open connections; resolve as soon as the listener is gone.
          void stopAccepting();
          return Promise.resolve();
        },
        close: async () => {
          for (const s of sockets) s.destroy();
          await stopAccepting();
        },
      });
    };
    if (addr.kind === 'unix') server.listen(addr.path, onListening);
    else server.listen(addr.port, addr.host, onListening);
  });
}

/** A socket file left by a previous run would make listen() fail with EADDRINUSE. */
function removeStaleSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}
