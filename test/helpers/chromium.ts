// Debian's Chromium driven by playwright-core (which never downloads a browser of its own):
// headless, a fresh empty profile per launch, and a close() that always removes both.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's package `chromium` (installed by .ci/install-system-deps.sh). */
export const CHROMIUM_PATH = process.env.AIRLOCK_TEST_CHROMIUM ?? '/usr/bin/chromium';

export interface TestChromium {
  context: BrowserContext;
  /** Closes the browser (killing it if it does not close in time) and deletes its profile. Safe to call twice. */
  close(): Promise<void>;
}

export async function launchChromium(): Promise<TestChromium> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: install Debian's chromium package (npm run test:setup)`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
  } catch (err) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      const pid = browserPid(profile);
      const closedInTime = await Promise.race([
        context.close().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref()),
      ]);
      // A browser that did not close in time is killed by its own pid (never by name).
      if (!closedInTime && pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      fs.rmSync(profile, { recursive: true, force: true });
    })());
  return { context, close };
}

/** Chromium's SingletonLock in its profile is a symlink to "HOSTNAME-PID": the browser's own pid. */
function browserPid(profile: string): number | undefined {
  try {
    const m = /-(\d+)$/.exec(fs.readlinkSync(path.join(profile, 'SingletonLock')));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
