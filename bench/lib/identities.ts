/**
 * Identities for the bench, many and fast. Provisioning costs a scrypt per identity, so one identity is
 * provisioned through the real CredentialStore and the others get a copy of its salt and hash (all
 * share one password): the file stays in the store's own format and the gateway verifies each name
 * with a real scrypt on its first connection, as it would in production. Bench data only: never
 * give real identities one salt.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { CredentialStore, type Role } from '../../gateway/auth/credentials.ts';
import { credentialStorePath } from '../../gateway/auth/demo.ts';

export const BENCH_PASSWORD = 'bench-password-0123456789';

export interface Cred {
  username: string;
  password: string;
}

export async function provisionMany(
  dataDir: string,
  identities: { name: string; role: Role }[],
): Promise<void> {
  const file = credentialStorePath(dataDir);
  const store = new CredentialStore(file).load();
  await store.provision('bench-template', 'client', BENCH_PASSWORD);
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    version: 1;
    identities: Record<string, { role: Role; salt: string; hash: string; createdAt: number }>;
  };
  const template = data.identities['bench-template']!;
  for (const { name, role } of identities)
    data.identities[name] = { ...template, role, createdAt: Date.now() };
  const tmp = `${file}.bench.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function names(prefix: string, n: number, from = 1): string[] {
  const width = Math.max(3, String(from + n - 1).length);
  return Array.from({ length: n }, (_, i) => `${prefix}${String(from + i).padStart(width, '0')}`);
}

export function creds(usernames: string[]): Cred[] {
  return usernames.map((username) => ({ username, password: BENCH_PASSWORD }));
}
