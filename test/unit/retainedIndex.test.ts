/**
 * The persistence with retained messages indexed by topic answers every SUBSCRIBE exactly as
 * aedes-persistence's own memory store does (same messages, same order), exact filters and
 * wildcards alike. Seeded; replay with STOCKGATE_FUZZ_SEED=<seed>.
 */
import type { Readable } from 'node:stream';
import memoryModule, { type AedesMemoryPersistence, type Packet } from 'aedes-persistence';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryPersistence } from '../../gateway/retainedIndex.ts';
import { fuzzBudget } from '../security/helpers.ts';

const memory = memoryModule as unknown as () => AedesMemoryPersistence;
const { seed, runs } = fuzzBudget('retainedIndex', 200);

async function drain(stream: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const p of stream) {
    const { topic, payload } = p as { topic: string; payload: Buffer };
    out.push(`${topic}=${payload.toString()}`);
  }
  return out;
}

/** The promise form aedes 1.2 uses (the callback form waits for a broker's setup()). */
function store(p: AedesMemoryPersistence, topic: string, payload: string): Promise<void> {
  return (p.storeRetained as unknown as (pk: Packet) => Promise<void>)(packet(topic, payload));
}

function packet(topic: string, payload: string): Packet {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true } as unknown as Packet;
}

const level = fc.constantFrom('a', 'b', 'c', '$SYS', '');
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const filter = fc
  .array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 })
  .chain((l) => fc.boolean().map((hash) => (hash ? [...l, '#'] : l).join('/')));
const op = fc.record({ topic, payload: fc.constantFrom('', 'x', 'y', 'z') });

describe(`retained messages by topic (seed ${seed})`, () => {
  it('answers like the memory store for any retained set and any filters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 30 }),
        fc.array(filter, { minLength: 1, maxLength: 4 }),
        async (ops, filters) => {
          const ours = memoryPersistence();
          const theirs = memory();
          for (const o of ops) {
            await store(ours, o.topic, o.payload);
            await store(theirs, o.topic, o.payload);
          }
          expect(await drain(ours.createRetainedStreamCombi(filters))).toEqual(
            await drain(theirs.createRetainedStreamCombi(filters)),
          );
          expect(await drain(ours.createRetainedStream(filters[0]!))).toEqual(
            await drain(theirs.createRetainedStream(filters[0]!)),
          );
        },
      ),
      { seed, numRuns: runs },
    );
  });

  it('an exact filter finds its message; an empty payload clears it', async () => {
    const p = memoryPersistence();
    await store(p, 'stockgate/terminals/t1/state', 'on');
    expect(await drain(p.createRetainedStreamCombi(['stockgate/terminals/t1/state', 'stockgate/x']))).toEqual(
      ['stockgate/terminals/t1/state=on'],
    );
    await store(p, 'stockgate/terminals/t1/state', '');
    expect(await drain(p.createRetainedStreamCombi(['stockgate/terminals/t1/state']))).toEqual([]);
  });
});
