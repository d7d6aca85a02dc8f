/**
 * aedes' in-memory persistence, with its retained messages also kept by topic.
 *
 * On every SUBSCRIBE, aedes asks its persistence for the retained messages matching each filter,
 * and aedes-persistence 11 answers by testing every retained message against the filter. With a
 * thousand terminals (state, inventory and statistics retained for each) that was ~3 ms per
 * SUBSCRIBE, and half the gateway's time in a connect storm of 10,000 clients. Nearly every filter
 * here is an exact topic (a client's status and errors, a terminal's cmd): those are a lookup now;
 * filters with wildcards (the dashboard's, an operator's) still take the scan.
 */
import { Readable } from 'node:stream';
import memoryModule, { type AedesMemoryPersistence, type Packet } from 'aedes-persistence';

type Persistence = AedesMemoryPersistence;
type RetainedPacket = Packet;
// A CommonJS module whose typings declare an ES default export: the import is the function itself.
const memory = memoryModule as unknown as () => AedesMemoryPersistence;

const WILDCARD = /[+#]/;

export function memoryPersistence(): Persistence {
  const base = memory();
  const byTopic = new Map<string, RetainedPacket>();
  const store = base.storeRetained.bind(base);
  const scan = base.createRetainedStream.bind(base);

  // aedes calls storeRetained(packet) and awaits the promise; the callback form is kept as well.
  base.storeRetained = ((packet: RetainedPacket, cb?: (err: Error | null | undefined) => void) => {
    // As the base does: an empty payload clears the topic; a copy, since aedes reuses packets.
    const { topic, payload } = packet as RetainedPacket & { topic: string; payload: Buffer | string };
    if (payload.length === 0) byTopic.delete(topic);
    else byTopic.set(topic, { ...packet });
    return (store as (p: RetainedPacket, cb?: (err: Error | null | undefined) => void) => unknown)(
      packet,
      cb,
    );
  }) as Persistence['storeRetained'];

  async function* matching(patterns: readonly string[]): AsyncGenerator<RetainedPacket> {
    for (const pattern of patterns) {
      if (WILDCARD.test(pattern)) {
        for await (const packet of scan(pattern)) yield packet as RetainedPacket;
      } else {
        const packet = byTopic.get(pattern);
        if (packet) yield packet;
      }
    }
  }
  base.createRetainedStream = (pattern) => Readable.from(matching([pattern]));
  base.createRetainedStreamCombi = (patterns) => Readable.from(matching(patterns));
  return base;
}
