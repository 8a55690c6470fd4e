// A real DNS server (dnsmasq) on loopback that answers fixed names, for address-check tests.
import { spawn } from 'node:child_process';
import net from 'node:net';

export interface TestDns {
  server: string; // "127.0.0.1:PORT"
  close(): void;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startDns(records: Record<string, string>): Promise<TestDns> {
  const port = await freePort();
  const args = ['--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1',
    `--port=${port}`, '--user=root', '--pid-file', ...Object.entries(records).map(([name, ip]) => `--address=/${name}/${ip}`)];
  const proc = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c) => (stderr += c));
  // dnsmasq is ready once its UDP port answers; poll with a real query through Node's resolver.
  const { Resolver } = await import('node:dns/promises');
  const r = new Resolver({ timeout: 200, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  const name = Object.keys(records)[0];
  for (let i = 0; i < 50; i++) {
    if (proc.exitCode !== null) throw new Error(`dnsmasq exited: ${stderr}`);
    try {
      await r.resolve4(name);
      return { server: `127.0.0.1:${port}`, close: () => proc.kill() };
    } catch {
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  proc.kill();
  throw new Error(`dnsmasq did not answer: ${stderr}`);
}
