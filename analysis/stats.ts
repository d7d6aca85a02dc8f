/**
 * Small mergeable summaries for streaming analysis: memory bounded whatever the input size.
 * - `LogHistogram`: log-spaced bins (20 per decade, ~12% wide) for charts and per-time-bin
 *   percentiles; mergeable.
 * - `Latency`: an HDR histogram (3 significant digits) for the reported percentiles, plus a
 *   LogHistogram for the chart.
 * - `TimeBins`: a time series whose bin width grows (1 s, 2 s, 10 s, ...) so it never holds more
 *   than `maxBins` bins; bins merge when it coarsens.
 * - `TopK`, `robustZ`.
 */
import { build, type Histogram } from 'hdr-histogram-js';

const PER_DECADE = 20;
const DECADES = 9; // 1 ms .. 1e9 ms (11 days)
const NBINS = 1 + PER_DECADE * DECADES;

export class LogHistogram {
  readonly counts = new Uint32Array(NBINS);
  count = 0;

  static index(v: number): number {
    if (!(v >= 1)) return 0;
    return Math.min(NBINS - 1, 1 + Math.floor(Math.log10(v) * PER_DECADE + 1e-9));
  }
  /** [lo, hi) of a bin; bin 0 holds [0, 1). */
  static edges(i: number): [number, number] {
    if (i === 0) return [0, 1];
    return [10 ** ((i - 1) / PER_DECADE), 10 ** (i / PER_DECADE)];
  }

  add(v: number): void {
    this.counts[LogHistogram.index(v)]!++;
    this.count++;
  }

  merge(other: LogHistogram): void {
    for (let i = 0; i < NBINS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
  }

  /** The geometric middle of the bin holding quantile q (0..1); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < NBINS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const [lo, hi] = LogHistogram.edges(i);
        return i === 0 ? 0.5 : Math.sqrt(lo * hi);
      }
    }
    return Number.NaN;
  }

  /** Non-empty bins, for charts. */
  bins(): { lo: number; hi: number; count: number }[] {
    const out: { lo: number; hi: number; count: number }[] = [];
    for (let i = 0; i < NBINS; i++) {
      const count = this.counts[i]!;
      if (count === 0) continue;
      const [lo, hi] = LogHistogram.edges(i);
      out.push({ lo: round3(lo), hi: round3(hi), count });
    }
    return out;
  }
}

export interface LatencySummary {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  bins: { lo: number; hi: number; count: number }[];
}

/** Latencies in ms (integers; negative values are clamped to 0 by the caller). */
export class Latency {
  private readonly hdr: Histogram = build({
    numberOfSignificantValueDigits: 3,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 2 ** 40,
    autoResize: true,
  });
  readonly log = new LogHistogram();
  private min = Number.POSITIVE_INFINITY;
  private max = 0;

  add(ms: number): void {
    const v = Math.max(0, Math.round(ms));
    this.hdr.recordValue(v);
    this.log.add(v);
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  get count(): number {
    return this.log.count;
  }

  summary(): LatencySummary {
    const n = this.count;
    // HDR answers the highest value equivalent to the bucket's: never more than the real maximum.
    const p = (q: number) => (n === 0 ? 0 : Math.min(this.hdr.getValueAtPercentile(q), this.max));
    return {
      count: n,
      mean: n === 0 ? 0 : round3(this.hdr.mean),
      min: n === 0 ? 0 : this.min,
      p50: p(50),
      p90: p(90),
      p99: p(99),
      p999: p(99.9),
      max: this.max,
      bins: this.log.bins(),
    };
  }
}

/** Bin widths, each a multiple of the one before, so coarsening merges whole bins. */
const WIDTHS = [
  1_000, 2_000, 10_000, 20_000, 60_000, 120_000, 600_000, 1_200_000, 3_600_000, 7_200_000, 21_600_000,
  86_400_000,
];

export class TimeBins<T> {
  width: number;
  private bins = new Map<number, T>();
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;

  /**
   * @param merge folds `later` into `into` (bins are merged in time order, so last-value
   *   summaries can let the later one win).
   */
  constructor(
    private readonly create: () => T,
    private readonly merge: (into: T, later: T) => void,
    readonly maxBins = 600,
    startWidth = 1_000,
  ) {
    this.width = startWidth;
  }

  /** The bin holding time t (ms). */
  at(t: number): T {
    let k = Math.floor(t / this.width);
    while (Math.max(this.hi, k) - Math.min(this.lo, k) + 1 > this.maxBins) {
      this.coarsen();
      k = Math.floor(t / this.width);
    }
    let bin = this.bins.get(k);
    if (!bin) {
      bin = this.create();
      this.bins.set(k, bin);
      if (k < this.lo) this.lo = k;
      if (k > this.hi) this.hi = k;
    }
    return bin;
  }

  private coarsen(): void {
    const next = WIDTHS.find((w) => w > this.width) ?? this.width * 2;
    const factor = next / this.width;
    const old = [...this.bins.entries()].sort((a, b) => a[0] - b[0]);
    this.bins = new Map();
    this.width = next;
    this.lo = Number.POSITIVE_INFINITY;
    this.hi = Number.NEGATIVE_INFINITY;
    for (const [k, v] of old) {
      const nk = Math.floor(k / factor);
      const into = this.bins.get(nk);
      if (into) this.merge(into, v);
      else {
        this.bins.set(nk, v);
        if (nk < this.lo) this.lo = nk;
        if (nk > this.hi) this.hi = nk;
      }
    }
  }

  get size(): number {
    return this.bins.size;
  }

  /** Every bin from the first to the last in time order, `undefined` where nothing happened. */
  *entries(): Generator<[start: number, bin: T | undefined]> {
    if (this.bins.size === 0) return;
    for (let k = this.lo; k <= this.hi; k++) yield [k * this.width, this.bins.get(k)];
  }
}

/** The k largest items by score. */
export class TopK<T> {
  private items: { score: number; item: T }[] = [];
  constructor(readonly k: number) {}

  /** Whether an item with this score would enter (cheap pre-check before building the item). */
  wants(score: number): boolean {
    return this.items.length < this.k || score > this.items[this.items.length - 1]!.score;
  }

  offer(score: number, item: T): void {
    if (!this.wants(score)) return;
    this.items.push({ score, item });
    this.items.sort((a, b) => b.score - a.score);
    if (this.items.length > this.k) this.items.pop();
  }

  /** Highest score first. */
  list(): T[] {
    return this.items.map((x) => x.item);
  }
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Modified z-scores (Iglewicz and Hoaglin): 0.6745 (x - median) / MAD. When the MAD is 0 (more than
 * half the values equal), falls back to the mean absolute deviation (x - median) / (1.2533 MeanAD);
 * when that is 0 too, every value equals the median and every score is 0.
 */
export function robustZ(xs: readonly number[]): { median: number; scores: number[] } {
  const med = median(xs);
  const dev = xs.map((x) => Math.abs(x - med));
  const mad = median(dev);
  if (mad > 0) return { median: med, scores: xs.map((x) => (0.6745 * (x - med)) / mad) };
  const meanAd = dev.reduce((s, d) => s + d, 0) / (xs.length || 1);
  if (meanAd > 0) return { median: med, scores: xs.map((x) => (x - med) / (1.253314 * meanAd)) };
  return { median: med, scores: xs.map(() => 0) };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
