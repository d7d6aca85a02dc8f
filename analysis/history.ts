/**
 * The history of a run, Jepsen style: one JSON object per line (JSONL). Client operations are
 * invoked, then observed (every status the client saw), then complete as ok (the order reached a
 * final state the client wanted: fulfilled or confirmed-and-cancelled as asked), fail (rejected,
 * failed, refused) or info (unknown when the run ended). The nemesis's actions are in the same
 * history. After healing and quiescence, a `final` record holds what every terminal and the
 * gateway say.
 *
 * Written by the chaos runner (`stockgate chaos`), read by the checker and the analysis report.
 */
import { z } from 'zod';
import { AllocationEntry, Inventory, ORDER_STATES, OrderLine } from '../protocol/index.ts';

const Base = {
  /** ms since the start of the run */
  time: z.number(),
  /** epoch ms */
  wall: z.number(),
};

export const ClientOp = z.object({
  ...Base,
  type: z.enum(['invoke', 'ok', 'fail', 'info']),
  process: z.string(),
  f: z.enum(['place', 'cancel']),
  orderId: z.string(),
  lines: z.array(OrderLine).optional(),
  state: z.enum(ORDER_STATES).optional(),
  reason: z.string().optional(),
  error: z.string().optional(),
});
export type ClientOp = z.infer<typeof ClientOp>;

export const Observe = z.object({
  ...Base,
  type: z.literal('observe'),
  process: z.string(),
  orderId: z.string(),
  state: z.enum(ORDER_STATES),
  reason: z.string().optional(),
  allocation: z.array(AllocationEntry).optional(),
});
export type Observe = z.infer<typeof Observe>;

export const NemesisOp = z.object({
  ...Base,
  type: z.enum(['start', 'stop']),
  process: z.literal('nemesis'),
  /** faults/<target> path: gateway, terminals/<tid>, links/<tid> */
  target: z.string(),
  kind: z.string(),
  params: z.record(z.string(), z.unknown()).optional(),
});
export type NemesisOp = z.infer<typeof NemesisOp>;

/** A terminal's ledger transaction as read at the end (for exactly-once and atomicity). */
export const FinalTx = z.object({ status: z.string(), lines: z.array(OrderLine) });

export const FinalTerminal = z.object({
  inventory: Inventory,
  /** Stock when the run began. */
  initial: z.record(z.string(), z.number()),
  restocked: z.record(z.string(), z.number()),
  /** Net change by counts (count sets onHand: recorded as the delta it made). */
  counted: z.record(z.string(), z.number()),
  picked: z.record(z.string(), z.number()),
  txs: z.record(z.string(), FinalTx),
  /**
   * Inventories observed on the retained topic during the run. A long run keeps only those that
   * show a negative field (the rest are counted in observedCount), so memory stays bounded.
   */
  observed: z.array(Inventory).optional(),
  observedCount: z.number().optional(),
});
export type FinalTerminal = z.infer<typeof FinalTerminal>;

export const FinalRead = z.object({
  ...Base,
  type: z.literal('final'),
  terminals: z.record(z.string(), FinalTerminal),
  /** Order -> final state per the gateway's journal. */
  orders: z.record(
    z.string(),
    z.object({
      cid: z.string(),
      state: z.enum(ORDER_STATES),
      tx: z.string().optional(),
      allocation: z.array(AllocationEntry).optional(),
    }),
  ),
  /** tx -> order key `<cid>/<orderId>` from the journal. */
  txOrders: z.record(z.string(), z.string()),
  /**
   * What the gateway's statistics said at the end: orders that entered each state since
   * `statsSince` (the last gateway start).
   */
  stats: z.record(z.string(), z.number()).optional(),
  statsSince: z.number().optional(),
});
export type FinalRead = z.infer<typeof FinalRead>;

export const Meta = z.object({
  ...Base,
  type: z.literal('meta'),
  seed: z.number(),
  faults: z.array(z.string()),
  terminals: z.number(),
  clients: z.number(),
  durationMs: z.number(),
});
export type Meta = z.infer<typeof Meta>;

export const HistoryLine = z.union([ClientOp, Observe, NemesisOp, FinalRead, Meta]);
export type HistoryLine = z.infer<typeof HistoryLine>;
