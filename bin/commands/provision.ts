/**
 * `stockgate provision <terminal|client|operator> <name>`, `stockgate revoke <name>` and
 * `stockgate identities`: the credential store from a shell. A password is printed once and only
 * its scrypt hash is stored. A running gateway watches the store: a revoked (or re-keyed) identity
 * is disconnected at once, a new one may connect at once.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { CredentialStore, ROLES, type Role } from '../../gateway/auth/credentials.ts';
import { credentialStorePath } from '../../gateway/auth/demo.ts';
import { defaultDataDir } from '../../gateway/config.ts';
import { tlsDir } from '../../gateway/tls.ts';

interface StoreOptions {
  dataDir?: string;
  json?: boolean;
}

function store(o: StoreOptions): CredentialStore {
  const dataDir = o.dataDir ? resolve(o.dataDir) : defaultDataDir();
  return new CredentialStore(credentialStorePath(dataDir)).load();
}

function role(raw: string): Role {
  if (!(ROLES as readonly string[]).includes(raw))
    throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}`);
  return raw as Role;
}

export function provisionCommands(program: Command): void {
  program
    .command('provision')
    .description('create an identity and print its one-time password (only a scrypt hash is stored)')
    .argument('<role>', `one of ${ROLES.join(', ')}`, role)
    .argument('<name>', 'the identity: a terminal id, a client id or an operator name ([A-Za-z0-9_-]{1,64})')
    .option('--data-dir <dir>', 'data directory (STOCKGATE_DATA_DIR, default ./data)')
    .option('--rotate', 'replace the password of an existing identity (its connections are closed)')
    .option('--json', 'print {name, role, username, password} as JSON')
    .action(async (r: Role, name: string, o: StoreOptions & { rotate?: boolean }) => {
      const s = store(o);
      if (s.has(name) && !o.rotate) {
        throw new Error(
          `identity '${name}' exists already (role ${s.roleOf(name)}); --rotate gives it a new password`,
        );
      }
      const password = await s.provision(name, r);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ name, role: r, username: name, password })}\n`);
        return;
      }
      const ca = join(tlsDir(resolve(s.file, '..')), 'ca.pem');
      process.stdout.write(
        [
          `${o.rotate ? 'new password for' : 'provisioned'} ${r} '${name}' in ${s.file}`,
          `  username  ${name}`,
          `  password  ${password}`,
          `  clientId  ${name} or ${name}-<anything>`,
          ...(existsSync(ca) ? [`  TLS CA    ${ca}  (for mqtts and wss)`] : []),
          'The password is shown only now: the store keeps its scrypt hash.',
          '',
        ].join('\n'),
      );
    });

  program
    .command('revoke')
    .description('remove an identity: a running gateway closes its connections at once')
    .argument('<name>', 'the identity')
    .option('--data-dir <dir>', 'data directory (STOCKGATE_DATA_DIR, default ./data)')
    .action(async (name: string, o: StoreOptions) => {
      const s = store(o);
      if (!(await s.revoke(name))) throw new Error(`no identity '${name}' in ${s.file}`);
      process.stdout.write(`revoked '${name}' in ${s.file}\n`);
    });

  program
    .command('identities')
    .description('list the identities and their roles (never passwords)')
    .option('--data-dir <dir>', 'data directory (STOCKGATE_DATA_DIR, default ./data)')
    .option('--json', 'print a JSON array')
    .action((o: StoreOptions) => {
      const list = store(o)
        .list()
        .sort((a, b) => a.role.localeCompare(b.role) || a.name.localeCompare(b.name));
      if (o.json) process.stdout.write(`${JSON.stringify(list)}\n`);
      else for (const i of list) process.stdout.write(`${i.role.padEnd(9)} ${i.name}\n`);
    });
}
