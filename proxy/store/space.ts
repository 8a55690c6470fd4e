// Typed access to space.cjs (shared with the writer thread).
import { createRequire } from 'node:module';
import { packageFile } from '../package-file.ts';
import type { StoreProblem } from './availability.ts';

/** store.min_free: a size, a share of the file system, or neither (1 GiB or 5 %, whichever is smaller). */
export interface MinFree {
  bytes?: number;
  percent?: number;
}

interface SpaceModule {
  classify(err: unknown): StoreProblem | null;
  floorOf(statfs: { blocks: number; bsize: number }, minFree?: MinFree): number;
}

const mod = createRequire(import.meta.url)(packageFile('proxy/store/space.cjs')) as SpaceModule;
export const { classify, floorOf } = mod;
