/**
 * The credential store: identities with a role and an scrypt hash of their password. Passwords
 * are never stored; `provision` returns one once. The file is rewritten atomically.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
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

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEYLEN = 32;

const StoredIdentity = z.object({
  role: z.enum(ROLES),
  salt: z.string(),
  hash: z.string(),
  createdAt: z.number(),
});
const CredentialFile = z.object({ version: z.literal(1), identities: z.record(z.string(), StoredIdentity) });
type CredentialFile = z.infer<typeof CredentialFile>;

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export class CredentialStore {
  private data: CredentialFile = { version: 1, identities: {} };
  /** name -> sha256(password) of the last successful check: reconnect storms skip scrypt. */
  private readonly verified = new Map<string, Buffer>();

  constructor(readonly file: string) {}

  load(): this {
    if (existsSync(this.file)) {
      const parsed = CredentialFile.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      if (!parsed.success)
        throw new Error(`credential store ${this.file} is invalid: ${parsed.error.message}`);
      this.data = parsed.data;
    }
    this.verified.clear();
    return this;
  }

  has(name: string): boolean {
    return this.stored(name) !== undefined;
  }

  /** Own entries only: a name like 'constructor' must not find a property of Object.prototype. */
  private stored(name: string): CredentialFile['identities'][string] | undefined {
    return Object.hasOwn(this.data.identities, name) ? this.data.identities[name] : undefined;
  }

  list(): Identity[] {
    return Object.entries(this.data.identities).map(([name, s]) => ({ name, role: s.role }));
  }

  /** Creates (or replaces) an identity and returns its one-time password. */
  async provision(name: string, role: Role, password = generatePassword()): Promise<string> {
    if (!ID_PATTERN.test(name) || name === '__proto__')
      throw new Error(`invalid identity name '${name}': must match [A-Za-z0-9_-]{1,64}`);
    const existing = this.stored(name);
    if (existing && existing.role !== role) {
      throw new Error(`identity '${name}' already exists with role ${existing.role}`);
    }
    const salt = randomBytes(16);
    const hash = await scrypt(password, salt, KEYLEN, SCRYPT);
    this.data.identities[name] = {
      role,
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      createdAt: Date.now(),
    };
    this.verified.delete(name);
    this.save();
    return password;
  }

  revoke(name: string): boolean {
    if (!this.has(name)) return false;
    delete this.data.identities[name];
    this.verified.delete(name);
    this.save();
    return true;
  }

  /** The identity if the password is right, else null. Constant-time comparison. */
  async verify(name: string, password: string): Promise<Identity | null> {
    const stored = this.stored(name);
    if (!stored) {
      // Spend the same work as a real check so a probe cannot tell names apart by timing.
      await scrypt(password, Buffer.alloc(16), KEYLEN, SCRYPT);
      return null;
    }
    const digest = createHash('sha256').update(password).digest();
    const cached = this.verified.get(name);
    if (cached && timingSafeEqual(cached, digest)) return { name, role: stored.role };
    const hash = await scrypt(password, Buffer.from(stored.salt, 'base64'), KEYLEN, SCRYPT);
    const expected = Buffer.from(stored.hash, 'base64');
    if (hash.length !== expected.length || !timingSafeEqual(hash, expected)) return null;
    // The identity may have been revoked while scrypt ran.
    if (this.stored(name) !== stored) return null;
    this.verified.set(name, digest);
    return { name, role: stored.role };
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
