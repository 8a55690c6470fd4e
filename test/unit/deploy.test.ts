// Lint for deploy/: Docker is not available in CI, so these files are never built or run there.
// What can be checked without Docker is checked here: every YAML parses and has the shape its
// tool expects, the agent can only reach airlock, the Dockerfiles follow the rules below, every
// policy (also the one embedded in the Kubernetes ConfigMap) passes airlock's own validation,
// the uids and ports that must agree across files do, shell scripts parse, and the Unix-socket
// shim of deploy/network-none relays bytes.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadPolicyFile } from '../../policies/load.ts';
import { loadStoreSection } from '../../policies/load-store.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(ROOT, 'deploy');
/** Values for the secret sources the example policies name; check-config needs them set. */
const POLICY_ENV = { ANTHROPIC_API_KEY: 'sk-test-deploy-lint', AIRLOCK_PG_URL: 'postgres://airlock@db.invalid:5432/airlock', POD_NAME: 'airlock-7d9f-x2', AIRLOCK_INSTANCE: 'airlock-a' };

type Obj = Record<string, unknown>;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

const FILES = walk(DEPLOY);
const rel = (f: string) => relative(ROOT, f);
const YAML_FILES = FILES.filter((f) => /\.ya?ml$/.test(f));
const COMPOSE_FILES = YAML_FILES.filter((f) => /^(docker-)?compose(\.[\w-]+)?\.ya?ml$/.test(basename(f)));
const KUBE_FILES = YAML_FILES.filter((f) => rel(f).split('/').includes('kubernetes'));
/** Policies of the UI on its own (`airlock ui --config`): a store section, where to listen, nothing else. */
const UI_POLICY_FILES = YAML_FILES.filter((f) => /ui-policy/.test(basename(f)) && !KUBE_FILES.includes(f));
const POLICY_FILES = YAML_FILES.filter((f) => /policy/.test(basename(f)) && !COMPOSE_FILES.includes(f) && !KUBE_FILES.includes(f) && !UI_POLICY_FILES.includes(f));
const DOCKERFILES = FILES.filter((f) => /^Dockerfile(\.[\w-]+)?$|\.Dockerfile$/.test(basename(f)) && !f.endsWith('.dockerignore'));
const SCRIPTS = FILES.filter((f) => f.endsWith('.sh'));

function docs(file: string): Obj[] {
  // merge: compose files share settings with YAML merge keys (<<: *anchor), as Compose reads them.
  const all = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  if (!Array.isArray(all)) return [];
  for (const d of all) expect(d.errors.map((e) => e.message), rel(file)).toEqual([]);
  return all.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function policyOk(file: string): void {
  const r = loadPolicyFile(file, { env: POLICY_ENV, defaultDataDir: '/tmp/airlock' });
  expect(r.ok ? [] : r.errors, rel(file)).toEqual([]);
}

/** A UI's policy: its store section validates as `airlock ui` reads it, and it names nothing but data_dir, listen.ui and store (no API key). */
function uiPolicyOk(file: string): void {
  const r = loadStoreSection(file, { env: POLICY_ENV, defaultDataDir: '/tmp/airlock' });
  expect(r.ok ? [] : r.errors, rel(file)).toEqual([]);
  const doc = parseAllDocuments(readFileSync(file, 'utf8'))[0].toJS() as Obj;
  expect(Object.keys(doc).filter((k) => !['data_dir', 'listen', 'store'].includes(k)), `${rel(file)}: only data_dir, listen, store`).toEqual([]);
  expect(Object.keys((doc.listen ?? {}) as Obj).filter((k) => k !== 'ui'), `${rel(file)}: listens only for the UI`).toEqual([]);
  expect(r.ok && r.store.postgres, `${rel(file)}: reads PostgreSQL`).toBeTruthy();
}

/** The policy text's store section, parsed (for checks of the fleet's instance names and URL source). */
function storeOf(policyText: string): Obj {
  return ((parseAllDocuments(policyText)[0].toJS() as Obj).store ?? {}) as Obj;
}

/** The airlock image's uid, from `useradd --uid N` in deploy/Dockerfile. */
function dockerfileUid(): number {
  const m = /useradd\b[^\n]*--uid\s+(\d+)/.exec(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
  expect(m, 'deploy/Dockerfile creates its user with useradd --uid N').not.toBeNull();
  return Number(m![1]);
}

describe('deploy/ files', () => {
  it('are all covered by a check below', () => {
    expect(COMPOSE_FILES.map(rel)).toEqual(expect.arrayContaining(['deploy/compose.yaml', 'deploy/network-none/compose.yaml']));
    expect(KUBE_FILES.length).toBeGreaterThan(0);
    expect(POLICY_FILES.map(rel)).toContain('deploy/policy.example.yaml');
    expect(DOCKERFILES.map(rel)).toContain('deploy/Dockerfile');
    expect(COMPOSE_FILES.map(rel)).toContain('deploy/compose.fleet.yaml');
    expect(UI_POLICY_FILES.map(rel)).toContain('deploy/fleet/ui-policy.yaml');
    const unclassified = YAML_FILES.filter((f) => ![COMPOSE_FILES, KUBE_FILES, POLICY_FILES, UI_POLICY_FILES].some((l) => l.includes(f)));
    expect(unclassified.map(rel)).toEqual([]);
  });
});

describe('YAML', () => {
  it.each(YAML_FILES.map(rel))('%s parses', (f) => {
    expect(docs(join(ROOT, f)).length).toBeGreaterThan(0);
  });

  it.each(KUBE_FILES.map(rel))('%s: every document has apiVersion and kind', (f) => {
    for (const d of docs(join(ROOT, f))) {
      expect(typeof d.apiVersion, f).toBe('string');
      expect(typeof d.kind, f).toBe('string');
      expect(isObj(d.metadata) && typeof d.metadata.name === 'string', `${f}: ${String(d.kind)} has metadata.name`).toBe(true);
    }
  });
});

describe('policies', () => {
  it.each(POLICY_FILES.map(rel))('%s passes airlock validation', (f) => {
    policyOk(join(ROOT, f));
  });

  it.each(UI_POLICY_FILES.map(rel))('%s is a store section `airlock ui` accepts, and nothing more', (f) => {
    uiPolicyOk(join(ROOT, f));
  });

  it('a secret source that is not set fails (the check is real)', () => {
    const r = loadPolicyFile(join(DEPLOY, 'policy.example.yaml'), { env: {}, defaultDataDir: '/tmp/airlock' });
    expect(r.ok).toBe(false);
  });
});

/** Services built from or tagged as the airlock image; every other service is an agent. */
function isAirlock(svc: Obj): boolean {
  const build = svc.build;
  const dockerfile = isObj(build) ? String(build.dockerfile ?? '') : '';
  return /(^|\/)airlock(:|$)/.test(String(svc.image ?? '')) || dockerfile.endsWith('deploy/Dockerfile');
}

/** The fleet's PostgreSQL (compose.fleet.yaml): checked on its own, below. */
function isDatabase(svc: Obj): boolean {
  return /^postgres:/.test(String(svc.image ?? ''));
}

function networkNames(svc: Obj): string[] {
  const n = svc.networks;
  if (Array.isArray(n)) return n.map(String);
  if (isObj(n)) return Object.keys(n);
  return [];
}

/** Targets of a service's volumes, short ("src:dst:ro") or long form. */
function volumeTargets(svc: Obj): string[] {
  const v = Array.isArray(svc.volumes) ? svc.volumes : [];
  return v.map((x) => (typeof x === 'string' ? x.split(':')[1] : isObj(x) ? String(x.target) : ''));
}

describe.each(COMPOSE_FILES.map(rel))('compose %s', (f) => {
  const file = join(ROOT, f);
  const [compose] = docs(file);
  const services = (compose?.services ?? {}) as Record<string, Obj>;
  const networks = (compose?.networks ?? {}) as Record<string, Obj | null>;
  // Every service but airlock and its database is an agent.
  const agents = Object.entries(services).filter(([, s]) => !isAirlock(s) && !isDatabase(s));

  it('has services, one of them airlock and one an agent', () => {
    expect(isObj(compose?.services)).toBe(true);
    expect(Object.values(services).some(isAirlock)).toBe(true);
    expect(agents.length).toBeGreaterThan(0);
  });

  it('agents are only on internal networks (or none) and publish no ports', () => {
    for (const [name, s] of agents) {
      expect(s.ports, `${name}.ports`).toBeUndefined();
      expect(s.expose, `${name}.expose`).toBeUndefined();
      expect(s.privileged, `${name}.privileged`).toBeUndefined();
      expect(s.cap_add, `${name}.cap_add`).toBeUndefined();
      if (s.network_mode !== undefined) {
        // Only "none": "host" is the host's network, "service:x"/"container:x" another's.
        expect(s.network_mode, `${name}.network_mode`).toBe('none');
        expect(s.networks, `${name}: network_mode and networks`).toBeUndefined();
        continue;
      }
      const nets = networkNames(s);
      // No networks key means the project's default network, which is not internal.
      expect(nets.length, `${name} names its networks`).toBeGreaterThan(0);
      for (const n of nets) expect(networks[n]?.internal, `${name}: network ${n} is internal`).toBe(true);
    }
  });

  it('an agent told to use the proxy is given a CA to trust, on a mounted path', () => {
    for (const [name, s] of agents) {
      const env = (s.environment ?? {}) as Record<string, string>;
      expect(isObj(env) || s.environment === undefined, `${name}.environment is a mapping`).toBe(true);
      for (const v of Object.values(env)) expect(String(v), `${name}: no \${...} secrets in agent env`).not.toContain('${');
      if (!env.HTTPS_PROXY) continue;
      const targets = volumeTargets(s);
      for (const k of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE']) {
        expect(env[k], `${name}.environment.${k}`).toBeTruthy();
        expect(targets.some((t) => env[k].startsWith(t + '/')), `${name}: ${k} is under a mounted volume`).toBe(true);
      }
    }
  });

  it('files it bind-mounts exist; a mounted policy validates', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of Array.isArray(s.volumes) ? s.volumes : []) {
        if (typeof v !== 'string' || !v.startsWith('.')) continue;
        const [src, dst] = v.split(':');
        const path = resolve(dirname(file), src);
        expect(existsSync(path), `${name}: ${src} exists`).toBe(true);
        if (dst === '/etc/airlock/policy.yaml') policyOk(path);
      }
    }
  });
});

/** What a compose service runs: entrypoint and command, as one text. */
function runs(svc: Obj): string {
  const part = (v: unknown) => (Array.isArray(v) ? v.map(String).join(' ') : typeof v === 'string' ? v : '');
  return `${part(svc.entrypoint)} ${part(svc.command)}`;
}

describe('compose.fleet.yaml: two instances, one PostgreSQL, the UI on its own', () => {
  const file = join(DEPLOY, 'compose.fleet.yaml');
  const [compose] = docs(file);
  const services = (compose.services ?? {}) as Record<string, Obj>;
  const networks = (compose.networks ?? {}) as Record<string, Obj | null>;
  const proxies = Object.entries(services).filter(([, s]) => isAirlock(s) && /\bstart\b/.test(runs(s)));
  const env = (s: Obj) => (s.environment ?? {}) as Record<string, string>;
  const policyOf = (s: Obj) => {
    const v = (s.volumes as string[]).find((x) => typeof x === 'string' && x.endsWith(':/etc/airlock/policy.yaml:ro'))!;
    return readFileSync(resolve(dirname(file), v.split(':')[0]), 'utf8');
  };

  it('two airlock instances with their own names and data dirs (each spool its own) write to PostgreSQL', () => {
    expect(proxies.length).toBeGreaterThanOrEqual(2);
    const names = proxies.map(([, s]) => {
      const store = storeOf(policyOf(s));
      expect((store.postgres as Obj)?.url).toBe('env:AIRLOCK_PG_URL');
      const inst = String(store.instance);
      return inst.startsWith('env:') ? env(s)[inst.slice(4)] : inst;
    });
    expect(new Set(names).size, 'instance names').toBe(proxies.length);
    const dataVolumes = proxies.map(([, s]) => (s.volumes as string[]).find((v) => typeof v === 'string' && v.split(':')[1] === '/var/lib/airlock'));
    expect(dataVolumes.every(Boolean)).toBe(true);
    expect(new Set(dataVolumes).size, 'data dirs (spools) are not shared').toBe(proxies.length);
    for (const [name, s] of proxies) {
      // The database password comes from the environment of `docker compose`, never a file.
      expect(env(s).AIRLOCK_PG_URL, name).toMatch(/^postgres:\/\/airlock:\$\{AIRLOCK_PG_PASSWORD:\?[^}]*\}@postgres:5432\/airlock$/);
      expect(networkNames(s), name).toContain('db-net');
    }
  });

  it('PostgreSQL is reachable only on an internal network, publishes nothing, and keeps its data in a volume', () => {
    const pg = services.postgres;
    expect(String(pg.image)).toMatch(/^postgres:1[3-9]/);
    expect(pg.ports).toBeUndefined();
    for (const n of networkNames(pg)) expect(networks[n]?.internal, `postgres on ${n}`).toBe(true);
    expect(volumeTargets(pg)).toContain('/var/lib/postgresql/data');
    expect(String((pg.environment as Obj).POSTGRES_PASSWORD)).toMatch(/^\$\{AIRLOCK_PG_PASSWORD:\?/);
  });

  it('the UI runs on its own over the same store, with no API key, published on loopback only', () => {
    const [name, ui] = Object.entries(services).find(([, s]) => isAirlock(s) && /^\s*ui --config (\S+)/.test(runs(s)))!;
    expect(name).toBeDefined();
    const policyPath = /ui --config (\S+)/.exec(runs(ui))![1];
    const mount = (ui.volumes as string[]).find((v) => typeof v === 'string' && v.split(':')[1] === policyPath)!;
    uiPolicyOk(resolve(dirname(file), mount.split(':')[0]));
    expect(Object.keys(env(ui))).toEqual(['AIRLOCK_PG_URL']);
    for (const p of (ui.ports ?? []) as string[]) expect(p, `${name} publishes on loopback`).toMatch(/^127\.0\.0\.1:/);
  });
});

interface Instruction {
  op: string;
  args: string;
}

function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: m[1].toUpperCase(), args: m[2] };
    });
}

describe.each(DOCKERFILES.map(rel))('Dockerfile %s', (f) => {
  const ins = instructions(readFileSync(join(ROOT, f), 'utf8'));
  const froms = ins.filter((i) => i.op === 'FROM');
  const finalStage = ins.slice(ins.lastIndexOf(froms[froms.length - 1]));

  it('starts with FROM', () => {
    expect(ins[0]?.op).toBe('FROM');
  });

  it('pins a tag (never latest) on every base image', () => {
    const stages = new Set<string>();
    for (const { args } of froms) {
      const words = args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = words[0];
      if (!stages.has(image)) {
        expect(image, `${f}: FROM ${image}`).toMatch(/^[^@]+:[\w][\w.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$/);
        expect(image, `${f}: FROM ${image}`).not.toMatch(/:latest(@|$)/);
      }
      if (words[1]?.toUpperCase() === 'AS') stages.add(words[2]);
    }
  });

  it('runs the final stage as a non-root user', () => {
    const users = finalStage.filter((i) => i.op === 'USER');
    expect(users.length, `${f}: USER in the final stage`).toBeGreaterThan(0);
    const user = users[users.length - 1].args.split(':')[0];
    expect(['root', '0', '']).not.toContain(user);
  });

  it('does not ADD from a URL', () => {
    for (const i of ins.filter((x) => x.op === 'ADD')) expect(i.args, `${f}: ADD ${i.args}`).not.toMatch(/(^|\s)https?:/i);
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  const ins = instructions(text);

  it('builds with npm ci --omit=dev and runs airlock start on the mounted policy', () => {
    expect(ins.some((i) => i.op === 'RUN' && /\bnpm ci --omit=dev\b/.test(i.args))).toBe(true);
    const entry = JSON.parse(ins.find((i) => i.op === 'ENTRYPOINT')!.args);
    const cmd = JSON.parse(ins.find((i) => i.op === 'CMD')!.args);
    expect([...entry, ...cmd]).toEqual(['node', '--max-semi-space-size=1', '--v8-pool-size=1', '--initial-old-space-size=32', 'proxy/airlock.js', 'start', '--config', '/etc/airlock/policy.yaml']);
    expect(ins.find((i) => i.op === 'EXPOSE')?.args.split(/\s+/)).toEqual(['8080', '8443']);
  });

  it('its context allow-list holds every source directory the build bundles', () => {
    const sources = /const SOURCES = \[([^\]]*)\]/.exec(readFileSync(join(ROOT, 'proxy/build.js'), 'utf8'));
    expect(sources).not.toBeNull();
    const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const dir of sources![1].match(/[\w-]+/g)!) expect(ignore, `!${dir}/`).toContain(`!${dir}/`);
    for (const file of ['package.json', 'package-lock.json']) expect(ignore).toContain(`!${file}`);
  });
});

describe('kubernetes', () => {
  const all = KUBE_FILES.flatMap((f) => docs(f));
  const pods = all.filter((d) => d.kind === 'Pod');
  /** Pod specs of workloads (Deployment, StatefulSet, ...): spec.template.spec. */
  const workloads = all.filter((d) => isObj((d.spec as Obj | undefined)?.template));

  it('every workload image is tagged and not latest', () => {
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      const spec = ((w.spec as Obj).template as Obj).spec as { initContainers?: { name: string; image?: string }[]; containers: { name: string; image?: string }[] };
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        expect(c.image, `${String((w.metadata as Obj).name)}/${c.name}`).toMatch(/:[\w][\w.-]*$/);
        expect(c.image, c.name).not.toMatch(/:latest$/);
      }
    }
  });
  type Container = Obj & { name: string; command?: string[]; args?: string[]; securityContext?: Obj; image?: string };
  const specOf = (pod: Obj) => pod.spec as { initContainers?: Container[]; containers: Container[] };

  it('has a pod; every image is tagged and not latest', () => {
    expect(pods.length).toBeGreaterThan(0);
    for (const pod of pods) {
      const spec = specOf(pod);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        expect(c.image, c.name).toMatch(/:[\w][\w.-]*$/);
        expect(c.image, c.name).not.toMatch(/:latest$/);
      }
    }
  });

  it('a policy embedded in a ConfigMap passes airlock validation', () => {
    const maps = all.filter((d) => d.kind === 'ConfigMap' && isObj(d.data) && 'policy.yaml' in d.data);
    expect(maps.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'airlock-deploy-'));
    try {
      for (const m of maps) {
        const file = join(dir, 'policy.yaml');
        writeFileSync(file, String((m.data as Obj)['policy.yaml']));
        policyOk(file);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the iptables init container exempts exactly airlock uid, allows DNS and redirects to its transparent port', () => {
    const uid = dockerfileUid();
    const policyText = all.filter((d) => d.kind === 'ConfigMap' && isObj(d.data)).map((d) => String((d.data as Obj)['policy.yaml'] ?? ''));
    for (const pod of pods) {
      const spec = specOf(pod);
      const containers = [...(spec.initContainers ?? []), ...spec.containers];
      const iptables = containers.find((c) => [...(c.command ?? []), ...(c.args ?? [])].includes('iptables'));
      expect(iptables, 'an init container runs airlock iptables').toBeDefined();
      const argv = [...(iptables!.command ?? []), ...(iptables!.args ?? [])];
      const flag = (name: string) => argv[argv.indexOf(name) + 1];
      expect(argv).toContain('--apply');
      expect(flag('--mode')).toBe('output');
      expect(Number(flag('--uid'))).toBe(uid);
      // Output mode drops all DNS but to --dns: without it the agent cannot resolve anything.
      expect(flag('--dns'), '--dns').toBeTruthy();
      expect((iptables!.securityContext?.capabilities as Obj)?.add).toContain('NET_ADMIN');
      expect(spec.initContainers).toContain(iptables);

      const airlock = containers.find((c) => [...(c.command ?? []), ...(c.args ?? [])].includes('start'));
      expect(airlock?.securityContext?.runAsUser, 'airlock runs as the exempt uid').toBe(uid);
      const port = flag('--port');
      expect(policyText.some((t) => new RegExp(`^\\s*transparent:\\s*\\S+:${port}\\s*(#.*)?$`, 'm').test(t)), `transparent listener on :${port}`).toBe(true);

      for (const agent of spec.containers) {
        expect(agent.securityContext?.runAsUser, `${agent.name} runs as some uid`).toBeDefined();
        expect(agent.securityContext?.runAsUser, `${agent.name} is not the exempt uid`).not.toBe(uid);
        expect((agent.securityContext?.capabilities as Obj | undefined)?.add, `${agent.name} adds no capabilities`).toBeUndefined();
        expect(agent.securityContext?.allowPrivilegeEscalation, agent.name).toBe(false);
      }
    }
  });
});

describe('shell scripts', () => {
  it.each(SCRIPTS.length ? SCRIPTS.map(rel) : ['(none)'])('%s parses with sh -n', (f) => {
    if (f === '(none)') return;
    execFileSync('sh', ['-n', join(ROOT, f)], { stdio: 'pipe' });
  });
});

describe('network-none/unix-shim.mjs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-shim-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('relays HTTP from a loopback port to a Unix socket', async () => {
    const sock = join(dir, 'up.sock');
    const server = http.createServer((req, res) => res.end(`${req.method} ${req.url} via unix`));
    await new Promise<void>((r) => server.listen(sock, r));
    const shim = spawn(process.execPath, [join(DEPLOY, 'network-none/unix-shim.mjs'), '127.0.0.1:0', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const port = await new Promise<number>((res, rej) => {
        let err = '';
        shim.stderr.on('data', (c) => {
          err += c;
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
          if (m) res(Number(m[1]));
        });
        shim.on('exit', (code) => rej(new Error(`shim exited ${code}: ${err}`)));
      });
      for (const path of ['/v1/messages', '/v1/second']) {
        const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: 'x' });
        expect(await r.text()).toBe(`POST ${path} via unix`);
      }
    } finally {
      shim.kill();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('kubernetes/fleet: several replicas, one PostgreSQL, the UI on its own', () => {
  const dir = join(DEPLOY, 'kubernetes/fleet');
  const all = readdirSync(dir).flatMap((f) => docs(join(dir, f)));
  type Container = Obj & { name: string; command?: string[]; args?: string[]; env?: Obj[]; volumeMounts?: Obj[]; securityContext?: Obj; readinessProbe?: Obj; ports?: Obj[] };
  type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: Obj[] };
  const byKind = (kind: string, name: string) => all.find((d) => d.kind === kind && (d.metadata as Obj).name === name);
  const podSpec = (w: Obj) => ((w.spec as Obj).template as Obj).spec as PodSpec;
  const argv = (c: Container) => [...(c.command ?? []), ...(c.args ?? [])];
  const configMapOf = (spec: PodSpec, c: Container, path: string) => {
    const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(`${String(m.mountPath)}/`))!;
    expect(mount, `${c.name}: ${path} is mounted`).toBeDefined();
    expect(mount.subPath, `${c.name}: mounted as a directory, so updates reach it`).toBeUndefined();
    const vol = (spec.volumes ?? []).find((v) => v.name === mount.name)!;
    const cm = byKind('ConfigMap', String((vol.configMap as Obj).name))!;
    return String((cm.data as Obj)[path.slice(String(mount.mountPath).length + 1)]);
  };
  const secretEnv = (c: Container) => (c.env ?? []).filter((e) => isObj(e.valueFrom) && isObj((e.valueFrom as Obj).secretKeyRef)).map((e) => String(e.name));

  it('airlock: a Deployment of several replicas, each an instance named by its pod, writing to PostgreSQL, re-reading its ConfigMap policy when it changes', () => {
    const d = byKind('Deployment', 'airlock')!;
    expect(Number((d.spec as Obj).replicas)).toBeGreaterThanOrEqual(2);
    const spec = podSpec(d);
    const c = spec.containers.find((x) => argv(x).includes('start'))!;
    const a = argv(c);
    expect(a).toContain('--reload-on-change');
    const policyText = configMapOf(spec, c, a[a.indexOf('--config') + 1]);
    const store = storeOf(policyText);
    expect(store.instance).toBe('env:POD_NAME');
    expect((store.postgres as Obj).url).toBe('env:AIRLOCK_PG_URL');
    const podName = (c.env ?? []).find((e) => e.name === 'POD_NAME');
    expect(((podName?.valueFrom as Obj)?.fieldRef as Obj)?.fieldPath).toBe('metadata.name');
    expect(secretEnv(c)).toContain('AIRLOCK_PG_URL');
    // Ready as long as requests are served: /healthz on the policy's admin listener.
    const admin = /^\s*admin:\s*\S+:(\d+)/m.exec(policyText)![1];
    const probe = c.readinessProbe?.httpGet as Obj;
    expect(probe.path).toBe('/healthz');
    expect((c.ports ?? []).find((p) => p.name === probe.port)?.containerPort).toBe(Number(admin));
    // The data dir (CA, spool) is a volume, airlock runs as the image's uid on a read-only root.
    const dataDir = /^data_dir:\s*(\S+)/m.exec(policyText)![1];
    expect((c.volumeMounts ?? []).some((m) => m.mountPath === dataDir)).toBe(true);
    expect(c.securityContext?.runAsUser).toBe(dockerfileUid());
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    // Agents reach it through a Service.
    const svc = byKind('Service', 'airlock')!;
    expect(((svc.spec as Obj).selector as Obj).app).toBe('airlock');
  });

  it('the UI: a Deployment of its own over the same store, with the PostgreSQL URL as its only secret', () => {
    const d = byKind('Deployment', 'airlock-ui')!;
    const spec = podSpec(d);
    const c = spec.containers[0];
    const a = argv(c);
    expect(a.slice(a.indexOf('ui'), a.indexOf('ui') + 2)).toEqual(['ui', '--config']);
    const text = configMapOf(spec, c, a[a.indexOf('--config') + 1]);
    const tmp = mkdtempSync(join(tmpdir(), 'airlock-deploy-ui-'));
    try {
      writeFileSync(join(tmp, 'ui-policy.yaml'), text);
      uiPolicyOk(join(tmp, 'ui-policy.yaml'));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    expect(secretEnv(c)).toEqual(['AIRLOCK_PG_URL']);
  });

  it('PostgreSQL: a StatefulSet with a volume of its own, reachable only from airlock', () => {
    const s = byKind('StatefulSet', 'airlock-postgres')!;
    expect(((s.spec as Obj).volumeClaimTemplates as Obj[]).length).toBe(1);
    const np = byKind('NetworkPolicy', 'airlock-postgres')!;
    const from = ((np.spec as Obj).ingress as Obj[])[0].from as Obj[];
    expect(from.map((f) => ((f.podSelector as Obj).matchLabels as Obj).app).sort()).toEqual(['airlock', 'airlock-ui']);
  });
});
