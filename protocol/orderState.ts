/**
 * The order state machine, as data. Every part that reasons about order states (the gateway's
 * coordinator, the simulators, the checker) goes through `transition()` so there is one truth.
 */

export const ORDER_STATES = [
  'accepted',
  'confirmed',
  'fulfilled',
  'rejected',
  'failed',
  'cancelled',
] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const ORDER_EVENTS = ['accept', 'confirm', 'fulfil', 'reject', 'fail', 'cancel'] as const;
export type OrderEvent = (typeof ORDER_EVENTS)[number];

/** `null` is "no order yet": only `accept` leaves it. */
export type FromState = OrderState | null;

export const TRANSITIONS: Readonly<
  Record<OrderEvent, Readonly<Partial<Record<OrderState | 'none', OrderState>>>>
> = {
  accept: { none: 'accepted' },
  confirm: { accepted: 'confirmed' },
  fulfil: { confirmed: 'fulfilled' },
  reject: { accepted: 'rejected' },
  fail: { accepted: 'failed' },
  cancel: { accepted: 'cancelled', confirmed: 'cancelled' },
};

export const FINAL_STATES: ReadonlySet<OrderState> = new Set([
  'fulfilled',
  'rejected',
  'failed',
  'cancelled',
]);

export function isFinal(state: OrderState): boolean {
  return FINAL_STATES.has(state);
}

export type TransitionResult = { ok: true; state: OrderState } | { ok: false; error: string };

export function transition(from: FromState, event: OrderEvent): TransitionResult {
  const to = TRANSITIONS[event][from ?? 'none'];
  if (to === undefined) return { ok: false, error: `no transition '${event}' from ${from ?? 'none'}` };
  return { ok: true, state: to };
}

/** The states reachable in one step from `from` (any event). */
export function successors(from: FromState): OrderState[] {
  const out: OrderState[] = [];
  for (const event of ORDER_EVENTS) {
    const to = TRANSITIONS[event][from ?? 'none'];
    if (to !== undefined) out.push(to);
  }
  return out;
}

export type PathCheck = { ok: true } | { ok: false; at: number; error: string };

/** Walks observed states (repeats allowed), asking `allowed` for every change of state. */
function walk(
  states: readonly OrderState[],
  allowed: (from: FromState, to: OrderState) => boolean,
  what: string,
): PathCheck {
  let current: FromState = null;
  for (let i = 0; i < states.length; i++) {
    const next = states[i]!;
    if (next === current) continue;
    if (!allowed(current, next))
      return { ok: false, at: i, error: `${current ?? 'none'} -> ${next} ${what}` };
    current = next;
  }
  return { ok: true };
}

/**
 * Whether a sequence of observed states is a path of the machine. Repeats of the current state are
 * allowed: a status is re-sent on query and on duplicate `place`.
 */
export function isValidPath(states: readonly OrderState[]): PathCheck {
  return walk(states, (from, to) => successors(from).includes(to), 'is not a transition');
}

/** The states reachable from `from` in one or more steps. */
export function reachable(from: FromState): Set<OrderState> {
  const out = new Set<OrderState>();
  const todo = successors(from);
  while (todo.length > 0) {
    const s = todo.pop()!;
    if (out.has(s)) continue;
    out.add(s);
    todo.push(...successors(s));
  }
  return out;
}

/**
 * Whether what a client observed can be a path of the machine seen through a lossy channel: a
 * subsequence of a path (statuses sent while a client was disconnected are lost, and a query
 * answers with the current state only), with repeats allowed. It never goes backwards, never
 * leaves a final state, and never jumps where no path leads (confirmed -> rejected).
 */
export function isValidObservation(states: readonly OrderState[]): PathCheck {
  return walk(states, (from, to) => reachable(from).has(to), 'is on no path of the state machine');
}
