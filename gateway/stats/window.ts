/**
 * Sliding windows for the statistics: event counts in one-second buckets (rates) and HDR
 * histograms in one-second slots (latency percentiles over the last seconds). Both are rings that
 * forget a bucket when its second comes round again; nothing is allocated per event.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import type { Percentiles } from '../../protocol/index.ts';

const SECOND = 1000;

/** Counts in one-second buckets, for rates over any window up to `capacityS` seconds. */
export class WindowCounter {
  private readonly counts: Float64Array;
  private readonly stamps: Float64Array;

  constructor(private readonly capacityS: number) {
    this.counts = new Float64Array(capacityS + 1);
    this.stamps = new Float64Array(capacityS + 1).fill(-1);
  }

  add(now: number, n = 1): void {
    const s = Math.floor(now / SECOND);
    const i = s % this.counts.length;
    if (this.stamps[i] !== s) {
      this.stamps[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  /** The count over the current (partial) second and the `windowS - 1` seconds before it. */
  sum(now: number, windowS: number): number {
    const s = Math.floor(now / SECOND);
    let total = 0;
    for (let k = 0; k < Math.min(windowS, this.capacityS); k++) {
      const sec = s - k;
      const i = sec % this.counts.length;
      if (this.stamps[i] === sec) total += this.counts[i]!;
    }
    return total;
  }

  /**
   * Events per second over the last `windowS` seconds (the current partial second included), or
   * over the time since `since` when that is shorter.
   */
  rate(now: number, windowS: number, since: number): number {
    const span = Math.min(windowS - 1 + (now % SECOND) / SECOND, (now - since) / SECOND);
    if (span <= 0.05) return 0;
    return this.sum(now, windowS) / span;
  }
}

/** The highest latency tracked (ms); longer ones are recorded as this. */
export const MAX_TRACKED_MS = 3_600_000;

function newHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKED_MS,
    numberOfSignificantValueDigits: 2,
    bitBucketSize: 32,
    autoResize: false,
  });
}

/**
 * Latencies (ms) in one-second HDR histogram slots; percentiles over the last `windowS` seconds
 * merge the slots still in the window. Also counts every value ever recorded (`total`, `sum`).
 */
export class RollingHistogram {
  private readonly slots: (Histogram | null)[];
  private readonly stamps: number[];
  private merged: Histogram | null = null;
  total = 0;
  sum = 0;

  constructor(private readonly windowS: number) {
    this.slots = new Array<Histogram | null>(windowS).fill(null);
    this.stamps = new Array<number>(windowS).fill(-1);
  }

  record(now: number, valueMs: number): void {
    const v = Math.min(Math.max(0, Math.round(valueMs)), MAX_TRACKED_MS);
    const s = Math.floor(now / SECOND);
    const i = s % this.windowS;
    let h = this.slots[i];
    if (!h) {
      h = newHistogram();
      this.slots[i] = h;
      this.stamps[i] = s;
    } else if (this.stamps[i] !== s) {
      h.reset();
      this.stamps[i] = s;
    }
    h.recordValue(v);
    this.total++;
    this.sum += v;
  }

  /** p50/p90/p99/max over the window (all 0 when nothing was recorded in it). */
  percentiles(now: number): Percentiles {
    const s = Math.floor(now / SECOND);
    if (!this.merged) this.merged = newHistogram();
    const m = this.merged;
    m.reset();
    for (let i = 0; i < this.windowS; i++) {
      const h = this.slots[i];
      const stamp = this.stamps[i]!;
      if (h && stamp > s - this.windowS && stamp <= s && h.totalCount > 0) m.add(h);
    }
    const count = m.totalCount;
    if (count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, count: 0 };
    return {
      p50: m.getValueAtPercentile(50),
      p90: m.getValueAtPercentile(90),
      p99: m.getValueAtPercentile(99),
      max: m.maxValue,
      count,
    };
  }
}
