/**
 * The gateway's view of every terminal's stock, built from the retained `state` and `inventory`
 * topics, corrected by holds: units the gateway asked a terminal to reserve that the terminal's
 * published inventory does not show yet. A hold is settled once an inventory with a seq at least
 * the one the terminal's reply named has been seen, so nothing is counted twice or not at all.
 */
import type { Inventory, OrderLine, StockItem, TerminalState } from '../protocol/index.ts';
import type { StockMap } from './allocation.ts';

interface TerminalView {
  tid: string;
  /** Order of first appearance: split() lists terminals in it. */
  ord: number;
  online: boolean;
  board?: string;
  seq: number;
  acceptAnySeq: boolean;
  /** The items as the last accepted inventory had them: what `stock()` hands out (not a copy). */
  published: Record<string, StockItem>;
  /** tx -> held lines, and the seq after which the inventory reflects them (unknown until the reply). */
  holds: Map<string, { lines: OrderLine[]; settleAtSeq?: number }>;
}

export class InventoryView {
  private readonly terminals = new Map<string, TerminalView>();
  /** SKU -> the terminals whose last inventory lists it: split() looks at those only. */
  private readonly bySku = new Map<string, Set<TerminalView>>();

  onState(tid: string, state: TerminalState): void {
    const t = this.terminal(tid);
    t.online = state.state === 'online';
    if (state.state === 'online') {
      t.acceptAnySeq = true;
      t.board = state.board;
    }
  }

  /** Takes a terminal's inventory; returns the SKUs its previous one did not list (usually none). */
  onInventory(tid: string, inventory: Inventory): string[] {
    const t = this.terminal(tid);
    const added: string[] = [];
    // A late (reordered or duplicated) inventory never overwrites a newer one. The seq is the
    // terminal ledger's, durable and increasing; a reset only happens with a fresh ledger, which
    // announces itself with an `online` state first.
    if (inventory.seq < t.seq && !t.acceptAnySeq) return added;
    t.acceptAnySeq = false;
    t.seq = inventory.seq;
    // Called for every inventory publish (50 items or more each): no copies, only the differences.
    const before = t.published;
    const after = inventory.items;
    for (const sku in before) if (!Object.hasOwn(after, sku)) this.bySku.get(sku)?.delete(t);
    for (const sku in after) {
      if (!Object.hasOwn(after, sku)) continue;
      if (Object.hasOwn(before, sku)) continue;
      added.push(sku);
      let holders = this.bySku.get(sku);
      if (!holders) {
        holders = new Set();
        this.bySku.set(sku, holders);
      }
      holders.add(t);
    }
    t.published = after;
    for (const [tx, hold] of t.holds) {
      if (hold.settleAtSeq !== undefined && hold.settleAtSeq <= t.seq) t.holds.delete(tx);
    }
    return added;
  }

  hold(tid: string, tx: string, lines: OrderLine[]): void {
    this.terminal(tid).holds.set(tx, { lines });
  }

  /** The terminal answered for `tx` at `seq`: drop the hold once the inventory shows it (now, if no seq). */
  settle(tid: string, tx: string, seq?: number): void {
    const t = this.terminals.get(tid);
    const hold = t?.holds.get(tx);
    if (!t || !hold) return;
    if (seq === undefined || seq <= t.seq) t.holds.delete(tx);
    else hold.settleAtSeq = seq;
  }

  isOnline(tid: string): boolean {
    return this.terminals.get(tid)?.online ?? false;
  }

  terminalIds(): string[] {
    return [...this.terminals.keys()].sort();
  }

  onlineCount(): number {
    let n = 0;
    for (const t of this.terminals.values()) if (t.online) n++;
    return n;
  }

  /**
   * The stock the terminal last published, as it published it (shared, not copied: called on
   * every inventory message; callers must not change it).
   */
  stock(tid: string): Readonly<Record<string, StockItem>> {
    return this.terminals.get(tid)?.published ?? {};
  }

  available(tid: string, sku: string): number {
    const t = this.terminals.get(tid);
    if (!t) return 0;
    const item = Object.hasOwn(t.published, sku) ? t.published[sku] : undefined;
    let avail = item ? item.onHand - item.reserved - item.committed : 0;
    for (const hold of t.holds.values()) for (const l of hold.lines) if (l.sku === sku) avail -= l.qty;
    return avail;
  }

  /**
   * Stock for the given SKUs, split into terminals that may be used (online and `usable`) and
   * those that stock them but may not be used now.
   */
  split(
    skus: readonly string[],
    usable: (tid: string) => boolean,
    catalog: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
  ): { candidates: StockMap; elsewhere: StockMap } {
    const candidates = new Map<string, Map<string, number>>();
    const elsewhere = new Map<string, Map<string, number>>();
    // Terminals known to stock a SKU that have not reported since this gateway started: their
    // stock is unknown, so a shortfall is for want of terminals, not of stock.
    for (const [tid, known] of catalog) {
      if (this.terminals.has(tid)) continue;
      const stock = new Map<string, number>();
      for (const sku of skus) if (known.has(sku)) stock.set(sku, Number.MAX_SAFE_INTEGER);
      if (stock.size > 0) elsewhere.set(tid, stock);
    }
    // Only the terminals that stock one of the SKUs, in the order of this.terminals (as a scan of
    // every terminal would list them: at a thousand terminals that scan was the gateway's top cost).
    const holders = new Set<TerminalView>();
    for (const sku of skus) for (const t of this.bySku.get(sku) ?? []) holders.add(t);
    for (const t of [...holders].sort((a, b) => a.ord - b.ord)) {
      const tid = t.tid;
      const stock = new Map<string, number>();
      for (const sku of skus) if (Object.hasOwn(t.published, sku)) stock.set(sku, this.available(tid, sku));
      if (stock.size === 0) continue;
      (t.online && usable(tid) ? candidates : elsewhere).set(tid, stock);
    }
    return { candidates, elsewhere };
  }

  private terminal(tid: string): TerminalView {
    let t = this.terminals.get(tid);
    if (!t) {
      t = {
        tid,
        ord: this.terminals.size,
        online: false,
        seq: 0,
        acceptAnySeq: true,
        published: {},
        holds: new Map(),
      };
      this.terminals.set(tid, t);
    }
    return t;
  }
}
