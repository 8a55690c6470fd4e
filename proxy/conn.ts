// What airlock knows about an agent connection, attached to its socket.
import type { Route } from '../policies/types.ts';
import type { Entry } from './flow.ts';

export interface ConnInfo {
  entry: Entry;
  listener: string;
  client: string;
  agentUser?: string;
  /** The agent's bytes were TLS that airlock terminated. */
  tls: boolean;
  /** The host (and port) this connection was admitted for: a CONNECT authority or the SNI. */
  pinned?: { host: string; port: number };
  route?: Route;
}

const CONN = Symbol('airlock.conn');

type Carrier = { [CONN]?: ConnInfo; _parent?: Carrier };

export function attachConn(socket: object, conn: ConnInfo): void {
  (socket as Carrier)[CONN] = conn;
}

/**
 * The ConnInfo of a request's socket. A TLS socket that Node's TLS server created around one of
 * our sockets reaches it through `_parent` (the wrapped socket), which Node has kept for years.
 */
export function connOf(socket: object | null | undefined): ConnInfo | undefined {
  const s = socket as Carrier | undefined;
  return s?.[CONN] ?? s?._parent?.[CONN];
}
