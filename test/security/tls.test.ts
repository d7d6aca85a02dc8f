/**
 * TLS: certificates generated at first start (a CA and a server certificate under <data>/tls/),
 * mqtts and wss with that CA succeed, without it they are refused; user-supplied certificates;
 * STOCKGATE_REQUIRE_TLS closes the plain listeners.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../gateway/auth/credentials.ts';
import { credentialStorePath } from '../../gateway/auth/demo.ts';
import { Gateway } from '../../gateway/gateway.ts';
import { ensureTls } from '../../gateway/tls.ts';
import { run } from '../helpers/run.ts';
import { PASSWORD, TestSystem } from '../helpers/system.ts';

let sys: TestSystem;
let ca: string;
beforeAll(async () => {
  sys = await TestSystem.start({ terminals: [], clients: ['c1'] });
  ca = sys.gateway.tls!.caFile!;
});
afterAll(async () => {
  await sys.stop();
});

function tryConnect(url: string, opts: mqtt.IClientOptions): Promise<'connected' | Error> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    c.once('connect', () => {
      c.end(true);
      resolve('connected');
    });
    c.once('error', (err) => {
      c.end(true);
      resolve(err);
    });
  });
}

const creds = { username: 'c1', password: PASSWORD };

describe('generated certificates', () => {
  it('a CA and a server certificate for localhost, 127.0.0.1 and ::1 are written under <data>/tls/', () => {
    const tls = sys.gateway.tls!;
    expect(tls.generated).toBe(true);
    expect(tls.caFile).toBe(join(sys.dataDir, 'tls', 'ca.pem'));
    const caCert = new X509Certificate(readFileSync(tls.caFile!));
    const server = new X509Certificate(readFileSync(tls.certFile));
    expect(caCert.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(caCert.publicKey)).toBe(true);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBeDefined();
    expect(statSync(tls.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(sys.dataDir, 'tls', 'ca-key.pem')).mode & 0o777).toBe(0o600);
  });

  it('are reused on the next start, not regenerated', async () => {
    const before = readFileSync(sys.gateway.tls!.certFile, 'utf8');
    const again = await ensureTls({ dataDir: sys.dataDir, hosts: ['localhost', '127.0.0.1', '::1'] });
    expect(again.cert).toBe(before);
  });

  it('a certificate that does not cover a new host name is re-issued by the same CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stockgate-tls-'));
    try {
      const first = await ensureTls({ dataDir: dir, hosts: ['localhost'] });
      const second = await ensureTls({ dataDir: dir, hosts: ['localhost', 'gw.example'] });
      expect(second.cert).not.toBe(first.cert);
      expect(readFileSync(second.caFile!, 'utf8')).toBe(readFileSync(first.caFile!, 'utf8'));
      expect(new X509Certificate(second.cert).checkHost('gw.example')).toBe('gw.example');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mqtts', () => {
  it('with the generated CA: connects', async () => {
    const url = `mqtts://localhost:${sys.gateway.ports.mqtts}`;
    expect(await tryConnect(url, { ...creds, clientId: 'c1-tls', ca: readFileSync(ca) })).toBe('connected');
  });

  it('without it: refused (self-signed chain)', async () => {
    const url = `mqtts://localhost:${sys.gateway.ports.mqtts}`;
    const r = await tryConnect(url, { ...creds, clientId: 'c1-tls' });
    expect(r).toBeInstanceOf(Error);
    expect((r as Error & { code?: string }).code ?? (r as Error).message).toMatch(
      /SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify|self.signed/i,
    );
  });

  it('still authenticates: a wrong password is refused over TLS too', async () => {
    const url = `mqtts://localhost:${sys.gateway.ports.mqtts}`;
    const r = await tryConnect(url, {
      username: 'c1',
      password: 'nope',
      clientId: 'c1-tls',
      ca: readFileSync(ca),
    });
    expect((r as Error).message).toMatch(/Bad username or password/);
  });

  it('mosquitto_pub --cafile connects; with the system CAs only it is refused', async () => {
    const args = ['-h', 'localhost', '-p', String(sys.gateway.ports.mqtts), '-u', 'c1', '-P', PASSWORD];
    const msg = ['-t', 'stockgate/clients/c1/orders/query', '-m', '{"orderId":"tls"}', '-q', '1'];
    const ok = await run('mosquitto_pub', [...args, '-i', 'c1-mq-tls', '--cafile', ca, ...msg]);
    expect(ok.status, ok.stderr).toBe(0);
    const bad = await run('mosquitto_pub', [
      ...args,
      '-i',
      'c1-mq-tls',
      '--capath',
      '/etc/ssl/certs',
      ...msg,
    ]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/TLS|certificate/i);
  });
});

describe('wss', () => {
  it('with the generated CA: connects on /mqtt', async () => {
    const url = `wss://localhost:${sys.gateway.ports.wss}/mqtt`;
    expect(await tryConnect(url, { ...creds, clientId: 'c1-wss', ca: readFileSync(ca) })).toBe('connected');
  });

  it('without it: refused', async () => {
    const url = `wss://localhost:${sys.gateway.ports.wss}/mqtt`;
    expect(await tryConnect(url, { ...creds, clientId: 'c1-wss' })).toBeInstanceOf(Error);
  });
});

describe('configuration', () => {
  it('STOCKGATE_REQUIRE_TLS=1 leaves only the TLS listeners open', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'stockgate-tlsonly-'));
    const saved = process.env.STOCKGATE_REQUIRE_TLS;
    process.env.STOCKGATE_REQUIRE_TLS = '1';
    let gateway: Gateway | undefined;
    try {
      await new CredentialStore(credentialStorePath(dataDir)).load().provision('c1', 'client', PASSWORD);
      gateway = new Gateway({ dataDir, mqttPort: 0, wsPort: 0, httpPort: 0 });
      expect(gateway.config.tls.require).toBe(true);
      const ports = await gateway.start();
      expect(ports.mqtt).toBe(0);
      expect(ports.ws).toBe(0);
      expect(ports.mqtts).toBeGreaterThan(0);
      const url = `mqtts://localhost:${ports.mqtts}`;
      const caPem = readFileSync(gateway.tls!.caFile!);
      expect(await tryConnect(url, { ...creds, clientId: 'c1-only', ca: caPem })).toBe('connected');
    } finally {
      if (saved === undefined) delete process.env.STOCKGATE_REQUIRE_TLS;
      else process.env.STOCKGATE_REQUIRE_TLS = saved;
      await gateway?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('user-supplied certificates are used as given (and a mismatched key is refused)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stockgate-usercert-'));
    try {
      // Borrow the generated pair as "the user's".
      const t = sys.gateway.tls!;
      copyFileSync(t.certFile, join(dir, 'cert.pem'));
      copyFileSync(t.keyFile, join(dir, 'key.pem'));
      const mine = await ensureTls({
        dataDir: dir,
        certFile: join(dir, 'cert.pem'),
        keyFile: join(dir, 'key.pem'),
        caFile: t.caFile,
      });
      expect(mine.generated).toBe(false);
      expect(mine.cert).toBe(readFileSync(t.certFile, 'utf8'));
      const other = await ensureTls({ dataDir: join(dir, 'other'), hosts: ['localhost'] });
      await expect(
        ensureTls({ dataDir: dir, certFile: join(dir, 'cert.pem'), keyFile: other.keyFile }),
      ).rejects.toThrow(/does not belong/);
      await expect(ensureTls({ dataDir: dir, certFile: join(dir, 'cert.pem') })).rejects.toThrow(/both/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
