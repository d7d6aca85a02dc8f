/**
 * The broker under a backlog: aedes' router (mqemitter) runs at most 100 deliveries at once and
 * queues the rest. When the slow deliveries finish, it works through the queue: if every handler
 * answers synchronously, it does so recursively. Found by the bench at 1,700 orders/s offered
 * (twice the sustainable rate): the gateway died of "Maximum call stack size exceeded" in its
 * in-broker subscription handler. It must survive any backlog and deliver every message, in order.
 */
import type { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { TestSystem } from '../helpers/system.ts';

let sys: TestSystem | undefined;

afterEach(async () => {
  await sys?.stop();
  sys = undefined;
});

describe('a backlog in the broker', () => {
  it('is worked through without exhausting the stack; in-broker handlers see every message in order', async () => {
    sys = await TestSystem.start({ terminals: [] });
    const broker = sys.gateway.mqttBroker!;
    const aedes = (broker as unknown as { aedes: Aedes }).aedes;
    const topic = `${sys.topics.base}/faults/backlog-probe`;
    // A slow subscriber (as a client whose socket is full) holds the first deliveries...
    const held: (() => void)[] = [];
    let delivered = 0;
    await new Promise<void>((resolve) =>
      aedes.subscribe(
        topic,
        (_packet, cb) => {
          if (++delivered <= 100) held.push(cb);
          else cb();
        },
        resolve,
      ),
    );
    // ...and an in-broker handler of ours sees the same messages.
    const seen: number[] = [];
    await broker.subscribe(topic, (_t, payload) => seen.push(Number(payload.toString())));
    const n = 20_000;
    const published = Array.from({ length: n }, (_, i) => broker.publish(topic, String(i), { qos: 0 }));
    // The router is full: all but its first 100 messages wait in its queue.
    expect(held).toHaveLength(100);
    expect(seen.length).toBeLessThanOrEqual(100);
    for (const release of held.splice(0)) release();
    await Promise.all(published);
    expect(seen).toHaveLength(n);
    expect(seen.every((v, i) => v === i)).toBe(true);
    // And the gateway still serves.
    expect(sys.gateway.mqttBroker).not.toBeNull();
  });
});
