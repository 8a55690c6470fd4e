// Dead body buffers do not wait for V8's 64 MB margin. A body buffer that lives through two
// scavenges (a request body is held until its response ends) moves to the old generation, and
// V8 frees it only at a mark-compact. V8 starts one for such memory only once external memory
// has grown 64 MB past where the last one left it, and the 32 MB initial old generation
// (proxy/airlock.js) makes the heap's own trigger rare too. Under agent traffic the dead buffers
// piled up to ~45 MB, all of it resident (bench/agent-cpu.ts: peak RSS 166-177 MB; docs/bench.md).
// This watch asks V8 for an incremental mark-compact (the native addon's collectSoon) once
// external memory has grown SLACK_BYTES past its lowest point since the last one it asked for.
import v8 from 'node:v8';

/** Growth of external memory that starts a collection. */
const SLACK_BYTES = 16 * 1024 * 1024;
const INTERVAL_MS = 250;

export interface ExternalMemoryWatch {
  /** Collections asked for so far. */
  readonly requested: number;
  stop(): void;
}

export interface WatchOptions {
  slackBytes?: number;
  intervalMs?: number;
  /** External memory now (default: V8's count for this thread's isolate). */
  read?: () => number;
}

/**
 * Checks every intervalMs (an unref'd timer: it never keeps the process up). `collect` is
 * nativeAddon().collectSoon; without the addon there is nothing to ask with, and no watch.
 */
export function watchExternalMemory(collect: () => unknown, opts: WatchOptions = {}): ExternalMemoryWatch {
  const slack = opts.slackBytes ?? SLACK_BYTES;
  const read = opts.read ?? (() => v8.getHeapStatistics().external_memory);
  let floor = read();
  let requested = 0;
  const timer = setInterval(() => {
    const now = read();
    if (now < floor) floor = now;
    if (now - floor <= slack) return;
    collect();
    requested++;
    // Not asked again until as much more has grown; the collection lowers the floor as it frees.
    floor = now;
  }, opts.intervalMs ?? INTERVAL_MS);
  timer.unref();
  return {
    get requested() {
      return requested;
    },
    stop: () => clearInterval(timer),
  };
}

let processWatch: ExternalMemoryWatch | undefined;

/** One watch per thread, however many airlocks it starts (tests start several). */
export function watchProcessMemory(addon: { collectSoon(): boolean } | null): ExternalMemoryWatch | undefined {
  if (typeof addon?.collectSoon !== 'function') return undefined;
  processWatch ??= watchExternalMemory(() => addon.collectSoon());
  return processWatch;
}

/** This thread's watch, once an airlock started it. */
export function processMemoryWatch(): ExternalMemoryWatch | undefined {
  return processWatch;
}
