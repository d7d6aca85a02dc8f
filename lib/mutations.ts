/**
 * Deliberate defects, for mutation tests of the checker only: each breaks one guarantee so a
 * test can show the invariant checker catches it. Selected by STOCKGATE_MUTATION; never set in
 * normal runs, and announced loudly when it is.
 */
export const MUTATIONS = ['skip-journal', 'commit-without-prepare', 'release-on-ttl', 'no-dedupe'] as const;
export type Mutation = (typeof MUTATIONS)[number];

let active: Mutation | null | undefined;

export function mutation(name: Mutation): boolean {
  if (active === undefined) {
    const raw = process.env.STOCKGATE_MUTATION;
    active = raw && (MUTATIONS as readonly string[]).includes(raw) ? (raw as Mutation) : null;
    if (active)
      process.stderr.write(`WARNING: mutation '${active}' is active: this process is broken on purpose\n`);
  }
  return active === name;
}
