/**
 * The stock terminal's panel as pure logic: state in, display lines and LED states out; button
 * edges and knob readings in, ledger actions out. No board, no timers: `now` is always passed in,
 * so every behaviour is unit-tested without hardware (test/unit/panel*.test.ts). `panel.ts` wires
 * it to johnny-five.
 *
 * The interaction (also in README "Terminals and boards"):
 *
 * - LCD row 0: the terminal id and its connection (`connecting`, `online`, `OFFLINE`), with `P<n>`
 *   when n orders wait for their pick.
 * - LCD row 1 (rows 1.. on bigger displays) cycles every `cycleMs` through pages: the pick list
 *   (`P1 apple x2`: order 1 is the oldest, the one the pick button confirms; one page per line),
 *   faults in force (`FAULT freeze`), low-stock alerts (`LOW apple 2`: available units), and the
 *   selected SKU (`>apple    12/30`: available/onHand). A message (the outcome of a button, a knob
 *   preview) replaces the pages for `messageMs`.
 * - pick (short press): confirms the oldest pending pick.
 * - restock (short press): adds `restockQty` units to the selected SKU. Hold: select the next SKU
 *   (repeats while held).
 * - count (short press): sets the selected SKU's onHand to the knob on A0, mapped linearly from
 *   0..1023 to 0..`countMax` (or asks a prompt when `countFrom` is `prompt`). Hold: select the
 *   previous SKU. Turning the knob previews the value (`#apple ->42`).
 * - reset-fault (short press): acknowledges the alerts in force: the red LED goes off until a new
 *   alert (another fault, another SKU running low) appears. Faults themselves end by `heal`.
 * - LEDs: green = online (MQTT connected); yellow = a pick is pending; red = a fault in force or a
 *   low-stock SKU, not yet acknowledged.
 */
import type { ButtonName, LedName } from '../../hardware/pinmap.ts';
import type { OrderLine, StockItem } from '../../protocol/index.ts';

export interface PanelConfig {
  /** The terminal id, shown on row 0. */
  id: string;
  cols: number;
  rows: number;
  /** Units one restock press adds. */
  restockQty: number;
  /** A SKU whose available units fall below this is low (0: never). */
  lowStockBelow: number;
  /** The knob's full scale: 1023 maps to this many units. */
  countMax: number;
  /** Where a count press takes its number from. */
  countFrom: 'analog' | 'prompt';
  /** How long each page of the cycle shows, ms. */
  cycleMs: number;
  /** How long a message replaces the pages, ms. */
  messageMs: number;
}

export const DEFAULT_PANEL_CONFIG: Omit<PanelConfig, 'id'> = {
  cols: 16,
  rows: 2,
  restockQty: 10,
  lowStockBelow: 3,
  countMax: 100,
  countFrom: 'analog',
  cycleMs: 2000,
  messageMs: 3000,
};

export type Connection = 'connecting' | 'online' | 'offline';

export interface PendingPick {
  tx: string;
  lines: OrderLine[];
}

export interface PanelState {
  readonly config: PanelConfig;
  readonly connection: Connection;
  readonly items: Readonly<Record<string, StockItem>>;
  /** Committed transactions waiting for their pick, oldest first. */
  readonly picks: readonly PendingPick[];
  /** Terminal faults in force (freeze, slow, stale). */
  readonly faults: readonly string[];
  /** The SKU restock and count act on. */
  readonly selected: string | null;
  /** Alert keys acknowledged with reset-fault (pruned when an alert ends, so it can light again). */
  readonly acknowledged: readonly string[];
  readonly message: { readonly text: string; readonly until: number } | null;
  /** Last knob reading, raw 0..1023 (null before the first). */
  readonly analogRaw: number | null;
  /** Buttons that are down, and whether a hold was seen since. */
  readonly down: Readonly<Partial<Record<ButtonName, { held: boolean }>>>;
  /** The page list and when it last changed (the cycle restarts on a change). */
  readonly pagesKey: string;
  readonly pagesSince: number;
}

export type PanelEvent =
  | { type: 'connection'; connection: Connection }
  | { type: 'ledger'; items: Record<string, StockItem>; picks: readonly PendingPick[] }
  | { type: 'faults'; faults: readonly string[] }
  | { type: 'button'; button: ButtonName; edge: 'down' | 'hold' | 'up' }
  | { type: 'analog'; raw: number }
  | { type: 'result'; action: PanelAction; ok: boolean; onHand?: number; error?: string };

export type PanelAction =
  | { kind: 'pick'; tx: string; lines: OrderLine[] }
  | { kind: 'restock'; sku: string; qty: number }
  /** `qty` null: ask the prompt. */
  | { kind: 'count'; sku: string; qty: number | null };

export interface PanelView {
  lines: string[];
  leds: Record<LedName, boolean>;
}

export interface PanelUpdate {
  state: PanelState;
  actions: PanelAction[];
}

export function initialPanelState(config: Partial<PanelConfig> & { id: string }, now: number): PanelState {
  const full: PanelConfig = { ...DEFAULT_PANEL_CONFIG, ...config };
  if (full.cols < 8 || full.rows < 2) throw new Error('the panel needs an LCD of at least 8x2');
  const state: PanelState = {
    config: full,
    connection: 'connecting',
    items: {},
    picks: [],
    faults: [],
    selected: null,
    acknowledged: [],
    message: null,
    analogRaw: null,
    down: {},
    pagesKey: '',
    pagesSince: now,
  };
  return withPages(state, now);
}

/** Maps a raw ADC reading (0..1023) to units 0..max. */
export function analogToCount(raw: number, max: number): number {
  const clamped = Math.min(1023, Math.max(0, raw));
  return Math.round((clamped / 1023) * max);
}

export function available(item: StockItem): number {
  return item.onHand - item.reserved - item.committed;
}

export function lowSkus(state: PanelState): string[] {
  const below = state.config.lowStockBelow;
  if (below <= 0) return [];
  return Object.keys(state.items)
    .filter((sku) => available(state.items[sku]!) < below)
    .sort();
}

/** Keys of the alerts in force: `fault:<kind>` and `low:<sku>`. */
export function alertKeys(state: PanelState): string[] {
  return [...state.faults.map((f) => `fault:${f}`), ...lowSkus(state).map((s) => `low:${s}`)];
}

/** Apply one event; returns the new state and the ledger actions to perform. */
export function updatePanel(state: PanelState, event: PanelEvent, now: number): PanelUpdate {
  const none = (s: PanelState): PanelUpdate => ({ state: withPages(s, now), actions: [] });
  switch (event.type) {
    case 'connection':
      return none({ ...state, connection: event.connection });
    case 'ledger': {
      const items = { ...event.items };
      const skus = Object.keys(items).sort();
      const selected =
        state.selected !== null && state.selected in items ? state.selected : (skus[0] ?? null);
      return none(pruneAcks({ ...state, items, picks: [...event.picks], selected }));
    }
    case 'faults':
      return none(pruneAcks({ ...state, faults: [...event.faults] }));
    case 'analog':
      return none(onAnalog(state, event.raw, now));
    case 'result':
      return none(onResult(state, event, now));
    case 'button':
      return onButton(state, event.button, event.edge, now);
  }
}

/** What the LCD and LEDs show at `now`. */
export function panelView(state: PanelState, now: number): PanelView {
  const { cols, rows } = state.config;
  const body = rows - 1;
  let bodyLines: string[];
  if (state.message && now < state.message.until) {
    bodyLines = [state.message.text];
  } else {
    const pages = pageTexts(state);
    const screens = Math.max(1, Math.ceil(pages.length / body));
    const screen = Math.floor(Math.max(0, now - state.pagesSince) / state.config.cycleMs) % screens;
    bodyLines = pages.slice(screen * body, screen * body + body);
  }
  const lines = [headerLine(state)];
  for (let i = 0; i < body; i++) lines.push(fitLine(bodyLines[i] ?? '', cols));
  const unacked = alertKeys(state).some((k) => !state.acknowledged.includes(k));
  return {
    lines,
    leds: { online: state.connection === 'online', pickPending: state.picks.length > 0, fault: unacked },
  };
}

/** When the view next changes by itself (a page turn or a message ending), or null. */
export function nextChangeAt(state: PanelState, now: number): number | null {
  const candidates: number[] = [];
  if (state.message && now < state.message.until) candidates.push(state.message.until);
  const screens = Math.ceil(pageTexts(state).length / (state.config.rows - 1));
  if (screens > 1) {
    const { cycleMs } = state.config;
    const elapsed = Math.max(0, now - state.pagesSince);
    candidates.push(state.pagesSince + (Math.floor(elapsed / cycleMs) + 1) * cycleMs);
  }
  return candidates.length > 0 ? Math.min(...candidates) : null;
}

// ---- display -----------------------------------------------------------------------------------

/** Pad or cut to exactly `cols` characters of printable ASCII (what the HD44780's ROM has). */
export function fitLine(text: string, cols: number): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length > cols ? ascii.slice(0, cols) : ascii.padEnd(cols);
}

function headerLine(state: PanelState): string {
  const { cols, id } = state.config;
  const conn =
    state.connection === 'online' ? 'online' : state.connection === 'offline' ? 'OFFLINE' : 'connecting';
  const right = state.picks.length > 0 ? `${conn} P${state.picks.length}` : conn;
  const room = cols - right.length - 1;
  const name = room >= 1 ? id.slice(0, room) : '';
  const gap = cols - name.length - right.length;
  return gap >= 1 ? `${name}${' '.repeat(gap)}${right}` : fitLine(right, cols);
}

/** "prefix sku suffix" in `cols`, shortening the SKU (never the numbers) when it does not fit. */
function skuLine(prefix: string, sku: string, suffix: string, cols: number, rightAlign = false): string {
  const fixed = prefix.length + suffix.length + 1;
  const room = Math.max(1, cols - fixed);
  const name = sku.length > room ? sku.slice(0, room) : sku;
  if (!rightAlign) return `${prefix}${name} ${suffix}`;
  const gap = Math.max(1, cols - prefix.length - name.length - suffix.length);
  return `${prefix}${name}${' '.repeat(gap)}${suffix}`;
}

function selectedLine(state: PanelState, sku: string): string {
  const item = state.items[sku];
  const numbers = item ? `${available(item)}/${item.onHand}` : '?';
  return skuLine('>', sku, numbers, state.config.cols, true);
}

/** The cycle's pages, in order: picks, faults, low stock, the selected SKU. */
export function pageTexts(state: PanelState): string[] {
  const { cols } = state.config;
  const pages: string[] = [];
  state.picks.forEach((pick, i) => {
    for (const line of pick.lines) pages.push(skuLine(`P${i + 1} `, line.sku, `x${line.qty}`, cols));
  });
  for (const f of state.faults) pages.push(`FAULT ${f}`);
  for (const sku of lowSkus(state))
    pages.push(skuLine('LOW ', sku, String(available(state.items[sku]!)), cols));
  if (state.selected !== null) pages.push(selectedLine(state, state.selected));
  else if (pages.length === 0) pages.push('no stock');
  return pages.map((p) => fitLine(p, cols).trimEnd());
}

function withPages(state: PanelState, now: number): PanelState {
  const key = pageTexts(state)
    .map((p) => p.replace(/\d+\/\d+$|\d+$/, '#'))
    .join('|');
  // The cycle restarts when the set of pages changes, not when a number on a page does.
  if (key === state.pagesKey) return state;
  return { ...state, pagesKey: key, pagesSince: now };
}

function pruneAcks(state: PanelState): PanelState {
  const live = new Set(alertKeys(state));
  const acknowledged = state.acknowledged.filter((k) => live.has(k));
  return acknowledged.length === state.acknowledged.length ? state : { ...state, acknowledged };
}

function say(state: PanelState, text: string, now: number): PanelState {
  return {
    ...state,
    message: { text: fitLine(text, state.config.cols).trimEnd(), until: now + state.config.messageMs },
  };
}

// ---- input -------------------------------------------------------------------------------------

function onAnalog(state: PanelState, raw: number, now: number): PanelState {
  const before = state.analogRaw;
  const next = { ...state, analogRaw: raw };
  if (before === null || state.selected === null || state.config.countFrom !== 'analog') return next;
  const { countMax } = state.config;
  const value = analogToCount(raw, countMax);
  if (value === analogToCount(before, countMax)) return next;
  return say(next, skuLine('#', state.selected, `->${value}`, state.config.cols), now);
}

function selectNext(state: PanelState, step: 1 | -1, now: number): PanelState {
  const skus = Object.keys(state.items).sort();
  if (skus.length === 0) return say(state, 'no SKUs', now);
  const at = state.selected === null ? -1 : skus.indexOf(state.selected);
  const index = at < 0 ? 0 : (at + step + skus.length) % skus.length;
  const selected = skus[index]!;
  const next = { ...state, selected };
  return say(next, selectedLine(next, selected), now);
}

function onButton(
  state: PanelState,
  button: ButtonName,
  edge: 'down' | 'hold' | 'up',
  now: number,
): PanelUpdate {
  if (edge === 'down') {
    if (state.down[button]) return { state, actions: [] };
    return { state: { ...state, down: { ...state.down, [button]: { held: false } } }, actions: [] };
  }
  if (edge === 'hold') {
    if (!state.down[button]) return { state, actions: [] };
    const marked = { ...state, down: { ...state.down, [button]: { held: true } } };
    // Holding restock scrolls forward through the SKUs, holding count backward.
    if (button === 'restock') return { state: withPages(selectNext(marked, 1, now), now), actions: [] };
    if (button === 'count') return { state: withPages(selectNext(marked, -1, now), now), actions: [] };
    return { state: marked, actions: [] };
  }
  // up: a click, unless it ended a hold that selected a SKU. An up without its down (a button
  // held while the panel started) is no click.
  const pressed = state.down[button];
  if (!pressed) return { state, actions: [] };
  const wasHeld = pressed.held;
  const { [button]: _released, ...down } = state.down;
  const released = { ...state, down };
  if (wasHeld && (button === 'restock' || button === 'count')) return { state: released, actions: [] };
  return click(released, button, now);
}

function click(state: PanelState, button: ButtonName, now: number): PanelUpdate {
  const done = (s: PanelState, actions: PanelAction[] = []): PanelUpdate => ({
    state: withPages(s, now),
    actions,
  });
  switch (button) {
    case 'pick': {
      const oldest = state.picks[0];
      if (!oldest) return done(say(state, 'no pick pending', now));
      return done(state, [{ kind: 'pick', tx: oldest.tx, lines: oldest.lines.map((l) => ({ ...l })) }]);
    }
    case 'restock': {
      if (state.selected === null) return done(say(state, 'no SKU selected', now));
      return done(state, [{ kind: 'restock', sku: state.selected, qty: state.config.restockQty }]);
    }
    case 'count': {
      if (state.selected === null) return done(say(state, 'no SKU selected', now));
      if (state.config.countFrom === 'prompt') {
        return done(say(state, `count ${state.selected}?`, now), [
          { kind: 'count', sku: state.selected, qty: null },
        ]);
      }
      if (state.analogRaw === null) return done(say(state, 'no knob reading', now));
      const qty = analogToCount(state.analogRaw, state.config.countMax);
      return done(state, [{ kind: 'count', sku: state.selected, qty }]);
    }
    case 'resetFault': {
      const keys = alertKeys(state);
      const text =
        keys.length === 0 ? 'no alerts' : `${keys.length} alert${keys.length > 1 ? 's' : ''} cleared`;
      return done(say({ ...state, acknowledged: keys }, text, now));
    }
  }
}

function onResult(
  state: PanelState,
  event: Extract<PanelEvent, { type: 'result' }>,
  now: number,
): PanelState {
  const { action, ok } = event;
  const cols = state.config.cols;
  if (!ok) {
    const why = event.error ?? 'refused';
    return say(state, `${action.kind} ${why}`, now);
  }
  switch (action.kind) {
    case 'pick': {
      const first = action.lines[0];
      if (action.lines.length === 1 && first)
        return say(state, skuLine('picked ', first.sku, `x${first.qty}`, cols), now);
      return say(state, `picked ${action.lines.length} lines`, now);
    }
    case 'restock':
      return say(state, skuLine(`+${action.qty} `, action.sku, `=${event.onHand ?? '?'}`, cols), now);
    case 'count':
      return say(state, skuLine('#', action.sku, `=${event.onHand ?? action.qty ?? '?'}`, cols), now);
  }
}
