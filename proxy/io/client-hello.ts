// Reads the server name and ALPN list from a TLS ClientHello without consuming the socket.
// The handshake message may span several TLS records (and arrive a byte at a time), so the
// records' payloads are joined until the whole ClientHello is present.

export type HelloResult =
  | { kind: 'more' } // not enough bytes yet
  | { kind: 'hello'; serverName?: string; alpn: string[] }
  | { kind: 'invalid'; reason: string };

/** A ClientHello larger than this is refused (post-quantum key shares stay far below it). */
export const MAX_HELLO_BYTES = 64 * 1024;

export function parseClientHello(buf: Buffer): HelloResult {
  const handshake: Buffer[] = [];
  let have = 0;
  let need = -1; // handshake message length incl. its 4-byte header, once known
  let off = 0;
  while (need < 0 || have < need) {
    if (buf.length < off + 5) return { kind: 'more' };
    if (buf[off] !== 0x16) return { kind: 'invalid', reason: 'not a TLS handshake record' };
    if (buf[off + 1] !== 0x03) return { kind: 'invalid', reason: 'unknown TLS record version' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) return { kind: 'invalid', reason: 'empty TLS record' };
    if (buf.length < off + 5 + len) return { kind: 'more' };
    handshake.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = Buffer.concat(handshake);
      if (head[0] !== 0x01) return { kind: 'invalid', reason: 'first handshake message is not a ClientHello' };
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO_BYTES) return { kind: 'invalid', reason: 'ClientHello too large' };
    }
  }
  return readHello(Buffer.concat(handshake).subarray(4, need));
}

function readHello(b: Buffer): HelloResult {
  const bad = (reason: string): HelloResult => ({ kind: 'invalid', reason });
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return bad('truncated ClientHello');
  p += 1 + b[p]; // session id
  if (b.length < p + 2) return bad('truncated ClientHello');
  p += 2 + b.readUInt16BE(p); // cipher suites
  if (b.length < p + 1) return bad('truncated ClientHello');
  p += 1 + b[p]; // compression methods
  if (b.length === p) return { kind: 'hello', alpn: [] }; // no extensions at all
  if (b.length < p + 2) return bad('truncated ClientHello');
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return bad('truncated extensions');
  p += 2;
  let serverName: string | undefined;
  let alpn: string[] = [];
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const body = b.subarray(p + 4, p + 4 + len);
    if (p + 4 + len > end) return bad('truncated extension');
    if (type === 0) {
      const name = readServerName(body);
      if (name === null) return bad('malformed server_name extension');
      serverName = name;
    } else if (type === 16) {
      const list = readAlpn(body);
      if (list === null) return bad('malformed ALPN extension');
      alpn = list;
    }
    p += 4 + len;
  }
  if (p !== end) return bad('trailing bytes in extensions');
  return { kind: 'hello', serverName, alpn };
}

function readServerName(b: Buffer): string | null {
  if (b.length < 2 || b.readUInt16BE(0) !== b.length - 2) return null;
  let p = 2;
  while (p + 3 <= b.length) {
    const type = b[p];
    const len = b.readUInt16BE(p + 1);
    if (p + 3 + len > b.length) return null;
    if (type === 0) {
      const name = b.subarray(p + 3, p + 3 + len);
      // Host names are ASCII; anything else (NUL, UTF-8) is refused rather than guessed at.
      for (const c of name) if (c <= 0x20 || c >= 0x7f) return null;
      return name.toString('latin1');
    }
    p += 3 + len;
  }
  return null;
}

function readAlpn(b: Buffer): string[] | null {
  if (b.length < 2 || b.readUInt16BE(0) !== b.length - 2) return null;
  const out: string[] = [];
  for (let p = 2; p < b.length; ) {
    const len = b[p];
    if (len === 0 || p + 1 + len > b.length) return null;
    out.push(b.subarray(p + 1, p + 1 + len).toString('latin1'));
    p += 1 + len;
  }
  return out;
}
