/**
 * The gateway's event bus: parts announce what happened, other parts (statistics, the fault
 * panel, tests) listen. Nobody calls into another part just to tell it something.
 */
import { EventEmitter } from 'node:events';
import type { CommandOp, OrderState, StockItem } from '../protocol/index.ts';

export interface BusEvents {
  orderState: [
    e: {
      cid: string;
      orderId: string;
      from: OrderState | null;
      to: OrderState;
      at: number;
      acceptedAt: number;
    },
  ];
  command: [e: { tid: string; op: CommandOp; ok: boolean; rttMs: number }];
  commandTimeout: [e: { tid: string; op: CommandOp }];
  terminal: [e: { tid: string; online: boolean }];
  /** `items`: the stock the terminal published (what the statistics show per terminal and SKU). */
  inventory: [e: { tid: string; items?: Record<string, StockItem> }];
  cancelRequested: [e: { cid: string; orderId: string }];
  subscribed: [e: { clientId: string; topics: string[] }];
  /** The faults in force changed (the nemesis publishes them on faults/active too). */
  faults: [
    e: {
      active: {
        target: string;
        kind: string;
        params: Record<string, unknown>;
        since: number;
        until?: number;
      }[];
    },
  ];
  /** A terminal's circuit breaker changed state. */
  breaker: [e: { tid: string; state: 'closed' | 'open' | 'half-open' }];
  refused: [e: { cid?: string; code: string }];
}

export class Bus extends EventEmitter<BusEvents> {
  constructor() {
    super();
    this.setMaxListeners(50);
  }
}
