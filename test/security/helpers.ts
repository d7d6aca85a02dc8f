/**
 * What the security tests share: running child processes without blocking the event loop (the
 * broker under test lives in this process), the stockgate CLI, a tap on everything the broker
 * routes, waiting for security events, and a raw MQTT 3.1.1 client on a real socket that can send
 * any bytes at all.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import type { SecurityEvent } from '../../gateway/auth/events.ts';
import type { Gateway } from '../../gateway/gateway.ts';
import { until } from '../../lib/wait.ts';
import { type RunResult, stockgate } from '../helpers/run.ts';

/**
 * The fuzzers' seed and budget: STOCKGATE_FUZZ_SEED (default: random) and STOCKGATE_FUZZ_RUNS
 * (default: the CI budget given). The seed is printed so any failure can be replayed.
 */
export function fuzzBudget(name: string, ciRuns: number): { seed: number; runs: number } {
  const seed = Number(process.env.STOCKGATE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const runs = Number(process.env.STOCKGATE_FUZZ_RUNS ?? ciRuns);
  console.log(`${name}: seed ${seed}, ${runs} runs per property (replay: STOCKGATE_FUZZ_SEED=${seed})`);
  return { seed, runs };
}

/** `stockgate <args>` as a separate process, as a user would run it. */
export function cli(args: string[]): Promise<RunResult> {
  return stockgate(args, { env: { ...process.env, STOCKGATE_LOG_LEVEL: 'silent' } });
}

/** Every message the broker routes under `filter`, as the gateway itself sees it. */
export class Tap {
  readonly messages: { topic: string; payload: string }[] = [];
  readonly events = new EventEmitter();

  static async on(gateway: Gateway, filter: string): Promise<Tap> {
    const tap = new Tap();
    const broker = gateway.mqttBroker;
    if (!broker) throw new Error('gateway not started');
    await broker.subscribe(filter, (topic, payload) => {
      tap.messages.push({ topic, payload: payload.toString() });
      tap.events.emit('message');
    });
    return tap;
  }

  count(topic: string, payload?: string): number {
    return this.messages.filter((m) => m.topic === topic && (payload === undefined || m.payload === payload))
      .length;
  }

  wait(topic: string, payload: string, timeoutMs = 5000): Promise<void> {
    return until(
      this.events,
      'message',
      () => this.count(topic, payload) > 0,
      timeoutMs,
      `${topic} ${payload}`,
    );
  }
}

/** mqtt.js clients are Node EventEmitters at run time, typed otherwise: for `until`. */
export function emitter(client: { on: unknown; off: unknown }): EventEmitter {
  return client as unknown as EventEmitter;
}

/** SUBACK return codes of one SUBSCRIBE (mqtt.js rejects when any is 128; this reads them anyway). */
export async function subscribeCodes(
  client: { subscribeAsync(topics: string | string[], opts: { qos: 0 | 1 }): Promise<{ qos: number }[]> },
  filters: string | string[],
): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw err;
    return granted;
  }
}

/** Resolves with the first security event (from now on) that matches. */
export function nextSecurity<K extends SecurityEvent['kind']>(
  gateway: Gateway,
  kind: K,
  predicate: (e: Extract<SecurityEvent, { kind: K }>) => boolean = () => true,
  timeoutMs = 5000,
): Promise<Extract<SecurityEvent, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      gateway.security.off('security', on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${kind} security event`));
    }, timeoutMs);
    const on = (e: SecurityEvent) => {
      if (e.kind === kind && predicate(e as Extract<SecurityEvent, { kind: K }>)) {
        clearTimeout(timer);
        gateway.security.off('security', on);
        resolve(e as Extract<SecurityEvent, { kind: K }>);
      }
    };
    gateway.security.on('security', on);
  });
}

// ---- raw MQTT 3.1.1

export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), varint(body.length), body]);
}

export interface ConnectFields {
  clientId: string;
  username?: string;
  password?: string;
  keepalive?: number;
  will?: { topic: string; payload: string | Buffer; retain?: boolean; qos?: 0 | 1 };
  clean?: boolean;
}

export function connectPacket(f: ConnectFields): Buffer {
  let flags = f.clean === false ? 0 : 0x02;
  if (f.will) flags |= 0x04 | ((f.will.qos ?? 0) << 3) | (f.will.retain ? 0x20 : 0);
  if (f.password !== undefined) flags |= 0x40;
  if (f.username !== undefined) flags |= 0x80;
  const parts = [str('MQTT'), Buffer.from([4, flags]), u16(f.keepalive ?? 60), str(f.clientId)];
  if (f.will) parts.push(str(f.will.topic), str(f.will.payload));
  if (f.username !== undefined) parts.push(str(f.username));
  if (f.password !== undefined) parts.push(str(f.password));
  return packet(0x10, Buffer.concat(parts));
}

export function publishPacket(
  topic: string | Buffer,
  payload: string | Buffer,
  qos: 0 | 1 = 0,
  id = 1,
): Buffer {
  const parts = [str(topic)];
  if (qos > 0) parts.push(u16(id));
  parts.push(typeof payload === 'string' ? Buffer.from(payload) : payload);
  return packet(0x30 | (qos << 1), Buffer.concat(parts));
}

export function subscribePacket(id: number, filters: (string | Buffer)[], qos: 0 | 1 = 1): Buffer {
  return packet(0x82, Buffer.concat([u16(id), ...filters.flatMap((f) => [str(f), Buffer.from([qos])])]));
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

export interface InPacket {
  type: number;
  flags: number;
  body: Buffer;
}

/** A socket that speaks whatever bytes it is given and parses what comes back. */
export class RawClient extends EventEmitter {
  readonly packets: InPacket[] = [];
  closed = false;
  private buf = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    super();
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.emit('change');
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1', noDelay: true }, () =>
        resolve(new RawClient(socket)),
      );
      socket.once('error', reject);
    });
  }

  /** Opens a socket and completes CONNECT; rejects unless CONNACK 0. */
  static async connected(port: number, fields: ConnectFields): Promise<RawClient> {
    const c = await RawClient.open(port);
    c.send(connectPacket(fields));
    const code = await c.connack();
    if (code !== 0) throw new Error(`CONNACK ${code}`);
    return c;
  }

  send(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** The CONNACK return code, or null if the socket closed first. */
  async connack(timeoutMs = 5000): Promise<number | null> {
    await this.waitFor(() => this.closed || this.packets.some((p) => p.type === 2), timeoutMs, 'CONNACK');
    const p = this.packets.find((x) => x.type === 2);
    return p ? p.body[1]! : null;
  }

  of(type: number): InPacket[] {
    return this.packets.filter((p) => p.type === type);
  }

  waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'a packet'): Promise<void> {
    return until(this, 'change', predicate, timeoutMs, what);
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.closed, timeoutMs, 'the broker to close the connection');
  }

  end(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) break;
      let len = 0;
      let mul = 1;
      let i = 1;
      let complete = false;
      for (; i < 5 && i < this.buf.length; i++) {
        const b = this.buf[i]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || this.buf.length < i + 1 + len) break;
      const first = this.buf[0]!;
      this.packets.push({
        type: first >> 4,
        flags: first & 0x0f,
        body: this.buf.subarray(i + 1, i + 1 + len),
      });
      this.buf = this.buf.subarray(i + 1 + len);
    }
    this.emit('change');
  }
}
