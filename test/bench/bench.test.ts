/**
 * Smoke test of `stockgate bench --quick`: it runs every phase on small workloads and writes a
 * result file of the documented shape. No figure is asserted: performance lives in the bench.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/run.ts';
import { stockgate } from '../helpers/run.ts';

const out = mkdtempSync(join(tmpdir(), 'stockgate-bench-test-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

const latency = {
  count: expect.any(Number),
  p50: expect.any(Number),
  p99: expect.any(Number),
  max: expect.any(Number),
};

describe('npm run bench -- --quick', () => {
  it('runs every phase and writes <out>/<timestamp>.json and latest.json', { timeout: 180_000 }, async () => {
    const { status, stdout, stderr } = await stockgate(['bench', '--quick', '--out', out], {
      env: { ...process.env, STOCKGATE_LOG_LEVEL: 'warn' },
      timeoutMs: 170_000,
    });
    expect(status, stderr).toBe(0);
    expect(stdout).toContain('max sustainable orders/s');
    expect(stdout).toContain('raw QoS1 round trips/s, aedes');

    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    expect(files).toContain('latest.json');
    const stamped = files.filter((f) => f !== 'latest.json');
    expect(stamped).toHaveLength(1);
    const text = readFileSync(join(out, 'latest.json'), 'utf8');
    expect(readFileSync(join(out, stamped[0]!), 'utf8')).toBe(text);
    const r = JSON.parse(text) as BenchResult;

    expect(r.errors, JSON.stringify(r.errors)).toEqual([]);
    expect(r).toMatchObject({
      version: 1,
      quick: true,
      phases: ['baseline', 'orders', 'scale', 'recovery'],
      machine: {
        nproc: expect.any(Number),
        cpuModel: expect.any(String),
        memTotalGiB: expect.any(Number),
        node: process.version,
        openFiles: { soft: expect.any(Number), hard: expect.any(Number) },
        loadavg: expect.any(Array),
        loadavgEnd: expect.any(Array),
      },
    });

    // Baseline: aedes always; mosquitto measured or skipped with a reason.
    expect(r.baseline?.aedes).toMatchObject({
      broker: 'aedes',
      roundTripsPerS: expect.any(Number),
      latencyMs: { p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) },
      cpuUsPerRoundTrip: { broker: expect.any(Number), clients: expect.any(Number) },
    });
    expect(r.baseline!.aedes.roundTripsPerS).toBeGreaterThan(0);
    const mosquitto = r.baseline!.mosquitto;
    if ('skipped' in mosquitto) expect(mosquitto.skipped).toEqual(expect.any(String));
    else expect(mosquitto.roundTripsPerS).toBeGreaterThan(0);

    // Orders: steps, the maximum, latency at half of it, the ratio to the baseline.
    const orders = r.orders!;
    expect(orders.workload).toMatchObject({ terminals: expect.any(Number), clients: expect.any(Number) });
    expect(orders.steps.length).toBeGreaterThan(0);
    for (const s of orders.steps) {
      expect(s).toMatchObject({
        offered: expect.any(Number),
        placedPerS: expect.any(Number),
        resolvedPerS: expect.any(Number),
        inFlightEnd: expect.any(Number),
        sustained: expect.any(Boolean),
        acceptedToConfirmedMs: latency,
        cpuMsPerOrder: {
          gateway: expect.any(Number),
          terminals: expect.any(Number),
          clients: expect.any(Number),
        },
      });
    }
    expect(orders.maxSustainedPerS).toEqual(expect.any(Number));
    expect(orders.ratio.toAedes === null || typeof orders.ratio.toAedes === 'number').toBe(true);

    // Scale: every stage has the gateway's RSS and CPU.
    const scale = r.scale!;
    for (const stage of [scale.empty, scale.withTerminals, scale.idle, scale.underLoad!]) {
      expect(stage.gateway).toMatchObject({
        rssMiB: expect.any(Number),
        cores: expect.any(Number),
        fds: expect.any(Number),
      });
      expect(stage.gateway.rssMiB).toBeGreaterThan(0);
    }
    expect(scale.openFiles).toMatchObject({
      soft: expect.any(Number),
      needed: expect.any(Number),
      enough: expect.any(Boolean),
    });
    expect(scale.storm).toMatchObject({
      connections: expect.any(Number),
      seconds: expect.any(Number),
      failed: expect.any(Number),
    });
    expect(scale.terminalsStorm.allOnlineS).toEqual(expect.any(Number));

    // Recovery: nothing in flight at the kill is left unresolved or lost.
    expect(r.recovery).toMatchObject({
      inFlightAtKill: expect.any(Number),
      restartToReadyS: expect.any(Number),
      restartToResolvedS: expect.any(Number),
      unresolved: 0,
      lost: 0,
    });

    expect(r.profile).toBeNull();

    expect(r.targets.map((t) => t.name)).toHaveLength(4);
    for (const t of r.targets)
      expect(t).toMatchObject({ name: expect.any(String), target: expect.any(String) });
  });
});
