/**
 * Raw QoS1 request/response round trips through a broker, with mqtt.js (Nagle off, lib/mqtt.ts).
 * `responder`: n connections, each answers `bench/<run>/req/<k>` on `bench/<run>/res/<k>`.
 * `requester`: n connections, each keeps `window` requests outstanding on its pair and counts the
 * answers: a closed loop that finds the broker's request/response throughput.
 */
import hdr from 'hdr-histogram-js';
import type { MqttClient } from 'mqtt';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { ready, serve } from '../lib/rpc.ts';

const clients: MqttClient[] = [];
let running = false;
let done = 0;
const latency = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
});

interface Setup {
  url: string;
  connections: number;
  run: string;
}

async function connect({ url, connections, run }: Setup, role: string): Promise<void> {
  for (let k = 0; k < connections; k++) {
    clients.push(
      await connectMqttAsync(url, { clientId: `bench-${role}-${run}-${k}`, clean: true, reconnectPeriod: 0 }),
    );
  }
}

serve(
  {
    async responder(s: Setup) {
      await connect(s, 'res');
      await Promise.all(
        clients.map(async (c, k) => {
          const res = `bench/${s.run}/res/${k}`;
          c.on('message', (_topic, payload) => c.publish(res, payload, { qos: 1 }));
          await c.subscribeAsync(`bench/${s.run}/req/${k}`, { qos: 1 });
        }),
      );
    },
    async requester(s: Setup) {
      await connect(s, 'req');
      await Promise.all(clients.map((c, k) => c.subscribeAsync(`bench/${s.run}/res/${k}`, { qos: 1 })));
      clients.forEach((c, k) => {
        const req = `bench/${s.run}/req/${k}`;
        c.on('message', (_topic, payload) => {
          const sent = payload.readDoubleLE(0);
          done++;
          latency.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000)));
          if (running) send(c, req);
        });
      });
    },
    /** Runs the closed loop for `ms` after `warmupMs`, and reports. */
    async measure({
      window,
      ms,
      warmupMs,
      run,
    }: {
      window: number;
      ms: number;
      warmupMs: number;
      run: string;
    }) {
      running = true;
      clients.forEach((c, k) => {
        for (let i = 0; i < window; i++) send(c, `bench/${run}/req/${k}`);
      });
      await sleep(warmupMs);
      latency.reset();
      const d0 = done;
      const t0 = performance.now();
      await sleep(ms);
      const n = done - d0;
      const elapsed = performance.now() - t0;
      const p = (q: number) => latency.getValueAtPercentile(q) / 1000;
      const result = {
        roundTrips: n,
        seconds: elapsed / 1000,
        perS: (n * 1000) / elapsed,
        latencyMs: { p50: p(50), p99: p(99), max: latency.maxValue / 1000 },
      };
      running = false;
      return result;
    },
  },
  async () => {
    running = false;
    await Promise.all(clients.map((c) => c.endAsync(true)));
  },
);

function send(c: MqttClient, topic: string): void {
  const payload = Buffer.alloc(100);
  payload.writeDoubleLE(performance.now(), 0);
  c.publish(topic, payload, { qos: 1 });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

ready();
