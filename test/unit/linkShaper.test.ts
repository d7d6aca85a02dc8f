import { describe, expect, it } from 'vitest';
import { LinkShaper } from '../../gateway/faults/linkShaper.ts';

describe('LinkShaper', () => {
  it('passes everything when no fault is active', () => {
    const shaper = new LinkShaper(1);
    let n = 0;
    for (let i = 0; i < 10; i++) shaper.pass('t1', () => n++);
    expect(n).toBe(10);
    expect(shaper.idle).toBe(true);
  });

  it('drops everything during a partition, only on that link', () => {
    const shaper = new LinkShaper(1);
    shaper.add('t1', { kind: 'partition' });
    let t1 = 0;
    let t2 = 0;
    for (let i = 0; i < 10; i++) {
      shaper.pass('t1', () => t1++);
      shaper.pass('t2', () => t2++);
    }
    expect([t1, t2]).toEqual([0, 10]);
  });

  it('drops about pct percent, reproducibly for a seed', () => {
    const count = (seed: number) => {
      const shaper = new LinkShaper(seed);
      shaper.add('t1', { kind: 'drop', pct: 50 });
      let n = 0;
      for (let i = 0; i < 1000; i++) shaper.pass('t1', () => n++);
      return n;
    };
    expect(count(7)).toBe(count(7));
    expect(count(7)).toBeGreaterThan(400);
    expect(count(7)).toBeLessThan(600);
  });

  it('duplicates at 100 percent', () => {
    const shaper = new LinkShaper(3);
    shaper.add('t1', { kind: 'duplicate', pct: 100 });
    let n = 0;
    shaper.pass('t1', () => n++);
    // The first copy is delivered at once, the second a little later.
    expect(n).toBeGreaterThanOrEqual(1);
    shaper.stop();
  });

  it('announces a healed link when its last fault ends, by expiry or by heal', () => {
    const shaper = new LinkShaper(1);
    const healed: string[] = [];
    shaper.on('healed', (tid) => healed.push(tid));
    shaper.add('t1', { kind: 'partition' });
    shaper.add('t1', { kind: 'drop', pct: 10 });
    shaper.remove('t1', 'partition');
    expect(healed).toEqual([]);
    shaper.remove('t1', 'drop');
    expect(healed).toEqual(['t1']);
    shaper.add('t2', { kind: 'reorder' });
    shaper.heal('t2');
    shaper.heal('t3');
    expect(healed).toEqual(['t1', 't2']);
  });
});
