/**
 * A zod schema for every payload of the contract (../shared/DESIGN.md). Inbound payloads are
 * parsed here at the boundary; everything inside trusts the inferred types.
 */
import { z } from 'zod';
import { ORDER_STATES } from './orderState.ts';
import { ID_PATTERN } from './topics.ts';

export const MAX_QTY = 1_000_000;
export const MAX_LINES = 50;

export const Id = z.string().regex(ID_PATTERN, 'must match [A-Za-z0-9_-]{1,64}');
export const SKU_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const Sku = z.string().regex(SKU_PATTERN, 'must match [A-Za-z0-9._-]{1,64}');
export const OrderId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must match [A-Za-z0-9._:-]{1,128}');
export const TxId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/);
export const Qty = z.number().int('must be an integer').positive('must be positive').max(MAX_QTY);
const Count = z.number().int().nonnegative();

export const OrderLine = z.strictObject({ sku: Sku, qty: Qty });
export type OrderLine = z.infer<typeof OrderLine>;

const uniqueSkus = (lines: readonly { sku: string }[]) =>
  new Set(lines.map((l) => l.sku)).size === lines.length;

export const Lines = z
  .array(OrderLine)
  .min(1)
  .max(MAX_LINES)
  .refine(uniqueSkus, { message: 'each sku may appear in only one line' });

// ---- client -> gateway

export const PlaceOrder = z.strictObject({ orderId: OrderId, lines: Lines });
export type PlaceOrder = z.infer<typeof PlaceOrder>;

export const CancelOrder = z.strictObject({ orderId: OrderId });
export type CancelOrder = z.infer<typeof CancelOrder>;

export const QueryOrder = z.strictObject({ orderId: OrderId });
export type QueryOrder = z.infer<typeof QueryOrder>;

// ---- gateway -> client

export const AllocationEntry = z.object({ terminal: Id, sku: Sku, qty: Qty });
export type AllocationEntry = z.infer<typeof AllocationEntry>;

export const STATUS_REASONS = [
  'out_of_stock',
  'terminals_unavailable',
  'cancelled_by_client',
  'unknown_order',
] as const;
export type StatusReason = (typeof STATUS_REASONS)[number];

export const OrderStatus = z.object({
  orderId: OrderId,
  state: z.enum(ORDER_STATES),
  reason: z.string().optional(),
  allocation: z.array(AllocationEntry).optional(),
  at: z.number(),
});
export type OrderStatus = z.infer<typeof OrderStatus>;

export const ERROR_CODES = [
  'malformed_json',
  'invalid_payload',
  'unknown_sku',
  'payload_too_large',
  'unknown_order',
  'cannot_cancel',
  'too_many_in_flight',
  'rate_limited',
  'forbidden',
  'unknown_fault',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const ClientError = z.object({
  ref: z.string().optional(),
  code: z.enum(ERROR_CODES),
  message: z.string(),
});
export type ClientError = z.infer<typeof ClientError>;

// ---- terminals

export const TerminalOnline = z.object({
  state: z.literal('online'),
  board: z.string().min(1).max(64),
  firmware: z.string().min(1).max(128),
  skus: z.array(Sku).max(10_000),
});
export const TerminalOffline = z.object({ state: z.literal('offline') });
export const TerminalState = z.discriminatedUnion('state', [TerminalOnline, TerminalOffline]);
export type TerminalState = z.infer<typeof TerminalState>;

export const StockItem = z.object({ onHand: Count, reserved: Count, committed: Count });
export type StockItem = z.infer<typeof StockItem>;

export const Inventory = z.object({ seq: Count, items: z.record(Sku, StockItem) });
export type Inventory = z.infer<typeof Inventory>;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * `Inventory`, checked by hand: every terminal republishes its whole inventory (50 items or more)
 * after its ledger changes, and zod took ~60 µs of the gateway's single thread per publish (15 % of
 * it under load); this takes a few. It accepts exactly what the schema accepts and returns what the
 * schema returns (a property test holds them equal); anything unusual (an invalid payload, a
 * `__proto__` key) is left to the schema, which also words the error.
 */
export function checkInventory(json: unknown): Inventory | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const { seq, items } = json as { seq?: unknown; items?: unknown };
  if (!isCount(seq) || typeof items !== 'object' || items === null || Array.isArray(items)) return undefined;
  const out: Record<string, StockItem> = {};
  for (const sku in items) {
    if (!Object.hasOwn(items, sku) || sku === '__proto__' || !SKU_PATTERN.test(sku)) return undefined;
    const item = (items as Record<string, unknown>)[sku];
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
    const { onHand, reserved, committed } = item as Record<string, unknown>;
    if (!isCount(onHand) || !isCount(reserved) || !isCount(committed)) return undefined;
    out[sku] = { onHand, reserved, committed };
  }
  return { seq, items: out };
}

/** Hand-written checks equal to a schema, tried before it on the hot paths (see checkInventory). */
const fastChecks = new Map<z.ZodType, (json: unknown) => unknown>([[Inventory, checkInventory]]);

/**
 * `release` is our extension of the contract's prepare/commit/abort: it returns the stock of a
 * committed transaction when a confirmed order is cancelled (a compensation, not an abort).
 */
export const COMMAND_OPS = ['prepare', 'commit', 'abort', 'release'] as const;
export type CommandOp = (typeof COMMAND_OPS)[number];

export const Command = z
  .object({
    id: z.string().min(1).max(128),
    op: z.enum(COMMAND_OPS),
    tx: TxId,
    lines: Lines.optional(),
    ttlMs: z.number().int().positive().max(3_600_000).optional(),
  })
  .refine((c) => c.op !== 'prepare' || c.lines !== undefined, { message: 'prepare needs lines' });
export type Command = z.infer<typeof Command>;

export const REPLY_CODES = [
  'insufficient',
  'unknown_sku',
  'aborted',
  'committed',
  'unknown_tx',
  'picked',
  'released',
] as const;
export type ReplyCode = (typeof REPLY_CODES)[number];

/** `seq` (our extension) is the terminal's inventory seq once the command took effect. */
export const Reply = z.object({
  id: z.string().min(1).max(128),
  tx: TxId,
  op: z.enum(COMMAND_OPS),
  ok: z.boolean(),
  code: z.enum(REPLY_CODES).optional(),
  seq: Count.optional(),
});
export type Reply = z.infer<typeof Reply>;

export const EVENT_KINDS = ['restock', 'count', 'picked'] as const;
export const TerminalEvent = z.object({
  seq: Count,
  kind: z.enum(EVENT_KINDS),
  sku: Sku.optional(),
  qty: z.number().int().nonnegative().max(MAX_QTY).optional(),
  tx: TxId.optional(),
});
export type TerminalEvent = z.infer<typeof TerminalEvent>;

/**
 * Our extension: a terminal whose prepared reservation outlived its TTL asks for the decision on
 * `terminals/<tid>/inquiry` instead of releasing it silently. The gateway answers with the decided
 * command (presumed abort when it knows nothing of the tx).
 */
export const Inquiry = z.object({ tx: TxId });
export type Inquiry = z.infer<typeof Inquiry>;

// ---- statistics

export const Percentiles = z.object({
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  max: z.number(),
  count: Count,
});
export type Percentiles = z.infer<typeof Percentiles>;

/**
 * `stockgate/stats/summary`. Counters (`orders`, `refused`) count since `since` (the gateway's start:
 * they reset when it restarts, like Prometheus counters); `open` and `inFlight` are current.
 * `rates` are orders/s entering each state over the last `rateWindowS` seconds (`rates60s`: 60 s);
 * `latencyMs` percentiles are over the last `latencyWindowS` seconds: `acceptedToConfirmed`,
 * `confirmedToFulfilled` and `commandRtt` (every terminal's command round trip).
 */
export const StatsSummary = z.object({
  at: z.number(),
  since: z.number().optional(),
  orders: z.record(z.enum(ORDER_STATES), Count),
  open: z.object({ accepted: Count, confirmed: Count }).optional(),
  inFlight: Count,
  rates: z.record(z.string(), z.number()),
  rates60s: z.record(z.string(), z.number()).optional(),
  rateWindowS: z.number().optional(),
  latencyMs: z.record(z.string(), Percentiles),
  latencyWindowS: z.number().optional(),
  terminalsOnline: Count,
  terminalsKnown: Count,
  faultsActive: Count.optional(),
  refused: z.record(z.string(), Count).optional(),
});
export type StatsSummary = z.infer<typeof StatsSummary>;

export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/**
 * `stockgate/stats/terminals/<tid>`: health and stock of one terminal. `faults` are the faults in
 * force on it (`<kind>` on the terminal, `link:<kind>` on its link); `low` the SKUs whose available
 * stock (onHand - reserved - committed) is at or below the low-stock threshold.
 */
export const StatsTerminal = z.object({
  at: z.number(),
  online: z.boolean(),
  breaker: z.enum(BREAKER_STATES),
  prepareOk: Count,
  prepareFail: Count,
  timeouts: Count,
  rttMs: Percentiles.optional(),
  stock: z.record(Sku, StockItem),
  faults: z.array(z.string()).optional(),
  low: z.array(Sku).optional(),
});
export type StatsTerminal = z.infer<typeof StatsTerminal>;

/** One of the most recently changed orders in `stockgate/stats/orders` (newest first). */
export const RecentOrder = z.object({
  cid: Id,
  orderId: OrderId,
  state: z.enum(ORDER_STATES),
  reason: z.string().optional(),
  acceptedAt: z.number(),
  at: z.number(),
  units: Count.optional(),
  skus: z.array(Sku).optional(),
  terminals: z.array(Id).optional(),
});
export type RecentOrder = z.infer<typeof RecentOrder>;

/**
 * `stockgate/stats/orders` (our extension): the operator cannot read clients' status topics, so the
 * gateway publishes a bounded list of the orders that changed last.
 */
export const StatsOrders = z.object({ at: z.number(), recent: z.array(RecentOrder).max(1000) });
export type StatsOrders = z.infer<typeof StatsOrders>;

export const SkuStats = z.object({
  /** Units in orders that reached `confirmed` (since the gateway started). */
  sold: Count,
  /** Units of confirmed orders cancelled afterwards (returned to stock). */
  returned: Count,
  /** Units of fulfilled orders. */
  fulfilled: Count,
  onHand: Count,
  reserved: Count,
  committed: Count,
  /** onHand - reserved - committed over every terminal (negative would be an oversell). */
  available: z.number().int(),
  terminals: Count,
  low: z.boolean(),
});
export type SkuStats = z.infer<typeof SkuStats>;

/** `stockgate/stats/skus` (our extension): sales and stock per SKU over every terminal. */
export const StatsSkus = z.object({ at: z.number(), lowStock: Count, skus: z.record(Sku, SkuStats) });
export type StatsSkus = z.infer<typeof StatsSkus>;

// ---- faults

const Duration = { durationMs: z.number().int().positive().max(86_400_000).optional() };
const Pct = z.number().min(0).max(100);

export const TerminalFault = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('crash'), ...Duration }),
  z.strictObject({ kind: z.literal('freeze'), ...Duration }),
  z.strictObject({ kind: z.literal('slow'), ms: z.number().int().positive().max(60_000), ...Duration }),
  z.strictObject({ kind: z.literal('stale'), ...Duration }),
  z.strictObject({ kind: z.literal('heal') }),
]);
export const LinkFault = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('drop'), pct: Pct, ...Duration }),
  z.strictObject({ kind: z.literal('duplicate'), pct: Pct, ...Duration }),
  z.strictObject({
    kind: z.literal('delay'),
    ms: z.number().int().nonnegative().max(60_000),
    jitterMs: z.number().int().nonnegative().max(60_000).optional(),
    ...Duration,
  }),
  z.strictObject({ kind: z.literal('reorder'), ...Duration }),
  z.strictObject({ kind: z.literal('partition'), ...Duration }),
  z.strictObject({ kind: z.literal('heal') }),
]);
export const GatewayFault = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('crash'), ...Duration }),
  z.strictObject({ kind: z.literal('heal') }),
]);
export type TerminalFault = z.infer<typeof TerminalFault>;
export type LinkFault = z.infer<typeof LinkFault>;
export type GatewayFault = z.infer<typeof GatewayFault>;

export const ActiveFault = z.object({
  target: z.string(),
  kind: z.string(),
  params: z.record(z.string(), z.unknown()),
  since: z.number(),
  until: z.number().optional(),
});
export const FaultsActive = z.object({ at: z.number(), faults: z.array(ActiveFault) });
export type FaultsActive = z.infer<typeof FaultsActive>;

// ---- parsing helpers

export type ParseResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: 'malformed_json' | 'invalid_payload'; message: string };

/** Parses a raw MQTT payload as JSON and validates it; never throws. */
export function parsePayload<T>(schema: z.ZodType<T>, payload: Buffer | string): ParseResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'malformed_json', message: `payload is not JSON: ${(err as Error).message}` };
  }
  const fast = fastChecks.get(schema)?.(json) as T | undefined;
  if (fast !== undefined) return { ok: true, value: fast };
  const result = schema.safeParse(json);
  if (!result.success) {
    const message = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    return { ok: false, code: 'invalid_payload', message };
  }
  return { ok: true, value: result.data };
}

/** Best-effort extraction of an orderId from an invalid payload, so an error can name what it refers to. */
export function guessRef(payload: Buffer | string): string | undefined {
  try {
    const json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')) as unknown;
    if (json && typeof json === 'object' && 'orderId' in json) {
      const ref = (json as { orderId: unknown }).orderId;
      if (typeof ref === 'string' && ref.length <= 128) return ref;
    }
  } catch {
    // not JSON: no ref
  }
  return undefined;
}
