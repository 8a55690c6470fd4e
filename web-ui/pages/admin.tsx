/** @jsxImportSource hono/jsx */
// Policy (rules explained, reload and retention for admins), the CA, login, and plain messages.
import { describeAddr } from '../../proxy/io/listen.ts';
import type { Config } from '../../policies/types.ts';
import { bytes, Csrf, Layout, Note, type PageContext } from '../components.tsx';
import type { DlpRuleInfo, DlpSummary } from '../dlp.ts';
import type { Flash } from '../sessions.ts';

function FlashNote(props: { flash?: Flash }) {
  if (!props.flash) return null;
  return (
    <Note kind={props.flash.ok ? 'good' : 'bad'}>
      {props.flash.lines.map((l) => (
        <div>{l}</div>
      ))}
    </Note>
  );
}

function duration(ms: number): string {
  for (const [unit, size] of [
    ['w', 604_800_000],
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms} ms`;
}

export function PolicyPage(props: {
  ctx: PageContext;
  config: Config | undefined;
  flash?: Flash;
  canReload: boolean;
  canRetain: boolean;
  storeBytes: number | null;
  dlp: DlpRuleInfo[];
  dlpSummary: DlpSummary | null;
}) {
  const { config: c } = props;
  const admin = props.ctx.session?.role === 'admin';
  if (!c) {
    return (
      <Layout ctx={props.ctx} title="Policy">
        <h1>Policy</h1>
        <p class="muted">This UI was started without access to the policy.</p>
      </Layout>
    );
  }
  const listeners = Object.entries(c.listen).filter(([, a]) => a !== undefined);
  return (
    <Layout ctx={props.ctx} title="Policy">
      <h1>Policy in force</h1>
      <FlashNote flash={props.flash} />
      <p>
        {c.sourcePath ? (
          <>
            Loaded from <span class="mono">{c.sourcePath}</span>.{' '}
          </>
        ) : (
          'An in-memory policy. '
        )}
        {c.hosts.length} host rule{c.hosts.length === 1 ? '' : 's'}
        {c.deny.length > 0 && `, ${c.deny.length} deny rule${c.deny.length === 1 ? '' : 's'} (they win over every host rule)`}; every other host is denied.
      </p>
      {admin && props.canReload && (
        <form method="post" action="/policy/reload" class="toolbar">
          <Csrf session={props.ctx.session!} />
          <button type="submit" class="primary">
            Reload the policy file
          </button>
          <span class="muted">Same as SIGHUP: a policy with any problem is reported and not applied. Listeners, data dir, store and CA need a restart.</span>
        </form>
      )}
      {!admin && <p class="muted">Reloading the policy needs the admin role.</p>}

      <h2>Host rules</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Rule</th>
              <th>Match</th>
              <th>In plain words</th>
              <th>Injects</th>
              <th>Flows</th>
            </tr>
          </thead>
          <tbody>
            {c.hosts.length === 0 && (
              <tr>
                <td colspan={5} class="muted">
                  No rules: every host is denied.
                </td>
              </tr>
            )}
            {c.hosts.map((h) => (
              <tr id={`rule-${h.id}`}>
                <td class="mono">{h.id}</td>
                <td class="mono">{h.match}</td>
                <td>It {h.explain}.</td>
                <td class="mono">{h.injectHeaders.map((i) => i.name).join(', ') || <span class="muted">nothing</span>}</td>
                <td class="nowrap">
                  <a href={`/flows?rule=${encodeURIComponent(h.id)}`}>flows</a> · <a href={`/flows?rule=${encodeURIComponent(h.id)}&decision=deny`}>denied</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {c.deny.length > 0 && (
        <>
          <h2 id="deny">Deny rules</h2>
          <p class="muted">Checked before the host rules: a request or connection a deny rule matches is refused, whatever the host rules allow.</p>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Rule</th>
                  <th>Match</th>
                  <th>In plain words</th>
                  <th>Flows</th>
                </tr>
              </thead>
              <tbody>
                {c.deny.map((d) => (
                  <tr id={`rule-${d.id}`}>
                    <td class="mono">{d.id}</td>
                    <td class="mono">{d.match}</td>
                    <td>It {d.explain}.</td>
                    <td class="nowrap">
                      <a href={`/flows?rule=${encodeURIComponent(d.id)}`}>flows</a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}

      {props.dlpSummary && (
        <>
          <h2 id="dlp">Data loss prevention</h2>
          <p>
            {!props.dlpSummary.enabled
              ? 'DLP is off: bodies, headers and URLs are not scanned.'
              : props.dlpSummary.mode === 'report'
                ? 'Report mode: findings are recorded, but nothing is blocked or redacted.'
                : 'Enforced: each rule’s action below applies (block stops the request, redact replaces the secret, log only records it).'}{' '}
            {props.dlpSummary.enabled && (props.dlpSummary.responses ? 'Responses are scanned too.' : 'Responses are not scanned (echoes of injected keys are scrubbed regardless).')}
          </p>
          {props.dlpSummary.exceptions.length > 0 && (
            <div class="scroll">
              <table aria-label="DLP exceptions">
                <thead>
                  <tr>
                    <th>Exception: hosts</th>
                    <th>Paths</th>
                    <th>Rules</th>
                    <th>Action there</th>
                  </tr>
                </thead>
                <tbody>
                  {props.dlpSummary.exceptions.map((e) => (
                    <tr>
                      <td class="mono">{e.hosts.join(', ')}</td>
                      <td class="mono">{e.paths.join(', ') || 'any'}</td>
                      <td class="mono">{e.rules.join(', ')}</td>
                      <td>{e.action}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      {props.dlp.length > 0 && (
        <>
          <h3>DLP rules</h3>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Rule</th>
                  <th>Service</th>
                  <th>What it finds</th>
                  <th>Severity</th>
                  <th>Action</th>
                </tr>
              </thead>
              <tbody>
                {props.dlp.map((r) => (
                  <tr id={`dlp-${r.id}`}>
                    <td class="mono">
                      <a href={`/findings?rule_id=${encodeURIComponent(r.id)}`}>{r.id}</a>
                    </td>
                    <td>{r.service ?? ''}</td>
                    <td title={r.source ? `Format: ${r.source}` : undefined}>{r.description}</td>
                    <td>{r.severity ?? ''}</td>
                    <td>{r.action ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}

      <h2>Listeners</h2>
      <div class="card">
        <table class="kv">
          <tbody>
            {listeners.map(([name, a]) => (
              <tr>
                <th>{name}</th>
                <td class="mono">{describeAddr(a!)}</td>
              </tr>
            ))}
            {c.routes.map((r) => (
              <tr>
                <th>route</th>
                <td class="mono">
                  {describeAddr(r.listen)} → {r.upstream.href}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2 id="store">Flow store and retention</h2>
      <div class="card">
        <table class="kv">
          <tbody>
            <tr>
              <th>Store</th>
              {c.store.postgres ? (
                // The URL's source, never the URL (it holds a password).
                <td>
                  PostgreSQL, schema <span class="mono">{c.store.postgres.schema}</span>, URL from <span class="mono">{c.store.postgres.url.name}</span>; while it
                  cannot take writes, flows wait in <span class="mono">{c.store.postgres.spool.path}</span> (up to {bytes(c.store.postgres.spool.maxBytes)})
                </td>
              ) : (
                <td class="mono">{c.store.path}</td>
              )}
            </tr>
            <tr>
              <th>This instance</th>
              <td class="mono">{c.store.instance}</td>
            </tr>
            <tr>
              <th>Used</th>
              <td>{props.storeBytes === null ? '-' : bytes(props.storeBytes)}</td>
            </tr>
            <tr>
              <th>Bodies kept</th>
              <td>{c.store.bodyCapBytes === 0 ? 'none' : `the first ${bytes(c.store.bodyCapBytes)} of each`}</td>
            </tr>
            <tr>
              <th>Retention</th>
              <td>
                {c.store.retention.maxAgeMs === undefined && c.store.retention.maxBytes === undefined
                  ? 'none: every flow is kept'
                  : [
                      c.store.retention.maxAgeMs !== undefined ? `flows older than ${duration(c.store.retention.maxAgeMs)} are deleted` : '',
                      c.store.retention.maxBytes !== undefined ? `the oldest flows go while the store is over ${bytes(c.store.retention.maxBytes)}` : '',
                    ]
                      .filter(Boolean)
                      .join('; ')}
              </td>
            </tr>
          </tbody>
        </table>
        {admin && props.canRetain && (c.store.retention.maxAgeMs !== undefined || c.store.retention.maxBytes !== undefined) && (
          <form method="post" action="/retention" class="toolbar">
            <Csrf session={props.ctx.session!} />
            <button type="submit">Apply retention now</button>
            <span class="muted">Deletes what the limits above say should go (it also runs by itself about every minute).</span>
          </form>
        )}
      </div>
    </Layout>
  );
}

export interface CaInfo {
  subject: string;
  fingerprint256: string;
  validFrom: string;
  validTo: string;
  path: string;
}

export function CaPage(props: { ctx: PageContext; ca: CaInfo | null }) {
  const { ca } = props;
  return (
    <Layout ctx={props.ctx} title="CA">
      <h1>airlock’s CA certificate</h1>
      {!ca ? (
        <p class="muted">This UI was started without the CA certificate’s path.</p>
      ) : (
        <>
          <p>Agents must trust this certificate: airlock presents certificates it signs for every host it lets through.</p>
          <div class="card">
            <table class="kv">
              <tbody>
                <tr>
                  <th>Subject</th>
                  <td class="mono">{ca.subject}</td>
                </tr>
                <tr>
                  <th>SHA-256 fingerprint</th>
                  <td class="mono">{ca.fingerprint256}</td>
                </tr>
                <tr>
                  <th>Valid</th>
                  <td>
                    {ca.validFrom} to {ca.validTo}
                  </td>
                </tr>
                <tr>
                  <th>File</th>
                  <td class="mono">{ca.path}</td>
                </tr>
              </tbody>
            </table>
            <p class="toolbar">
              <a class="button primary" href="/ca/airlock-ca.pem" download>
                Download PEM
              </a>
              <a class="button" href="/ca/airlock-ca.der" download>
                Download DER
              </a>
              <span class="muted">The certificate only; the key never leaves airlock.</span>
            </p>
          </div>
        </>
      )}
      <h2>Install it</h2>
      <p>
        In an image build, <span class="mono">deploy/install-ca.sh</span> does all of the following for you (it is POSIX sh and needs no Node; see docs/deploy.md):
      </p>
      <pre class="snippet">{`COPY install-ca.sh airlock-ca.pem /tmp/airlock/
RUN sh /tmp/airlock/install-ca.sh /tmp/airlock/airlock-ca.pem && rm -r /tmp/airlock
# then start the agent with the env file it writes: --env-file /etc/airlock/agent.env`}</pre>
      <h3>Debian, Ubuntu</h3>
      <pre class="snippet">{`apt-get install -y --no-install-recommends ca-certificates
cp airlock-ca.pem /usr/local/share/ca-certificates/airlock.crt
update-ca-certificates`}</pre>
      <h3>Alpine</h3>
      <pre class="snippet">{`apk add --no-cache ca-certificates
cp airlock-ca.pem /usr/local/share/ca-certificates/airlock.crt
update-ca-certificates`}</pre>
      <h3>RHEL, Fedora, Rocky, Alma, Amazon Linux</h3>
      <pre class="snippet">{`cp airlock-ca.pem /etc/pki/ca-trust/source/anchors/airlock.crt
update-ca-trust extract`}</pre>
      <h3>Node.js</h3>
      <pre class="snippet">{`# added to Node's built-in roots (the CA alone is enough)
export NODE_EXTRA_CA_CERTS=/path/to/airlock-ca.pem`}</pre>
      <h3>Python (ssl, requests, pip)</h3>
      <pre class="snippet">{`# these replace the default roots: point them at the system bundle that now holds the CA
export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt        # RHEL: /etc/pki/tls/certs/ca-bundle.crt
export REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
export PIP_CERT=/etc/ssl/certs/ca-certificates.crt`}</pre>
      <h3>curl</h3>
      <pre class="snippet">{`curl --cacert airlock-ca.pem https://api.example.com/
# or for every call: export CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt`}</pre>
      <h3>git</h3>
      <pre class="snippet">{`git config --global http.sslCAInfo /etc/ssl/certs/ca-certificates.crt
# or: export GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt`}</pre>
      <h3>Java</h3>
      <pre class="snippet">{`# Java 9+: the JRE's default store (password "changeit")
keytool -importcert -noprompt -cacerts -storepass changeit -alias airlock -file airlock-ca.pem`}</pre>
      <p class="muted">
        To remove it: delete <span class="mono">airlock.crt</span> from the directory above and run <span class="mono">update-ca-certificates --fresh</span> or{' '}
        <span class="mono">update-ca-trust extract</span>; for Java, <span class="mono">keytool -delete -cacerts -storepass changeit -alias airlock</span>.
      </p>
    </Layout>
  );
}

export function LoginPage(props: { ctx: PageContext; loginCsrf: string; next: string; error?: string }) {
  return (
    <Layout ctx={props.ctx} title="Log in">
      <div class="login">
        <h1>airlock audit</h1>
        {props.error && <Note kind="bad">{props.error}</Note>}
        <form method="post" action="/login">
          <input type="hidden" name="csrf" value={props.loginCsrf} />
          <input type="hidden" name="next" value={props.next} />
          <label>
            Access token
            <input type="password" name="token" required autocomplete="current-password" autofocus spellcheck={false} />
          </label>
          <button type="submit" class="primary">
            Log in
          </button>
        </form>
        <p class="muted">
          The first token is printed once, when airlock first starts with <span class="mono">listen.ui</span>. More (read-only auditors, or admins):{' '}
          <span class="mono">airlock ui token add --name NAME --role auditor</span>.
        </p>
      </div>
    </Layout>
  );
}

export function MessagePage(props: { ctx: PageContext; title: string; text: string }) {
  return (
    <Layout ctx={props.ctx} title={props.title}>
      <h1>{props.title}</h1>
      <p>{props.text}</p>
      <p>
        <a href="/flows">Back to the flows</a>
      </p>
    </Layout>
  );
}
