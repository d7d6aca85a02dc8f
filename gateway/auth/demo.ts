/**
 * The demo's identities, generated at first start through the same store as any provisioned
 * identity, and written in the clear to `<data>/demo-credentials.json` (mode 0600) for the demo's
 * own fleets and for people trying the system.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CredentialStore } from './credentials.ts';

export const DemoCredentials = z.object({
  clients: z.array(z.object({ username: z.string(), password: z.string() })),
  operator: z.object({ username: z.string(), password: z.string() }),
  terminals: z.array(z.object({ id: z.string(), username: z.string(), password: z.string() })),
});
export type DemoCredentials = z.infer<typeof DemoCredentials>;

export function credentialStorePath(dataDir: string): string {
  return join(dataDir, 'credentials.json');
}

export function demoCredentialsPath(dataDir: string): string {
  return join(dataDir, 'demo-credentials.json');
}

export function readDemoCredentials(file: string): DemoCredentials {
  return DemoCredentials.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export interface DemoShape {
  clients: number;
  terminals: string[];
  operator?: string;
}

/** Reuses the demo identities when they exist, else creates them. */
export async function ensureDemoCredentials(dataDir: string, shape: DemoShape): Promise<DemoCredentials> {
  mkdirSync(dataDir, { recursive: true });
  const file = demoCredentialsPath(dataDir);
  const store = new CredentialStore(credentialStorePath(dataDir)).load();
  if (existsSync(file)) {
    const demo = readDemoCredentials(file);
    const names = [
      ...demo.clients.map((c) => c.username),
      demo.operator.username,
      ...demo.terminals.map((t) => t.username),
    ];
    if (names.every((n) => store.has(n))) return demo;
  }
  const demo: DemoCredentials = {
    clients: [],
    operator: { username: shape.operator ?? 'operator', password: '' },
    terminals: [],
  };
  for (let i = 1; i <= shape.clients; i++) {
    const username = `c${String(i).padStart(3, '0')}`;
    demo.clients.push({ username, password: await store.provision(username, 'client') });
  }
  demo.operator.password = await store.provision(demo.operator.username, 'operator');
  for (const id of shape.terminals) {
    demo.terminals.push({ id, username: id, password: await store.provision(id, 'terminal') });
  }
  writeFileSync(file, `${JSON.stringify(demo, null, 2)}\n`, { mode: 0o600 });
  return demo;
}
