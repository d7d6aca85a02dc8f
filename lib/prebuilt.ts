/**
 * The CLI bundled ahead of time, for child processes that must come back fast: a gateway restarted
 * after a crash is listening ~0.3 s after launch from the bundle, ~0.6 s under tsx (tsx's loader
 * thread and one transform per module are most of its start), and every order in flight waits for it.
 *
 * Only our code is bundled; packages stay external, so the bundle lives inside the project
 * (node_modules/.cache) where they resolve. It is built from the current source each time a process
 * first asks for it (~0.1 s) and stored by content, so a stale bundle is never run.
 *
 * Run only the `gateway` command from it: code that finds its files by `import.meta.url` (the
 * firmware's hex files, the pin map, Node-RED's launcher) would look beside the bundle.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = join(ROOT, 'bin', 'stockgate.ts');
const CACHE = join(ROOT, 'node_modules', '.cache', 'stockgate');
/** Bundles of earlier sources kept besides the current one (another process may still run one). */
const KEEP = 4;

let built: Promise<string> | null = null;

/** Path of the bundled `bin/stockgate.ts` (built once per process). */
export function prebuiltCli(): Promise<string> {
  built ??= buildCli().catch((err: Error) => {
    built = null;
    throw new Error(`bundling the CLI for a fast start failed: ${err.message}`);
  });
  return built;
}

async function buildCli(): Promise<string> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir: join(CACHE, 'out'),
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const hash = createHash('sha256');
  for (const f of out.outputFiles) hash.update(f.path).update(f.contents);
  const dir = join(CACHE, `cli-${hash.digest('hex').slice(0, 16)}`);
  const entry = join(dir, 'stockgate.js');
  if (!existsSync(entry)) {
    // Written aside and renamed: a process starting from this bundle never sees half of it.
    const tmp = `${dir}.tmp-${process.pid}`;
    for (const f of out.outputFiles) {
      const file = join(tmp, relative(join(CACHE, 'out'), f.path));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, f.contents);
    }
    try {
      renameSync(tmp, dir);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      // Another process stored the same bundle first.
      if (!existsSync(entry)) throw err;
    }
    prune(dir);
  }
  return entry;
}

function prune(current: string): void {
  const dirs = readdirSync(CACHE)
    .filter((d) => d.startsWith('cli-') && join(CACHE, d) !== current)
    .map((d) => ({ name: d, path: join(CACHE, d), at: statSync(join(CACHE, d)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  // A half-written bundle is another process's work in progress, unless it is old (that one died).
  const stale = dirs.filter((d) => d.name.includes('.tmp-') && Date.now() - d.at > 600_000);
  const old = dirs.filter((d) => !d.name.includes('.tmp-')).slice(KEEP);
  for (const d of [...stale, ...old]) rmSync(d.path, { recursive: true, force: true });
}
