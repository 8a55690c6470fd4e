// Raw HTTP/1.1 over a socket: for requests real clients refuse to send (mismatched hosts, odd CONNECTs).
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends `request` bytes and reads until the peer closes or `timeoutMs` passes. */
export function rawExchange(port: number, request: string | Buffer, timeoutMs = 3000, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(data);
    }, timeoutMs);
    s.on('connect', () => s.write(request));
    s.on('data', (c) => (data += c.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.on('error', reject);
  });
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end);
  return { status: Number(head.split(' ')[1]), headers: head, body: raw.slice(end + 4) };
}
