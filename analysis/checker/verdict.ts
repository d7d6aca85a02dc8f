/** What the invariant checker says about a run: one result per invariant, with counterexamples. */

export const INVARIANTS = [
  'no-oversell',
  'no-lost-order',
  'exactly-once',
  'atomicity',
  'conservation',
  'valid-status-sequences',
  'statistics-agree',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface Violation {
  /** A sentence a person can act on. */
  message: string;
  orderId?: string;
  cid?: string;
  terminal?: string;
  sku?: string;
  tx?: string;
  /** The history lines (or journal records) that show it. */
  evidence?: unknown[];
}

export interface InvariantResult {
  invariant: InvariantName;
  ok: boolean;
  checked: number;
  violations: Violation[];
  /** Set when the run did not provide what this invariant needs (it is then neither ok nor failed). */
  skipped?: string;
}

export interface Verdict {
  ok: boolean;
  results: InvariantResult[];
}
