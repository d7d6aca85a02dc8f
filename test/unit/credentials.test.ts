import { scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CredentialChange, CredentialStore, generatePassword } from '../../gateway/auth/credentials.ts';
import {
  credentialStorePath,
  DemoCredentials,
  demoCredentialsPath,
  ensureDemoCredentials,
  readDemoCredentials,
} from '../../gateway/auth/demo.ts';
import { until } from '../../lib/wait.ts';
import { run } from '../helpers/run.ts';

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stockgate-creds-'));
  file = join(dir, 'nested', 'credentials.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('generatePassword', () => {
  it('is long, url-safe and different each time', () => {
    const a = generatePassword();
    const b = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(a).not.toBe(b);
  });
});

describe('CredentialStore', () => {
  it('provision returns a password that verifies, with the role', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('c1', 'client');
    expect(pw.length).toBeGreaterThanOrEqual(16);
    expect(await store.verify('c1', pw)).toEqual({ name: 'c1', role: 'client' });
    // a second check (cached) agrees
    expect(await store.verify('c1', pw)).toEqual({ name: 'c1', role: 'client' });
    expect(store.has('c1')).toBe(true);
    expect(store.list()).toEqual([{ name: 'c1', role: 'client' }]);
  });

  it('uses a given password', async () => {
    const store = new CredentialStore(file).load();
    expect(await store.provision('t1', 'terminal', 'correct horse')).toBe('correct horse');
    expect(await store.verify('t1', 'correct horse')).toEqual({ name: 't1', role: 'terminal' });
  });

  it('a wrong password is refused, also after a successful check', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('c1', 'client');
    expect(await store.verify('c1', `${pw}x`)).toBeNull();
    expect(await store.verify('c1', '')).toBeNull();
    expect(await store.verify('c1', pw)).not.toBeNull();
    expect(await store.verify('c1', pw.slice(1))).toBeNull();
  });

  it('passwords are not shared between identities', async () => {
    const store = new CredentialStore(file).load();
    const pw1 = await store.provision('c1', 'client');
    const pw2 = await store.provision('c2', 'client');
    expect(await store.verify('c1', pw2)).toBeNull();
    expect(await store.verify('c2', pw1)).toBeNull();
  });

  it('an unknown name is refused', async () => {
    const store = new CredentialStore(file).load();
    await store.provision('c1', 'client', 'pw');
    expect(await store.verify('c2', 'pw')).toBeNull();
    expect(store.has('c2')).toBe(false);
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'])(
    'a name that is an Object.prototype property (%s) is unknown, not an error',
    async (name) => {
      const store = new CredentialStore(file).load();
      expect(store.has(name)).toBe(false);
      await expect(store.verify(name, 'pw')).resolves.toBeNull();
      expect(await store.revoke(name)).toBe(false);
    },
  );

  it('an identity may be called constructor', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('constructor', 'client');
    expect(await store.verify('constructor', pw)).toEqual({ name: 'constructor', role: 'client' });
    expect(await new CredentialStore(file).load().verify('constructor', pw)).toEqual({
      name: 'constructor',
      role: 'client',
    });
  });

  it('the file holds no plaintext password, and is private', async () => {
    const store = new CredentialStore(file).load();
    const pws = [
      await store.provision('c1', 'client'),
      await store.provision('op', 'operator', 'hunter2-secret'),
    ];
    const text = readFileSync(file, 'utf8');
    for (const pw of pws) expect(text).not.toContain(pw);
    const json = JSON.parse(text) as { version: number; identities: Record<string, Record<string, unknown>> };
    expect(json.version).toBe(1);
    expect(Object.keys(json.identities).sort()).toEqual(['c1', 'op']);
    for (const id of Object.values(json.identities)) {
      expect(Object.keys(id).sort()).toEqual(['createdAt', 'hash', 'role', 'salt', 'scrypt']);
      for (const pw of pws) expect(Object.values(id)).not.toContain(pw);
    }
    expect(json.identities['c1']!['salt']).not.toBe(json.identities['op']!['salt']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('an entry hashed before the cost was recorded (scrypt N=16384) still verifies', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const hash = scryptSync('legacy-password-0123456', salt, 32, { N: 16384, r: 8, p: 1, maxmem: 64 << 20 });
    const legacy = {
      role: 'terminal',
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      createdAt: 1,
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ version: 1, identities: { t1: legacy } }));
    const store = new CredentialStore(file).load();
    expect(await store.verify('t1', 'legacy-password-0123456')).toEqual({ name: 't1', role: 'terminal' });
    expect(await store.verify('t1', 'legacy-password-0123457')).toBeNull();
  });

  it('new entries record their scrypt cost', async () => {
    const store = new CredentialStore(file).load();
    await store.provision('c1', 'client');
    const saved = JSON.parse(readFileSync(file, 'utf8')).identities.c1;
    expect(saved.scrypt).toEqual({ N: 1024, r: 8, p: 1 });
  });

  it('a storm of one identity computes one hash; a wrong password beside it is still refused', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('c1', 'client');
    const right = Array.from({ length: 50 }, () => store.verify('c1', pw));
    const wrong = Array.from({ length: 50 }, () => store.verify('c1', `${pw}x`));
    const results = await Promise.all([...right, ...wrong]);
    expect(results.slice(0, 50).every((r) => r?.name === 'c1')).toBe(true);
    expect(results.slice(50).every((r) => r === null)).toBe(true);
    // One for the right password, one for the wrong one: 100 connections, 2 hashes.
    expect(store.hashesComputed).toBe(2);
    expect(await store.verify('c1', pw)).toEqual({ name: 'c1', role: 'client' });
    expect(store.hashesComputed).toBe(2);
  });

  it('a terminal queued behind a storm of clients is verified first', async () => {
    const store = new CredentialStore(file).load();
    const clients = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => ({
        name: `c${i}`,
        pw: await store.provision(`c${i}`, 'client'),
      })),
    );
    const tpw = await store.provision('t1', 'terminal');
    const done: string[] = [];
    const checks = clients.map((c) => store.verify(c.name, c.pw).then(() => done.push(c.name)));
    const terminal = store.verify('t1', tpw).then((r) => {
      done.push('t1');
      return r;
    });
    expect(await terminal).toEqual({ name: 't1', role: 'terminal' });
    await Promise.all(checks);
    // Two hashes run at a time: the terminal waits for at most the few already started.
    expect(done.indexOf('t1')).toBeLessThan(6);
  });

  it('revoke makes verify fail, also for a cached password', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('c1', 'client');
    expect(await store.verify('c1', pw)).not.toBeNull();
    expect(await store.revoke('c1')).toBe(true);
    expect(await store.verify('c1', pw)).toBeNull();
    expect(store.has('c1')).toBe(false);
    expect(await store.revoke('c1')).toBe(false);
    expect(await new CredentialStore(file).load().verify('c1', pw)).toBeNull();
  });

  it('a revocation noticed while a check runs refuses that check', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('c1', 'client');
    const pending = store.verify('c1', pw);
    // While its scrypt runs, another writer removes it and the store notices (as its watch does).
    const data = JSON.parse(readFileSync(file, 'utf8')) as { identities: Record<string, unknown> };
    delete data.identities.c1;
    writeFileSync(file, JSON.stringify(data));
    expect(store.refresh(true)).toBe(true);
    expect(await pending).toBeNull();
  });

  it('re-provisioning with the same role replaces the password', async () => {
    const store = new CredentialStore(file).load();
    const old = await store.provision('c1', 'client');
    expect(await store.verify('c1', old)).not.toBeNull();
    const fresh = await store.provision('c1', 'client');
    expect(fresh).not.toBe(old);
    expect(await store.verify('c1', old)).toBeNull();
    expect(await store.verify('c1', fresh)).toEqual({ name: 'c1', role: 'client' });
  });

  it('a role conflict throws and leaves the identity as it was', async () => {
    const store = new CredentialStore(file).load();
    const pw = await store.provision('x1', 'client');
    await expect(store.provision('x1', 'terminal')).rejects.toThrow(/already exists with role client/);
    expect(await store.verify('x1', pw)).toEqual({ name: 'x1', role: 'client' });
  });

  it.each(['', 'a b', 'a/b', 'a+b', 'a#', 'a.b', 'x'.repeat(65), 'é'])(
    'an invalid name %j throws',
    async (name) => {
      const store = new CredentialStore(file).load();
      await expect(store.provision(name, 'client')).rejects.toThrow(/invalid identity name/);
      expect(existsSync(file)).toBe(false);
    },
  );

  it('reloads from the file', async () => {
    const store = new CredentialStore(file).load();
    const pwc = await store.provision('c1', 'client');
    const pwt = await store.provision('t1', 'terminal');
    const pwo = await store.provision('op', 'operator');
    const again = new CredentialStore(file).load();
    expect(again.list().sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'c1', role: 'client' },
      { name: 'op', role: 'operator' },
      { name: 't1', role: 'terminal' },
    ]);
    expect(await again.verify('c1', pwc)).toEqual({ name: 'c1', role: 'client' });
    expect(await again.verify('t1', pwt)).toEqual({ name: 't1', role: 'terminal' });
    expect(await again.verify('op', pwo)).toEqual({ name: 'op', role: 'operator' });
    expect(await again.verify('op', pwc)).toBeNull();
  });

  it('load of a missing file gives an empty store; an invalid file throws', () => {
    expect(new CredentialStore(file).load().list()).toEqual([]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 2, identities: {} }));
    expect(() => new CredentialStore(bad).load()).toThrow(/is invalid/);
    writeFileSync(
      bad,
      JSON.stringify({ version: 1, identities: { c1: { role: 'admin', salt: '', hash: '', createdAt: 0 } } }),
    );
    expect(() => new CredentialStore(bad).load()).toThrow(/is invalid/);
  });
});

describe('several writers of one store (the gateway and `stockgate provision|revoke`)', () => {
  it('refresh() picks up what another writer did and names what changed', async () => {
    const gateway = new CredentialStore(file).load();
    const cli = new CredentialStore(file).load();
    const pw1 = await gateway.provision('c1', 'client');
    await gateway.provision('c2', 'client');
    const changes: CredentialChange[] = [];
    gateway.on('changed', (c) => changes.push(c));
    expect(gateway.refresh()).toBe(false);

    cli.load();
    expect(await cli.revoke('c1')).toBe(true);
    await cli.provision('c2', 'client');
    await cli.provision('t9', 'terminal');
    expect(gateway.refresh()).toBe(true);
    expect(changes.at(-1)).toEqual({ added: ['t9'], removed: ['c1'], rotated: ['c2'] });
    expect(await gateway.verify('c1', pw1)).toBeNull();
    expect(gateway.roleOf('t9')).toBe('terminal');
    expect(gateway.refresh()).toBe(false);
  });

  it('a change of its own is announced too, and does not make it reload', async () => {
    const store = new CredentialStore(file).load();
    const changes: CredentialChange[] = [];
    store.on('changed', (c) => changes.push(c));
    await store.provision('c1', 'client');
    await store.provision('c1', 'client');
    await store.revoke('c1');
    expect(changes).toEqual([
      { added: ['c1'], removed: [], rotated: [] },
      { added: [], removed: [], rotated: ['c1'] },
      { added: [], removed: ['c1'], rotated: [] },
    ]);
    expect(store.refresh()).toBe(false);
  });

  it('verify finds a name provisioned elsewhere a moment ago, without waiting for the watch', async () => {
    const gateway = new CredentialStore(file).load();
    await gateway.provision('c1', 'client');
    const pw = await new CredentialStore(file).load().provision('fresh', 'client');
    expect(await gateway.verify('fresh', pw)).toEqual({ name: 'fresh', role: 'client' });
  });

  it('a provision does not lose what another writer did meanwhile', async () => {
    const a = new CredentialStore(file).load();
    const b = new CredentialStore(file).load();
    await a.provision('c1', 'client');
    await b.provision('c2', 'client');
    await a.provision('c3', 'client');
    expect(
      new CredentialStore(file)
        .load()
        .list()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['c1', 'c2', 'c3']);
  });

  it('writers in several processes at once lose nothing (provisions and revokes)', async () => {
    // Each process provisions its own names, then revokes every other one of them: what must stay
    // is known exactly. Without a lock between processes their read-change-write cycles overlap.
    const procs = 6;
    const each = 24;
    const script = `
      const { CredentialStore } = await import(${JSON.stringify(new URL('../../gateway/auth/credentials.ts', import.meta.url).href)});
      const store = new CredentialStore(process.argv.at(-2)).load();
      const p = process.argv.at(-1);
      for (let i = 0; i < ${each}; i++) await store.provision(p + '-' + i, 'client');
      for (let i = 0; i < ${each}; i += 2) await store.revoke(p + '-' + i);
    `;
    const results = await Promise.all(
      Array.from({ length: procs }, (_, k) =>
        run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file, `w${k}`], {
          timeoutMs: 60_000,
        }),
      ),
    );
    for (const r of results) expect(r.status, r.stderr).toBe(0);
    const names = new CredentialStore(file)
      .load()
      .list()
      .map((i) => i.name)
      .sort();
    const expected = Array.from({ length: procs }, (_, k) =>
      Array.from({ length: each / 2 }, (_, j) => `w${k}-${2 * j + 1}`),
    )
      .flat()
      .sort();
    expect(names).toEqual(expected);
  });

  it('an invalid file (a half-written edit) is ignored: the last good identities stay', async () => {
    const gateway = new CredentialStore(file).load();
    const pw = await gateway.provision('c1', 'client');
    writeFileSync(file, '{"version":1,"identities":{');
    expect(gateway.refresh()).toBe(false);
    expect(await gateway.verify('c1', pw)).toEqual({ name: 'c1', role: 'client' });
  });

  it('watch() notices a revoke by another writer without being asked', async () => {
    const gateway = new CredentialStore(file).load();
    await gateway.provision('c1', 'client');
    const changes: CredentialChange[] = [];
    gateway.on('changed', (c) => changes.push(c));
    gateway.watch(60_000);
    try {
      await new CredentialStore(file).load().revoke('c1');
      await until(gateway, 'changed', () => changes.length > 0, 2000, 'the watch to fire');
      expect(changes[0]!.removed).toEqual(['c1']);
    } finally {
      gateway.unwatch();
    }
  });
});

describe('ensureDemoCredentials', () => {
  it('creates the contract shape and provisions every identity', async () => {
    const demo = await ensureDemoCredentials(dir, { clients: 3, terminals: ['t01', 't02'] });
    // contract: {"clients":[{"username","password"}...], "operator":{"username","password"},
    // "terminals":[{"id","username","password"}...]}
    expect(Object.keys(demo).sort()).toEqual(['clients', 'operator', 'terminals']);
    expect(demo.clients).toHaveLength(3);
    for (const c of demo.clients) expect(Object.keys(c).sort()).toEqual(['password', 'username']);
    expect(Object.keys(demo.operator).sort()).toEqual(['password', 'username']);
    expect(demo.operator.username).toBe('operator');
    expect(demo.terminals.map((t) => t.id)).toEqual(['t01', 't02']);
    for (const t of demo.terminals) {
      expect(Object.keys(t).sort()).toEqual(['id', 'password', 'username']);
      expect(t.username).toBe(t.id);
    }
    const passwords = [...demo.clients, demo.operator, ...demo.terminals].map((x) => x.password);
    for (const pw of passwords) expect(pw.length).toBeGreaterThanOrEqual(16);
    expect(new Set(passwords).size).toBe(passwords.length);

    // written to <data>/demo-credentials.json, privately, and parses with the contract schema
    const onDisk = JSON.parse(readFileSync(demoCredentialsPath(dir), 'utf8')) as unknown;
    expect(DemoCredentials.parse(onDisk)).toEqual(demo);
    expect(readDemoCredentials(demoCredentialsPath(dir))).toEqual(demo);
    expect(statSync(demoCredentialsPath(dir)).mode & 0o777).toBe(0o600);

    // every identity verifies with its role through the credential store
    const store = new CredentialStore(credentialStorePath(dir)).load();
    for (const c of demo.clients)
      expect(await store.verify(c.username, c.password)).toEqual({ name: c.username, role: 'client' });
    expect(await store.verify(demo.operator.username, demo.operator.password)).toEqual({
      name: 'operator',
      role: 'operator',
    });
    for (const t of demo.terminals)
      expect(await store.verify(t.username, t.password)).toEqual({ name: t.id, role: 'terminal' });
    // the store itself holds no plaintext
    const storeText = readFileSync(credentialStorePath(dir), 'utf8');
    for (const pw of passwords) expect(storeText).not.toContain(pw);
  });

  it('a second call returns the same credentials', async () => {
    const first = await ensureDemoCredentials(dir, { clients: 2, terminals: ['t01'], operator: 'ops' });
    const storeBefore = readFileSync(credentialStorePath(dir), 'utf8');
    const second = await ensureDemoCredentials(dir, { clients: 2, terminals: ['t01'], operator: 'ops' });
    expect(second).toEqual(first);
    expect(second.operator.username).toBe('ops');
    // nothing was re-provisioned
    expect(readFileSync(credentialStorePath(dir), 'utf8')).toBe(storeBefore);
  });

  it('regenerates when the store lost one of the demo identities', async () => {
    const first = await ensureDemoCredentials(dir, { clients: 1, terminals: ['t01'] });
    await new CredentialStore(credentialStorePath(dir)).load().revoke('t01');
    const second = await ensureDemoCredentials(dir, { clients: 1, terminals: ['t01'] });
    expect(second.terminals[0]!.password).not.toBe(first.terminals[0]!.password);
    const store = new CredentialStore(credentialStorePath(dir)).load();
    expect(await store.verify('t01', second.terminals[0]!.password)).not.toBeNull();
    expect(await store.verify('t01', first.terminals[0]!.password)).toBeNull();
  });
});
