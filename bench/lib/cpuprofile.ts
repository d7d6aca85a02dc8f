/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went, within a time window:
 * - self time per function (the top of the stack: what actually ran);
 * - self time per area: the package (node_modules/<pkg>), our file, Node's core module, V8
 *   builtins, GC;
 * - time per owner: each sample charged to the nearest frame on its stack that is our code or a
 *   package (so Node's stream or timer internals are charged to whoever called them);
 * - inclusive time per theme (serialization, journal, timers, ...): a sample counts for a theme if
 *   any frame on its stack belongs to it (themes overlap).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  windowMs: number;
  /** Time not idle (JS, native, GC), ms. */
  busyMs: number;
  /** busyMs / windowMs: the process's CPU use in the window, from the profile. */
  busyShare: number;
  topFunctions: Share[];
  byArea: Share[];
  byOwner: Share[];
  themes: Share[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Which area a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(program)') return '(program: native, outside JS)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(root)') return '(root)';
    return `V8 builtin: ${functionName || '(anonymous)'}`;
  }
  // The prebuilt bundle of our CLI (lib/prebuilt.ts) lives under node_modules/.cache.
  if (url.includes('node_modules/.cache/stockgate/')) return 'stockgate (prebuilt bundle)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return m[1]!;
  if (url.startsWith('node:')) {
    const core = url.slice(5).replace(/^internal\//, '');
    return `node:${core.split('/').slice(0, 2).join('/')}`;
  }
  if (url.startsWith('file://')) return relative(ROOT, fileURLToPath(url));
  return url;
}

function isOwner(area: string): boolean {
  return (
    !area.startsWith('node:') && !area.startsWith('V8 builtin') && !area.startsWith('(') && area !== 'GC'
  );
}

/**
 * Themes: a sample counts for a theme if a frame on its stack belongs to it (`inclusive`), or only
 * if its leaf does (`self`: for code that calls back into everything else, such as the broker or
 * the streams that deliver every message, inclusive time would be nearly all of it).
 */
const BROKER = new Set([
  'aedes',
  'aedes-persistence',
  'aedes-packet',
  'mqemitter',
  'qlobber',
  'fastfall',
  'fastparallel',
  'fastseries',
  'reusify',
  'hyperid',
  'retimer',
  'end-of-stream',
  'bl',
  'uuid',
]);
const THEMES: { name: string; self?: boolean; test: (f: CallFrame, area: string) => boolean }[] = [
  {
    name: 'JSON parse/stringify (when not inlined into its caller)',
    test: (f, a) =>
      a.startsWith('V8 builtin') && /^(parse|stringify|JSON|JsonParse|JsonStringify)/i.test(f.functionName),
  },
  { name: 'zod validation', test: (_f, a) => a === 'zod' },
  { name: 'MQTT packet parse/generate (mqtt-packet)', test: (_f, a) => a === 'mqtt-packet' },
  {
    name: 'socket writes (writev)',
    self: true,
    test: (f, a) => a.startsWith('V8 builtin') && /^write/.test(f.functionName),
  },
  { name: 'broker own code (aedes and its deps)', self: true, test: (_f, a) => BROKER.has(a) },
  { name: 'mqtt.js client', self: true, test: (_f, a) => a === 'mqtt' },
  {
    name: 'journal (SQLite, group commit)',
    test: (_f, a) => a === 'better-sqlite3' || a.startsWith('gateway/journal/'),
  },
  { name: 'terminal ledger (ledgerStore)', test: (_f, a) => a === 'firmware/ledgerStore.ts' },
  {
    name: 'timers (set/clear, expiry bookkeeping)',
    test: (f, a) =>
      a.startsWith('node:timers') &&
      /^(setTimeout|clearTimeout|setInterval|clearInterval|setImmediate|clearImmediate|insert|unenroll|listOnTimeout)$/.test(
        f.functionName,
      ),
  },
  { name: 'logging (pino)', test: (_f, a) => a === 'pino' || a.startsWith('pino-') || a === 'sonic-boom' },
  {
    name: 'statistics (hdr, stats)',
    test: (_f, a) => a === 'hdr-histogram-js' || a.startsWith('gateway/stats'),
  },
  {
    name: 'Node streams and net (self)',
    self: true,
    test: (_f, a) => a.startsWith('node:net') || a.startsWith('node:stream') || a.startsWith('node:streams'),
  },
  { name: 'GC', self: true, test: (_f, a) => a === 'GC' },
];

export function summarize(file: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const areaCache = new Map<number, string>();
  const area = (id: number) => {
    let a = areaCache.get(id);
    if (a === undefined) {
      a = areaOf(byId.get(id)!.callFrame);
      areaCache.set(id, a);
    }
    return a;
  };
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  const owners = new Map<string, number>();
  const themes = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let t = profile.startTime;
  let busy = 0;
  const from = window?.fromUs ?? profile.startTime;
  const to = window?.toUs ?? profile.endTime;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    const dt = (timeDeltas[i + 1] ?? timeDeltas[i] ?? 0) / 1000;
    if (t < from || t > to) continue;
    const id = samples[i]!;
    const leaf = byId.get(id)!;
    const a = area(id);
    if (a === '(idle)' || a === '(root)') continue;
    busy += dt;
    const f = leaf.callFrame;
    add(fns, `${f.functionName || '(anonymous)'} ${a}${f.url ? `:${f.lineNumber + 1}` : ''}`, dt);
    add(areas, a, dt);
    // Owner and themes: walk the stack once.
    let owner: string | null = null;
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const na = area(n);
      if (owner === null && isOwner(na)) owner = na;
      const frame = byId.get(n)!.callFrame;
      for (const th of THEMES)
        if (!seen.has(th.name) && (!th.self || n === id) && th.test(frame, na)) seen.add(th.name);
    }
    add(owners, owner ?? (a.startsWith('node:') ? a : a === 'GC' ? 'GC' : '(no JS caller)'), dt);
    for (const name of seen) add(themes, name, dt);
  }
  const windowMs = (to - from) / 1000;
  const list = (m: Map<string, number>, n = top): Share[] =>
    [...m.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([name, ms]) => ({
        name,
        ms: Math.round(ms),
        pct: busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0,
      }));
  return {
    file,
    windowMs: Math.round(windowMs),
    busyMs: Math.round(busy),
    busyShare: windowMs > 0 ? Math.round((busy / windowMs) * 100) / 100 : 0,
    topFunctions: list(fns),
    byArea: list(areas),
    byOwner: list(owners),
    themes: list(themes, THEMES.length),
  };
}
