// What airlock knows about an agent connection, attached to its socket.
import type net from 'node:net';
import type { Route } from '../policies/types.ts';
import type { Entry, Flow } from './flow.ts';
import { clientKey } from './limits.ts';

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
  /** Shared by every ConnInfo derived from this one (a spread copies the reference). */
  life: ConnLife;
  /**
   * explain_in_tls: the policy refused this connection, and its requests are answered with this
   * refusal inside TLS (for agents that cannot read a CONNECT response).
   */
  explain?: { code: string; reason: string; rule?: string; hint: string };
}

/** What a connection that ends with no flow naming it is recorded as (when its socket closes). */
export interface EndRecord {
  conn: ConnInfo;
  code: string;
  reason: string;
  protocol: Flow['protocol'];
}

export interface ConnLife {
  /** A flow names this connection (a request or a refusal): its end needs no record of its own. */
  recorded: boolean;
  /** Otherwise its end is recorded as this: set as the connection moves on (tunnel, TLS, ...). */
  end: EndRecord;
}

export function newConn(socket: net.Socket, info: Omit<ConnInfo, 'life' | 'client' | 'tls'>): ConnInfo {
  const conn = { ...info, client: clientOf(socket), tls: false } as ConnInfo;
  conn.life = { recorded: false, end: { conn, code: 'client_closed', reason: 'the agent closed the connection before sending a request', protocol: 'tcp' } };
  return conn;
}

/** If the connection ends from here on with no flow, it is recorded as `code` with `reason`. */
export function endsAs(conn: ConnInfo, code: string, reason: string, protocol: Flow['protocol']): void {
  conn.life.end = { conn, code, reason, protocol };
}

export function clientOf(socket: net.Socket): string {
  if (!socket.remoteAddress) return clientKey(socket);
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

const CONN = Symbol('airlock.conn');

type Carrier = { [CONN]?: ConnInfo; _parent?: Carrier };

export function attachConn(socket: object, conn: ConnInfo): void {
  (socket as Carrier)[CONN] = conn;
}

/**
 * The ConnInfo of a request's socket. airlock attaches it to the TLS sockets it makes too; a TLS
 * socket wrapping one of ours also reaches it through `_parent` (the wrapped socket).
 */
export function connOf(socket: object | null | undefined): ConnInfo | undefined {
  const s = socket as Carrier | undefined;
  return s?.[CONN] ?? s?._parent?.[CONN];
}
