// The native scanner (native/dlp: Hyperscan finds every rule's candidates in one pass, RE2 in C++
// verifies them), loaded when it was built and its matcher passes a known-answer self-test.
// `npm ci` builds it when libhyperscan-dev and libre2-dev are installed (`npm run setup`); without
// them airlock runs the node-re2 engine (re2-engine.ts), which finds the same, several times slower.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { packageFile } from '../package-file.ts';

export interface NativeRuleSpec {
  pattern: string;
  keywords: readonly string[];
  prefilter?: string;
  maxLen: number;
}

/** [rule, start, end, sStart, sEnd, via, secret] */
export type NativeMatch = [number, number, number, number, number, string, Buffer];

export interface NativeEngine {
  /** [holdFrom, segments as flat [start, end, ...], matches] */
  scan(raw: Buffer, from: number, enabled: Uint8Array, form: boolean, final: boolean): [number, number[], NativeMatch[]];
  /** Matches in the bytes as they are (no decoding views), not yet validated. */
  find(buf: Buffer, from: number, enabled: Uint8Array): NativeMatch[];
  /** Each buffer scanned whole and on its own (segments.ts): null or its matches, not yet validated. */
  scanPieces(pieces: Buffer[], enabled: Uint8Array): (NativeMatch[] | null)[];
}

/** [ends (stream offsets), SHA-256s (32 bytes each), isolated flags, keyed tags (16 bytes each)] */
export type Chunks = [number[], Buffer, boolean[], Buffer];

export interface NativeChunker {
  feed(b: Buffer): Chunks | null;
  finish(): Chunks | null;
  /** 0: only whitespace so far, 1: JSON, 2: anything else. */
  mode(): number;
}

interface Addon {
  Engine: new (rules: NativeRuleSpec[]) => NativeEngine;
  /**
   * `cdc`: cut what is not JSON by content-defined chunking (for the store), else not at all;
   * `hash`: each chunk's SHA-256 and keyed tag (default true); `min`: JSON chunks end at an
   * element only once they hold this many bytes (default 0).
   */
  Chunker: new (cdc: boolean, hash?: boolean, min?: number) => NativeChunker;
  decodeBase64(b: Buffer): Buffer;
  /** Raw deflate, as zlib.deflateRawSync writes it, on a zlib stream the thread reuses (store/chunks.cjs). */
  deflateRaw(b: Buffer, level: number): Buffer;
  /** '' when the pattern matcher finds known answers at every buffer alignment. */
  selfTest(): string;
  /** [start, end] per key of a top-level JSON object's values, -1 where absent (llm.ts). */
  topLevel(b: Buffer, keys: string[]): number[];
  /** [start, end] of each element of the JSON array b[start, end) (store/sessions.cjs). */
  arrayElements(b: Buffer, start: number, end: number): number[];
  /** The widest vector path the scanner takes here: 'avx512', 'avx2' or 'sse2' (AIRLOCK_DLP_SIMD caps it). */
  simdLevel(): string;
  /** Threads share `n` glibc heap arenas (main.ts, at start). */
  limitMallocArenas(n: number): boolean;
  /** Asks V8 to start an incremental mark-compact of this thread's heap (memory-watch.ts). */
  collectSoon(): boolean;
}

let addon: Addon | null | undefined;
let loadError: string | undefined;

/** The addon, or null (with the reason in nativeUnavailable()) when it is not built or is turned off. */
export function nativeAddon(): Addon | null {
  if (addon !== undefined) return addon;
  if (process.env.AIRLOCK_DLP_ENGINE === 're2') {
    loadError = 'AIRLOCK_DLP_ENGINE=re2';
    return (addon = null);
  }
  const file = packageFile('native/dlp/build/Release/airlock_dlp.node');
  try {
    if (!fs.existsSync(file)) throw new Error('not built (install libhyperscan-dev and libre2-dev: npm run setup, then npm run build:native)');
    const loaded = createRequire(import.meta.url)(file) as Addon;
    const broken = loaded.selfTest();
    if (broken) throw new Error(`not used: ${broken} (install libhyperscan-dev, not libvectorscan-dev, then npm run build:native)`);
    addon = loaded;
  } catch (err) {
    loadError = (err as Error).message;
    addon = null;
  }
  if (!addon && process.env.AIRLOCK_DLP_ENGINE === 'native') throw new Error(`the native DLP engine is required (AIRLOCK_DLP_ENGINE=native) but ${loadError}`);
  return addon;
}

/** Why the native engine is not in use, or undefined when it is. */
export function nativeUnavailable(): string | undefined {
  nativeAddon();
  return loadError;
}
