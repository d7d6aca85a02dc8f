/**
 * Where each SKU is stocked, as a pure seeded function: some SKUs at one terminal, some at
 * several, so allocation has real choices to make (and splits to do).
 */
import { Rng } from '../lib/random.ts';

export interface LayoutOptions {
  terminals: readonly string[];
  skus: number;
  /** Most terminals one SKU is stocked at. */
  maxReplicas: number;
  /** Initial units per (terminal, SKU). */
  stock: readonly [number, number];
  seed: number;
}

export function skuName(i: number): string {
  return `sku-${String(i + 1).padStart(4, '0')}`;
}

/** Terminal id -> SKU -> initial units. Every SKU is stocked somewhere. */
export function layout(opts: LayoutOptions): Map<string, Record<string, number>> {
  if (opts.terminals.length === 0) throw new Error('a layout needs at least one terminal');
  const rng = new Rng(opts.seed);
  const out = new Map<string, Record<string, number>>(opts.terminals.map((t) => [t, {}]));
  const replicas = Math.max(1, Math.min(opts.maxReplicas, opts.terminals.length));
  for (let i = 0; i < opts.skus; i++) {
    const sku = skuName(i);
    // Half the SKUs live at one terminal; the rest at 2..replicas.
    const n = replicas === 1 || rng.next() < 0.5 ? 1 : rng.int(2, replicas);
    const start = (i + rng.int(0, opts.terminals.length - 1)) % opts.terminals.length;
    for (let k = 0; k < n; k++) {
      const tid = opts.terminals[(start + k) % opts.terminals.length]!;
      out.get(tid)![sku] = rng.int(opts.stock[0], opts.stock[1]);
    }
  }
  return out;
}
