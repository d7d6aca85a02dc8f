/**
 * The credential store: identities with a role and an scrypt hash of their password. Passwords
 * are never stored; `provision` returns one once. The file is rewritten atomically.
 *
 * Several processes share the file (the gateway, and `stockgate provision|revoke` from a shell):
 * every change re-reads the file and writes it under a lock between processes (proper-lockfile, a
 * `<file>.lock` directory), and a running gateway `watch()`es it, so a revocation made elsewhere
 * reaches it at once (`changed` names the identities removed or given a new password).
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  existsSync,
  type FSWatcher,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import PQueue from 'p-queue';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { logger } from '../../lib/log.ts';
import { ID_PATTERN } from '../../protocol/index.ts';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  keylen: number,
  opts: object,
) => Promise<Buffer>;

export const ROLES = ['client', 'terminal', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  name: string;
  role: Role;
}

/**
 * The scrypt cost of new hashes. Every secret is a 144-bit random token made by
 * `generatePassword()` (nobody chooses one), so an offline guess is hopeless at any cost and key
 * stretching protects nothing; what the cost does buy is CPU per first connection: the 16 MiB
 * default (N=16384, ~50 ms) made a gateway restart spend 5 s re-verifying 200 clients and a storm
 * of 10,000 connections a minute. N=1024 (1 MiB, ~3 ms) still hashes with a salt and is memory-hard;
 * MQTT brokers do likewise (mosquitto_passwd: PBKDF2-SHA512 with 101 rounds).
 * Each entry records its own parameters, so hashes made with another cost still verify.
 */
const SCRYPT_COST = { N: 1024, r: 8, p: 1 } as const;
/** What entries written before the parameters were recorded used. */
const LEGACY_COST = { N: 16384, r: 8, p: 1 } as const;
const MAXMEM = 64 * 1024 * 1024;
const KEYLEN = 32;
/**
 * Verifications running at once. They run on libuv's thread pool (4 threads), which the journal's
 * fdatasync needs too: a connect storm must not queue the journal behind thousands of hashes.
 */
const VERIFY_CONCURRENCY = 2;
/** Terminals first after a restart: in-flight orders wait on them, not on clients. */
const PRIORITY: Record<Role, number> = { terminal: 2, operator: 1, client: 0 };

const ScryptCost = z.object({
  N: z
    .number()
    .int()
    .min(2)
    .max(1 << 20),
  r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16),
});
type ScryptCost = z.infer<typeof ScryptCost>;

const StoredIdentity = z.object({
  role: z.enum(ROLES),
  salt: z.string(),
  hash: z.string(),
  createdAt: z.number(),
  scrypt: ScryptCost.optional(),
});

function hashPassword(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  return scrypt(password, salt, KEYLEN, { ...cost, maxmem: MAXMEM });
}
const CredentialFile = z.object({ version: z.literal(1), identities: z.record(z.string(), StoredIdentity) });
type CredentialFile = z.infer<typeof CredentialFile>;

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** What a reload found changed: identities that are gone, or whose password (or role) changed. */
export interface CredentialChange {
  added: string[];
  removed: string[];
  rotated: string[];
}

type StoredIdentity = z.infer<typeof StoredIdentity>;

function parseFile(text: string, file: string): CredentialFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`credential store ${file} is invalid: ${(err as Error).message}`);
  }
  const parsed = CredentialFile.safeParse(json);
  if (!parsed.success) throw new Error(`credential store ${file} is invalid: ${parsed.error.message}`);
  return parsed.data;
}

/** Identifies one version of the file without reading it (rename gives a new inode). */
function signature(file: string): string {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return 'missing';
  }
}

export class CredentialStore extends EventEmitter<{ changed: [CredentialChange] }> {
  private data: CredentialFile = { version: 1, identities: {} };
  /** name -> sha256(password) of the last successful check: reconnect storms skip scrypt. */
  private readonly verified = new Map<string, Buffer>();
  /** Checks under way, by name and password digest: a storm of one identity runs one scrypt. */
  private readonly checking = new Map<string, Promise<Identity | null>>();
  private readonly hashing = new PQueue({ concurrency: VERIFY_CONCURRENCY });
  private hashCount = 0;
  /** The file version `data` reflects. */
  private seen = 'missing';
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
  private readonly log = logger('credentials');

  constructor(readonly file: string) {
    super();
  }

  load(): this {
    const sig = signature(this.file);
    if (existsSync(this.file)) this.data = parseFile(readFileSync(this.file, 'utf8'), this.file);
    this.seen = sig;
    this.verified.clear();
    return this;
  }

  /**
   * Re-reads the file if another process changed it, and announces what changed. Never throws:
   * an unreadable or invalid file is logged and the identities in memory stay as they were. A
   * deleted file is an empty store (as a restart would find it): everyone is revoked.
   * Returns whether anything changed.
   */
  refresh(force = false): boolean {
    const sig = signature(this.file);
    // The signature (mtime, size) can miss a write within the same clock tick: a change made under
    // the lock re-reads regardless.
    if (!force && sig === this.seen) return false;
    let next: CredentialFile;
    try {
      next = existsSync(this.file)
        ? parseFile(readFileSync(this.file, 'utf8'), this.file)
        : { version: 1, identities: {} };
    } catch (err) {
      this.log.error(
        { file: this.file, err: (err as Error).message },
        'credential store unreadable: kept the last good one',
      );
      return false;
    }
    this.seen = sig;
    const before = this.data.identities;
    const after = next.identities;
    const change: CredentialChange = { added: [], removed: [], rotated: [] };
    for (const name of Object.keys(before)) {
      const old = before[name]!;
      const now = Object.hasOwn(after, name) ? after[name] : undefined;
      if (!now) change.removed.push(name);
      else if (now.hash !== old.hash || now.salt !== old.salt || now.role !== old.role)
        change.rotated.push(name);
    }
    for (const name of Object.keys(after)) if (!Object.hasOwn(before, name)) change.added.push(name);
    this.data = next;
    for (const name of [...change.removed, ...change.rotated]) this.verified.delete(name);
    const changed = change.added.length + change.removed.length + change.rotated.length > 0;
    if (changed) {
      this.log.info(change, 'credential store changed');
      try {
        this.emit('changed', change);
      } catch (err) {
        // A timer or a watch callback calls this: a listener's fault must not take the process down.
        this.log.error({ err: (err as Error).message }, 'credential change listener failed');
      }
    }
    return changed;
  }

  /**
   * Follows changes made by other processes: a directory watch (the file is replaced by rename, so
   * watching the file itself would lose it) plus a slow poll in case the watch misses an event.
   */
  watch(pollMs = 500): void {
    if (this.watcher || this.poll) return;
    const dir = dirname(this.file);
    const name = basename(this.file);
    mkdirSync(dir, { recursive: true });
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, changed) => {
        if (!changed || changed === name) this.scheduleRefresh();
      });
      this.watcher.on('error', (err) =>
        this.log.warn({ err: err.message }, 'credential watch failed; polling'),
      );
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot watch the credential store; polling');
    }
    this.poll = setInterval(() => this.refresh(), pollMs);
    this.poll.unref();
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
  }

  private scheduleRefresh(): void {
    // Coalesce the burst of events one rename makes.
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.refresh();
    }, 2);
  }

  has(name: string): boolean {
    return this.stored(name) !== undefined;
  }

  /** The role of a live identity, undefined once revoked. */
  roleOf(name: string): Role | undefined {
    return this.stored(name)?.role;
  }

  /** Own entries only: a name like 'constructor' must not find a property of Object.prototype. */
  private stored(name: string): StoredIdentity | undefined {
    return Object.hasOwn(this.data.identities, name) ? this.data.identities[name] : undefined;
  }

  list(): Identity[] {
    return Object.entries(this.data.identities).map(([name, s]) => ({ name, role: s.role }));
  }

  /** Creates (or replaces) an identity and returns its one-time password. */
  async provision(name: string, role: Role, password = generatePassword()): Promise<string> {
    if (!ID_PATTERN.test(name) || name === '__proto__')
      throw new Error(`invalid identity name '${name}': must match [A-Za-z0-9_-]{1,64}`);
    this.refresh();
    this.checkRole(name, role);
    const salt = randomBytes(16);
    const hash = await hashPassword(password, salt, SCRYPT_COST);
    let existed = false;
    await this.change(() => {
      this.checkRole(name, role);
      existed = this.has(name);
      this.data.identities[name] = {
        role,
        salt: salt.toString('base64'),
        hash: hash.toString('base64'),
        createdAt: Date.now(),
        scrypt: { ...SCRYPT_COST },
      };
      this.verified.delete(name);
      return true;
    });
    this.emit(
      'changed',
      existed ? { added: [], removed: [], rotated: [name] } : { added: [name], removed: [], rotated: [] },
    );
    return password;
  }

  private checkRole(name: string, role: Role): void {
    const existing = this.stored(name);
    if (existing && existing.role !== role) {
      throw new Error(`identity '${name}' already exists with role ${existing.role}`);
    }
  }

  /** Removes an identity; false if there was none. */
  async revoke(name: string): Promise<boolean> {
    const removed = await this.change(() => {
      if (!this.has(name)) return false;
      delete this.data.identities[name];
      this.verified.delete(name);
      return true;
    });
    if (removed) this.emit('changed', { added: [], removed: [name], rotated: [] });
    return removed;
  }

  /** The identity if the password is right, else null. Constant-time comparison. */
  async verify(name: string, password: string): Promise<Identity | null> {
    // A name provisioned a moment ago by another process is found even before the watch fires.
    if (!this.has(name)) this.refresh();
    const stored = this.stored(name);
    const digest = createHash('sha256').update(password).digest();
    if (!stored) {
      // Spend the same work as a real check so a probe cannot tell names apart by timing.
      await this.hash(password, Buffer.alloc(16), SCRYPT_COST, 'client');
      return null;
    }
    const cached = this.verified.get(name);
    if (cached && timingSafeEqual(cached, digest)) return { name, role: stored.role };
    const key = `${name}\0${digest.toString('base64')}`;
    let check = this.checking.get(key);
    if (!check) {
      check = this.check(name, stored, password, digest).finally(() => this.checking.delete(key));
      this.checking.set(key, check);
    }
    return check;
  }

  private async check(
    name: string,
    stored: StoredIdentity,
    password: string,
    digest: Buffer,
  ): Promise<Identity | null> {
    const cost = stored.scrypt ?? LEGACY_COST;
    const hash = await this.hash(password, Buffer.from(stored.salt, 'base64'), cost, stored.role);
    const expected = Buffer.from(stored.hash, 'base64');
    if (hash.length !== expected.length || !timingSafeEqual(hash, expected)) return null;
    // The identity may have been revoked while scrypt ran.
    // (A reload replaces the objects: compare what they hold.)
    const now = this.stored(name);
    if (!now || now.hash !== stored.hash || now.salt !== stored.salt || now.role !== stored.role) return null;
    this.verified.set(name, digest);
    return { name, role: stored.role };
  }

  /** scrypt hashes computed by verify() since the store was made (what a connect storm costs). */
  get hashesComputed(): number {
    return this.hashCount;
  }

  private hash(password: string, salt: Buffer, cost: ScryptCost, role: Role): Promise<Buffer> {
    this.hashCount++;
    return this.hashing.add(() => hashPassword(password, salt, cost), {
      priority: PRIORITY[role],
      throwOnTimeout: true,
    });
  }

  /**
   * Re-reads the file and applies `apply` to it under the lock between processes, then writes it
   * if `apply` says it changed something. Without the lock two processes that read before either
   * wrote would each write their own change over the other's.
   */
  private async change(apply: () => boolean): Promise<boolean> {
    mkdirSync(dirname(this.file), { recursive: true });
    const release = await lockfile.lock(this.file, {
      realpath: false,
      stale: 10_000,
      retries: { retries: 200, factor: 1.2, minTimeout: 2, maxTimeout: 100, randomize: true },
      onCompromised: (err) => this.log.warn({ err: err.message }, 'credential store lock compromised'),
    });
    try {
      this.refresh(true);
      const changed = apply();
      if (changed) this.save();
      return changed;
    } finally {
      await release();
    }
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
    this.seen = signature(this.file);
  }
}
