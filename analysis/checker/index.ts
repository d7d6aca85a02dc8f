/** The invariant checker: every invariant over one run, as one verdict. */
import {
  atomicity,
  type CheckInput,
  conservation,
  exactlyOnce,
  noLostOrder,
  noOversell,
  statisticsAgree,
  validStatusSequences,
} from './invariants.ts';
import type { Verdict } from './verdict.ts';

export type { CheckInput, JournalEntry } from './invariants.ts';
export * from './verdict.ts';

export function check(input: CheckInput): Verdict {
  const results = [
    noOversell(input),
    noLostOrder(input),
    exactlyOnce(input),
    atomicity(input),
    conservation(input),
    validStatusSequences(input),
    statisticsAgree(input),
  ];
  return { ok: results.every((r) => r.ok), results };
}
