/**
 * Allocation as a pure function: which terminals serve which part of an order.
 * Fewest terminals first, then the most available stock; a line is split across terminals when no
 * single one can cover it. Only terminals passed as candidates (online, breaker closed) are used.
 */
import type { AllocationEntry, OrderLine } from '../protocol/index.ts';

/** Available units per terminal and SKU. */
export type StockMap = ReadonlyMap<string, ReadonlyMap<string, number>>;

export type AllocationResult =
  | { ok: true; allocation: AllocationEntry[] }
  | { ok: false; reason: 'out_of_stock' | 'terminals_unavailable'; sku: string };

/**
 * @param candidates stock at terminals that may be used now
 * @param elsewhere stock at terminals that stock the SKU but may not be used now (offline, open
 *   breaker): if they could have covered the shortfall, the order failed for want of terminals,
 *   not of stock.
 */
export function allocate(
  lines: readonly OrderLine[],
  candidates: StockMap,
  elsewhere: StockMap = new Map(),
): AllocationResult {
  for (const line of lines) {
    const here = total(candidates, line.sku);
    if (here < line.qty) {
      const there = total(elsewhere, line.sku);
      return {
        ok: false,
        reason: here + there >= line.qty ? 'terminals_unavailable' : 'out_of_stock',
        sku: line.sku,
      };
    }
  }

  // One terminal for the whole order, the best stocked one.
  let best: { tid: string; units: number } | null = null;
  for (const [tid, stock] of candidates) {
    if (!lines.every((l) => (stock.get(l.sku) ?? 0) >= l.qty)) continue;
    const units = lines.reduce((sum, l) => sum + (stock.get(l.sku) ?? 0), 0);
    if (!best || units > best.units || (units === best.units && tid < best.tid)) best = { tid, units };
  }
  if (best)
    return { ok: true, allocation: lines.map((l) => ({ terminal: best.tid, sku: l.sku, qty: l.qty })) };

  // Greedy set cover: take the terminal that completes the most remaining lines, then the one
  // that contributes the most units; split what is left.
  const remaining = new Map(lines.map((l) => [l.sku, l.qty]));
  const left = new Map([...candidates].map(([tid, stock]) => [tid, new Map(stock)]));
  const allocation: AllocationEntry[] = [];
  while ([...remaining.values()].some((q) => q > 0)) {
    let pick: { tid: string; full: number; units: number } | null = null;
    for (const [tid, stock] of left) {
      let full = 0;
      let units = 0;
      for (const [sku, qty] of remaining) {
        if (qty === 0) continue;
        const avail = stock.get(sku) ?? 0;
        if (avail >= qty) full++;
        units += Math.max(0, Math.min(avail, qty));
      }
      if (units === 0) continue;
      if (
        !pick ||
        full > pick.full ||
        (full === pick.full && (units > pick.units || (units === pick.units && tid < pick.tid)))
      ) {
        pick = { tid, full, units };
      }
    }
    if (!pick) {
      // Unreachable given the totals check above; kept as a guard against inconsistent input.
      const sku = [...remaining].find(([, q]) => q > 0)![0];
      return { ok: false, reason: 'out_of_stock', sku };
    }
    const stock = left.get(pick.tid)!;
    for (const line of lines) {
      const need = remaining.get(line.sku)!;
      const take = Math.min(need, stock.get(line.sku) ?? 0);
      if (take <= 0) continue;
      allocation.push({ terminal: pick.tid, sku: line.sku, qty: take });
      remaining.set(line.sku, need - take);
      stock.set(line.sku, (stock.get(line.sku) ?? 0) - take);
    }
    left.delete(pick.tid);
  }
  return { ok: true, allocation };
}

function total(stock: StockMap, sku: string): number {
  let sum = 0;
  for (const s of stock.values()) sum += Math.max(0, s.get(sku) ?? 0);
  return sum;
}

/** Groups an allocation by terminal, lines merged per SKU. */
export function byTerminal(allocation: readonly AllocationEntry[]): Map<string, OrderLine[]> {
  const out = new Map<string, OrderLine[]>();
  for (const a of allocation) {
    const lines = out.get(a.terminal) ?? [];
    const existing = lines.find((l) => l.sku === a.sku);
    if (existing) existing.qty += a.qty;
    else lines.push({ sku: a.sku, qty: a.qty });
    out.set(a.terminal, lines);
  }
  return out;
}
