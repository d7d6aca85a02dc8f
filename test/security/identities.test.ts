/**
 * Identities end to end: `stockgate provision` and `stockgate revoke` run as separate processes
 * against the data dir of a running gateway. A new identity may connect at once; a revoked (or
 * re-keyed) one is cut off within a second. The clientId must be the identity's name or start with
 * `<name>-`, and a will is checked against the ACL at CONNECT.
 */
import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../gateway/auth/credentials.ts';
import { credentialStorePath } from '../../gateway/auth/demo.ts';
import { connectMqttAsync } from '../../lib/mqtt.ts';
import { until, withTimeout } from '../../lib/wait.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';
import { cli, connectPacket, nextSecurity, RawClient, Tap } from './helpers.ts';

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ terminals: [], clients: ['c1'] });
});
afterAll(async () => {
  await sys.stop();
});

function connect(username: string, password: string, clientId: string): Promise<MqttClient> {
  return connectMqttAsync(sys.url, { clientId, username, password, reconnectPeriod: 0 });
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.once('close', () => resolve()));
}

async function provision(role: string, name: string, ...extra: string[]): Promise<string> {
  const r = await cli(['provision', role, name, '--data-dir', sys.dataDir, '--json', ...extra]);
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { name: string; role: string; username: string; password: string };
  expect(out).toMatchObject({ name, role, username: name });
  return out.password;
}

/** Another writer of the credential file, as the CLI is (the CLI itself is exercised above). */
function otherProcessStore(): CredentialStore {
  return new CredentialStore(credentialStorePath(sys.dataDir)).load();
}

describe('provision and revoke from another process', () => {
  // The CLI takes seconds to start (it loads every command): few calls, run side by side.
  it('`stockgate provision` prints one-time credentials, stores only a hash, and the gateway takes them at once', async () => {
    const [password, human, again] = await Promise.all([
      provision('client', 'p1'),
      cli(['provision', 'terminal', 'pt1', '--data-dir', sys.dataDir]),
      provision('operator', 'po1'),
    ]);
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const store = readFileSync(credentialStorePath(sys.dataDir), 'utf8');
    expect(store).not.toContain(password);
    expect(store).not.toContain(again);
    expect(JSON.parse(store).identities).toMatchObject({
      p1: { role: 'client' },
      pt1: { role: 'terminal' },
      po1: { role: 'operator' },
    });
    const c = await connect('p1', password, 'p1-a');
    await c.endAsync();
    const op = await connect('po1', again, 'po1-x');
    await op.endAsync();

    expect(human.status, human.stderr).toBe(0);
    const pw = /password\s+(\S+)/.exec(human.stdout)?.[1];
    expect(pw).toBeDefined();
    expect(human.stdout).toContain('clientId  pt1 or pt1-<anything>');
    expect(human.stdout).toMatch(/TLS CA\s+\S+ca\.pem/);
    const t = await connect('pt1', pw!, 'pt1');
    await t.endAsync();
  });

  it('`stockgate revoke` cuts every connection of the identity off within a second; it cannot come back', async () => {
    const password = otherProcessStore().provision('r1', 'client');
    const subscriber = await connect('r1', await password, 'r1-sub');
    const publisher = await connect('r1', await password, 'r1-pub');
    const both = Promise.all([closed(subscriber), closed(publisher)]);
    const [r, twice] = await Promise.all([
      cli(['revoke', 'r1', '--data-dir', sys.dataDir]),
      // Provisioning an existing name is refused unless --rotate.
      cli(['provision', 'client', 'p1', '--data-dir', sys.dataDir]),
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("revoked 'r1'");
    // The deadline is the promise: within a second of the revoke command's exit.
    await withTimeout(both, 1000, 'the revoked identity to be disconnected');
    expect(sys.gateway.security.count('revoked')).toBeGreaterThanOrEqual(2);
    await expect(connect('r1', await password, 'r1-again')).rejects.toThrow(/Bad username or password/i);
    // Others are untouched.
    expect(sys.client('c1').mqtt.connected).toBe(true);
    expect(twice.status).toBe(1);
    expect(twice.stderr).toMatch(/exists already/);
  });

  it('a new password cuts off the connections made with the old one', async () => {
    const old = await otherProcessStore().provision('k1', 'client');
    const c = await connect('k1', old, 'k1');
    const gone = closed(c);
    const fresh = await otherProcessStore().provision('k1', 'client');
    await withTimeout(gone, 1000, 'the re-keyed identity to be disconnected');
    await expect(connect('k1', old, 'k1')).rejects.toThrow();
    const again = await connect('k1', fresh, 'k1');
    await again.endAsync();
  });

  it('a revoked terminal still leaves its offline will (checked at CONNECT)', async () => {
    const password = await otherProcessStore().provision('rt1', 'terminal');
    const tap = await Tap.on(sys.gateway, 'stockgate/terminals/rt1/state');
    const t = await connectMqttAsync(sys.url, {
      clientId: 'rt1',
      username: 'rt1',
      password,
      reconnectPeriod: 0,
      will: {
        topic: 'stockgate/terminals/rt1/state',
        payload: Buffer.from('{"state":"offline"}'),
        qos: 1,
        retain: true,
      },
    });
    const gone = closed(t);
    expect(await otherProcessStore().revoke('rt1')).toBe(true);
    await withTimeout(gone, 1000, 'the revoked terminal to be disconnected');
    await tap.wait('stockgate/terminals/rt1/state', '{"state":"offline"}');
  });
});

describe('clientId', () => {
  it.each([
    ['c1', true],
    ['c1-anything', true],
    ['c1-', true],
    ['c10', false],
    ['c2', false],
    ['c2-c1', false],
    ['x-c1', false],
  ])('c1 as %j -> %s', async (clientId, allowed) => {
    if (allowed) {
      const c = await connect('c1', PASSWORD, clientId);
      await c.endAsync();
    } else {
      const refused = nextSecurity(sys.gateway, 'client_id_refused', (e) => e.clientId === clientId);
      await expect(connect('c1', PASSWORD, clientId)).rejects.toThrow(/Not authorized/i);
      await refused;
    }
  });

  it('an empty clientId is refused (aedes would make one up)', async () => {
    const raw = await RawClient.open(sys.gateway.ports.mqtt);
    raw.send(connectPacket({ clientId: '', username: 'c1', password: PASSWORD }));
    expect(await raw.connack()).toBe(5);
    await raw.waitClosed();
  });

  it('another identity cannot take over a session', async () => {
    const owner = sys.client('c1').mqtt;
    await sys.provision('c2', 'client');
    await expect(connect('c2', PASSWORD, owner.options.clientId!)).rejects.toThrow(/Not authorized/i);
    expect(owner.connected).toBe(true);
  });
});

describe('wills are checked at CONNECT', () => {
  const willCases: { name: string; user: string; topic: string; retain: boolean; ok: boolean }[] = [
    {
      name: "a terminal's retained offline state",
      user: 't1w',
      topic: 'stockgate/terminals/t1w/state',
      retain: true,
      ok: true,
    },
    {
      name: "another terminal's state",
      user: 't1w',
      topic: 'stockgate/terminals/t2/state',
      retain: true,
      ok: false,
    },
    {
      name: "a terminal's own command topic",
      user: 't1w',
      topic: 'stockgate/terminals/t1w/cmd',
      retain: false,
      ok: false,
    },
    {
      name: "a terminal's retained reply",
      user: 't1w',
      topic: 'stockgate/terminals/t1w/reply',
      retain: true,
      ok: false,
    },
    {
      name: "a client's own order, retained",
      user: 'c1',
      topic: 'stockgate/clients/c1/orders/place',
      retain: true,
      ok: false,
    },
    {
      name: "another client's order",
      user: 'c1',
      topic: 'stockgate/clients/c2/orders/place',
      retain: false,
      ok: false,
    },
    {
      name: 'a status (only the gateway)',
      user: 'c1',
      topic: 'stockgate/clients/c1/orders/status',
      retain: false,
      ok: false,
    },
    { name: 'a topic outside the contract', user: 'c1', topic: '$SYS/x', retain: false, ok: false },
  ];

  beforeAll(async () => {
    await sys.provision('t1w', 'terminal');
  });

  it.each(willCases)('$name -> $ok', async ({ user, topic, retain, ok }) => {
    const raw = await RawClient.open(sys.gateway.ports.mqtt);
    const refused = ok ? null : nextSecurity(sys.gateway, 'will_refused', (e) => e.topic === topic);
    raw.send(
      connectPacket({
        clientId: `${user}-will`,
        username: user,
        password: PASSWORD,
        will: { topic, payload: '{"state":"offline"}', retain, qos: 1 },
      }),
    );
    expect(await raw.connack()).toBe(ok ? 0 : 5);
    if (ok) {
      // The will fires when the connection dies without DISCONNECT.
      const tap = await Tap.on(sys.gateway, topic);
      raw.end();
      await tap.wait(topic, '{"state":"offline"}');
    } else {
      await refused;
      await raw.waitClosed();
    }
  });
});

describe('authentication', () => {
  it('no credentials, a wrong password and an unknown user are refused', async () => {
    for (const [u, p] of [
      ['c1', 'wrong'],
      ['nobody', PASSWORD],
    ] as const) {
      await expect(connect(u, p, `${u}-x`)).rejects.toThrow(/Bad username or password/i);
    }
    const raw = await RawClient.open(sys.gateway.ports.mqtt);
    raw.send(connectPacket({ clientId: 'anon' }));
    expect(await raw.connack()).toBe(4);
    await raw.waitClosed();
  });

  it('the demo identities go through the same store', async () => {
    const { ensureDemoCredentials } = await import('../../gateway/auth/demo.ts');
    const demo = await ensureDemoCredentials(sys.dataDir, {
      clients: 1,
      terminals: ['dt1'],
      operator: 'dop',
    });
    const c = await connect(
      demo.clients[0]!.username,
      demo.clients[0]!.password,
      `${demo.clients[0]!.username}-d`,
    );
    await c.endAsync();
    const gone = closed(await connect('dop', demo.operator.password, 'dop'));
    expect(await otherProcessStore().revoke('dop')).toBe(true);
    await withTimeout(gone, 1000, 'the revoked demo operator to be disconnected');
    await until(sys.gateway.security, 'security', () => sys.gateway.security.count('revoked') > 0, 1000);
  });
});
