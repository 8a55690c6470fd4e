// The latency histogram's percentile labels: one line each, and inside the plot near its right edge.
import { describe, expect, it } from 'vitest';
import { LatencyChart } from '../../web-ui/charts.tsx';
import { LATENCY_BINS } from '../../proxy/store/reader.ts';

describe('LatencyChart', () => {
  it('p50, p90 and p99 close together get labels on lines of their own, drawn leftwards near the right edge', () => {
    const svg = String(LatencyChart({ bins: new Array(LATENCY_BINS.length + 1).fill(1), bounds: LATENCY_BINS, p50: 29_000, p90: 29_500, p99: 29_900 }));
    const labels = [...svg.matchAll(/<text class="label (p\d\d)" x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)">/g)].map((m) => ({ k: m[1], x: Number(m[2]), y: Number(m[3]), anchor: m[4] }));
    expect(labels.map((l) => l.k)).toEqual(['p50', 'p90', 'p99']);
    const ys = labels.map((l) => l.y);
    for (let i = 1; i < ys.length; i++) expect(ys[i] - ys[i - 1]).toBeGreaterThanOrEqual(14);
    expect(labels.every((l) => l.anchor === 'end')).toBe(true);
  });
});
