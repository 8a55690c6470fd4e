// Relays TCP connections on a loopback port to a Unix socket, byte for byte, for clients that
// can only be given an http:// base URL (most SDKs). Runs inside the agent's container, which
// has nothing but loopback under `network_mode: none`.
//   node unix-shim.mjs 127.0.0.1:8081 /run/airlock/anthropic.sock
// Not a proxy: no parsing, no policy. airlock, behind the socket, decides everything.
import net from 'node:net';

const [listen = '127.0.0.1:8081', socketPath = '/run/airlock/anthropic.sock'] = process.argv.slice(2);
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(colon + 1));
if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`unix-shim: bad listen address "${listen}" (want HOST:PORT)`);
  process.exit(2);
}

const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', (err) => {
    console.error(`unix-shim: ${socketPath}: ${err.message}`);
    client.destroy();
  });
});
server.listen(port, host, () => {
  const a = server.address();
  console.error(`unix-shim: listening on ${a.address}:${a.port} -> unix:${socketPath}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => process.exit(0));
