/** A small seeded PRNG (mulberry32): every random choice in sims and chaos runs is reproducible. */
export class Rng {
  private state: number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.state = this.seed;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max], inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Exponential inter-arrival time for a Poisson process of `ratePerS`, in ms. */
  exponentialMs(ratePerS: number): number {
    return (-Math.log(1 - this.next()) / ratePerS) * 1000;
  }

  /** A fresh seed derived from this generator (for sub-generators). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 2 ** 32));
  }
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
