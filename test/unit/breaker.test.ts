import { describe, expect, it } from 'vitest';
import { Breakers } from '../../gateway/breaker.ts';
import { Bus } from '../../gateway/bus.ts';

function setup() {
  let now = 1000;
  const bus = new Bus();
  const changes: string[] = [];
  bus.on('breaker', (e) => changes.push(`${e.tid}:${e.state}`));
  const breakers = new Breakers(bus, { threshold: 3, coolDownMs: 1000, maxCoolDownMs: 4000 }, () => now);
  return { breakers, changes, advance: (ms: number) => (now += ms) };
}

describe('circuit breakers', () => {
  it('open after `threshold` consecutive failures, not before', () => {
    const { breakers, changes } = setup();
    breakers.failure('t1');
    breakers.failure('t1');
    expect(breakers.state('t1')).toBe('closed');
    expect(breakers.allows('t1')).toBe(true);
    breakers.failure('t1');
    expect(breakers.state('t1')).toBe('open');
    expect(breakers.allows('t1')).toBe(false);
    expect(breakers.allows('t2')).toBe(true);
    expect(changes).toEqual(['t1:open']);
  });

  it('a success resets the count of failures', () => {
    const { breakers } = setup();
    breakers.failure('t1');
    breakers.failure('t1');
    breakers.success('t1');
    breakers.failure('t1');
    breakers.failure('t1');
    expect(breakers.state('t1')).toBe('closed');
  });

  it('probe after the cool-down: an answer closes it, silence reopens it for twice as long (capped)', () => {
    const { breakers, advance, changes } = setup();
    for (let i = 0; i < 3; i++) breakers.failure('t1');
    advance(999);
    expect(breakers.state('t1')).toBe('open');
    advance(1);
    expect(breakers.state('t1')).toBe('half-open');
    expect(breakers.allows('t1')).toBe(true);
    breakers.failure('t1');
    expect(breakers.state('t1')).toBe('open');
    advance(1999);
    expect(breakers.state('t1')).toBe('open');
    advance(1);
    expect(breakers.state('t1')).toBe('half-open');
    breakers.failure('t1');
    advance(4000);
    breakers.failure('t1');
    advance(3999);
    expect(breakers.state('t1')).toBe('open');
    advance(1);
    expect(breakers.state('t1')).toBe('half-open');
    breakers.success('t1');
    expect(breakers.state('t1')).toBe('closed');
    expect(changes.at(-1)).toBe('t1:closed');
  });
});
