/**
 * The report's charts, rendered server-side to SVG with Observable Plot on a jsdom document: no
 * script runs in the report, nothing is fetched. Each function returns the chart's HTML, or null
 * when there is nothing to draw (the report says so instead).
 */
import * as Plot from '@observablehq/plot';
import { JSDOM } from 'jsdom';
import type { FaultInterval, Figures } from './figures.ts';

const WIDTH = 960;
const STYLE = { fontSize: '12px', background: 'white', color: '#222', overflow: 'visible' };
const FAULT_FILL = '#e15759';

let doc: Document | null = null;
function document(): Document {
  doc ??= new JSDOM('<!DOCTYPE html><html><body></body></html>').window.document;
  return doc;
}

function render(options: Plot.PlotOptions): string {
  const el = Plot.plot({ width: WIDTH, style: STYLE, ...options, document: document() });
  return el.outerHTML;
}

/** Distinct colours while they last, then a continuous ramp. */
const categorical = (n: number) => (n <= 10 ? 'tableau10' : 'turbo');

/** The span every time chart shares, so they line up. */
export function timeDomain(f: Figures): [Date, Date] | null {
  let lo = f.journal.firstAt ?? Number.POSITIVE_INFINITY;
  let hi = f.journal.lastAt ?? Number.NEGATIVE_INFINITY;
  for (const x of f.faults) {
    lo = Math.min(lo, x.start);
    hi = Math.max(hi, x.stop);
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  if (hi === lo) hi = lo + 1000;
  return [new Date(lo), new Date(hi)];
}

/** Fault intervals as shaded bands with a label, behind a time chart. */
function faultMarks(faults: readonly FaultInterval[]): Plot.Markish[] {
  if (faults.length === 0) return [];
  const rows = faults.map((x, i) => ({
    x1: new Date(x.start),
    x2: new Date(Math.max(x.stop, x.start + 1)),
    label: `${x.kind} ${x.target}`,
    row: i % 4,
  }));
  return [
    Plot.rect(rows, { x1: 'x1', x2: 'x2', fill: FAULT_FILL, fillOpacity: 0.12 }),
    // Labels staggered on four rows so that close faults stay readable.
    ...[0, 1, 2, 3].map((row) =>
      Plot.text(
        rows.filter((r) => r.row === row),
        {
          x: 'x1',
          text: 'label',
          frameAnchor: 'top',
          textAnchor: 'start',
          dx: 3,
          dy: 4 + row * 13,
          fill: '#a3262a',
          fontSize: 10,
        },
      ),
    ),
  ];
}

export function ordersChart(f: Figures): string | null {
  const rows = [
    ...f.orders.byFinal.map((r) => ({
      label: r.reason ? `${r.state} (${r.reason})` : r.state,
      state: r.state,
      count: r.count,
    })),
    ...f.orders.open.map((r) => ({
      label: `still ${r.state} (no final state)`,
      state: 'open',
      count: r.count,
    })),
  ];
  if (rows.length === 0) return null;
  return render({
    height: 40 + rows.length * 28,
    marginLeft: 260,
    marginRight: 60,
    x: { label: 'orders', grid: true },
    y: { label: null },
    color: {
      domain: ['fulfilled', 'cancelled', 'rejected', 'failed', 'open'],
      range: ['#59a14f', '#9c755f', '#f28e2b', '#e15759', '#b07aa1'],
    },
    marks: [
      Plot.barX(rows, { x: 'count', y: 'label', fill: 'state', sort: { y: '-x' } }),
      Plot.text(rows, {
        x: 'count',
        y: 'label',
        text: (d: { count: number }) => String(d.count),
        dx: 4,
        textAnchor: 'start',
      }),
      Plot.ruleX([0]),
    ],
  });
}

export function throughputChart(f: Figures): string | null {
  const { binMs, bins } = f.throughput;
  if (bins.length === 0) return null;
  const perS = 1000 / binMs;
  const series = [
    ['accepted', (b: (typeof bins)[number]) => b.accepted],
    ['confirmed', (b: (typeof bins)[number]) => b.confirmed],
    ['fulfilled', (b: (typeof bins)[number]) => b.fulfilled],
    ['rejected + failed', (b: (typeof bins)[number]) => b.rejected + b.failed],
    ['cancelled', (b: (typeof bins)[number]) => b.cancelled],
    ['tx aborts', (b: (typeof bins)[number]) => b.aborts],
  ] as const;
  const data = bins.flatMap((b) =>
    series.map(([name, get]) => ({ t: new Date(b.t + binMs / 2), series: name, rate: get(b) * perS })),
  );
  return render({
    height: 320,
    x: { type: 'utc', label: 'time (UTC)', domain: timeDomain(f) ?? undefined },
    y: { label: 'per second', grid: true, zero: true },
    color: { legend: true, domain: series.map((s) => s[0]) },
    marks: [
      ...faultMarks(f.faults),
      Plot.lineY(data, { x: 't', y: 'rate', stroke: 'series', strokeWidth: 1.5 }),
      Plot.ruleY([0]),
    ],
  });
}

export function latencyOverTimeChart(f: Figures): string | null {
  const { binMs, bins } = f.throughput;
  const series = [
    ['accepted→confirmed p50', 'confirmP50'],
    ['accepted→confirmed p99', 'confirmP99'],
    ['accepted→final p50', 'finalP50'],
    ['accepted→final p99', 'finalP99'],
  ] as const;
  const data = bins.flatMap((b) =>
    series.map(([name, key]) => ({ t: new Date(b.t + binMs / 2), series: name, ms: b[key] })),
  );
  if (!data.some((d) => d.ms !== null)) return null;
  return render({
    height: 320,
    x: { type: 'utc', label: 'time (UTC)', domain: timeDomain(f) ?? undefined },
    y: { type: 'log', label: 'latency (ms, log)', grid: true },
    color: {
      legend: true,
      domain: series.map((s) => s[0]),
      range: ['#4e79a7', '#1f3d66', '#f28e2b', '#a35a0b'],
    },
    marks: [
      ...faultMarks(f.faults),
      // NaN (no order in the bin) breaks the line rather than bridging the gap.
      Plot.lineY(data, {
        x: 't',
        y: (d: { ms: number | null }) => (d.ms === null ? Number.NaN : Math.max(d.ms, 0.5)),
        z: 'series',
        stroke: 'series',
        strokeWidth: 1.5,
      }),
      Plot.dot(
        data.filter((d) => d.ms !== null),
        { x: 't', y: (d: { ms: number }) => Math.max(d.ms, 0.5), fill: 'series', r: 1.5 },
      ),
    ],
  });
}

/** One histogram per phase, on a log axis, with p50 and p99 marked. */
export function latencyHistogram(phase: Figures['latency'][number]): string | null {
  const s = phase.summary;
  if (s.count === 0) return null;
  const bins = s.bins.map((b) => ({ ...b, lo: Math.max(b.lo, 0.5) }));
  const marks = [{ label: `p50 ${s.p50} ms`, v: Math.max(s.p50, 0.5) }];
  const p99 = [{ label: `p99 ${s.p99} ms`, v: Math.max(s.p99, 0.5) }];
  const labelStyle = {
    text: 'label',
    frameAnchor: 'top',
    fill: '#a3262a',
    stroke: 'white',
    strokeWidth: 3,
  } as const;
  return render({
    height: 220,
    x: { type: 'log', label: 'ms (log)' },
    y: { label: 'orders', grid: true },
    marks: [
      Plot.rectY(bins, { x1: 'lo', x2: 'hi', y: 'count', fill: '#4e79a7', insetLeft: 0.5, insetRight: 0.5 }),
      Plot.ruleX([...marks, ...p99], { x: 'v', stroke: '#e15759', strokeDasharray: '4,3' }),
      // p50 right of its rule on the first row, p99 left of its rule on the second: never overlapping.
      Plot.text(marks, { x: 'v', ...labelStyle, textAnchor: 'start', dx: 4 }),
      Plot.text(p99, { x: 'v', ...labelStyle, textAnchor: 'end', dx: -4, dy: 14 }),
      Plot.ruleY([0]),
    ],
  });
}

export function terminalsChart(f: Figures): string | null {
  const rows = f.terminals.rows;
  if (rows.length === 0) return null;
  const flagged = new Set(f.terminals.outliers.map((o) => `${o.terminal}/${o.metric}`));
  const data = rows.flatMap((r) =>
    (['abortRate', 'timeoutRate'] as const).map((metric) => ({
      terminal: r.terminal,
      metric: metric === 'abortRate' ? 'abort rate' : 'timeout rate',
      value: r[metric],
      status: flagged.has(`${r.terminal}/${metric}`) ? 'outlier' : 'normal',
    })),
  );
  return render({
    height: 60 + rows.length * 22,
    marginLeft: 90,
    x: { label: 'share of the terminal’s transactions', percent: true, grid: true },
    y: { label: null, domain: rows.map((r) => r.terminal) },
    fx: { label: null },
    color: { legend: true, domain: ['normal', 'outlier'], range: ['#4e79a7', '#e15759'] },
    marks: [Plot.barX(data, { x: 'value', y: 'terminal', fx: 'metric', fill: 'status' }), Plot.ruleX([0])],
  });
}

export const TOP_SKUS = 30;

export function salesChart(f: Figures): string | null {
  const rows = f.sales.filter((s) => s.units > 0).slice(0, TOP_SKUS);
  if (rows.length === 0) return null;
  return render({
    height: 40 + rows.length * 20,
    marginLeft: 120,
    marginRight: 60,
    x: { label: 'units sold (fulfilled orders)', grid: true },
    y: { label: null },
    marks: [
      Plot.barX(rows, { x: 'units', y: 'sku', fill: '#59a14f', sort: { y: '-x' } }),
      Plot.text(rows, {
        x: 'units',
        y: 'sku',
        text: (d: { units: number }) => String(d.units),
        dx: 4,
        textAnchor: 'start',
      }),
      Plot.ruleX([0]),
    ],
  });
}

export function stockChart(f: Figures): string | null {
  const { points, x } = f.stock;
  if (points.length === 0) return null;
  const time = x === 'time';
  const data = points.map((p) => ({ ...p, x: time ? new Date(p.x) : p.x }));
  const oversold = data.filter((p) => (p.minAvailable ?? 0) < 0);
  return render({
    height: 340,
    x: time
      ? { type: 'utc', label: 'time (UTC)', domain: timeDomain(f) ?? undefined }
      : { label: 'inventory seq (as observed)' },
    y: { label: 'available units (sum over SKUs)', grid: true },
    color: {
      legend: true,
      type: 'ordinal',
      scheme: categorical(new Set(points.map((p) => p.terminal)).size),
    },
    marks: [
      ...(time ? faultMarks(f.faults) : []),
      Plot.lineY(data, { x: 'x', y: 'available', stroke: 'terminal', curve: 'step-after', strokeWidth: 1.5 }),
      ...(oversold.length
        ? [
            Plot.dot(oversold, {
              x: 'x',
              y: 'available',
              r: 4,
              stroke: '#d00',
              strokeWidth: 2,
              symbol: 'times',
            }),
          ]
        : []),
    ],
  });
}

export function faultTimelineChart(f: Figures): string | null {
  if (f.faults.length === 0) return null;
  const data = f.faults.map((x) => ({
    target: x.target,
    kind: x.kind,
    x1: new Date(x.start),
    x2: new Date(Math.max(x.stop, x.start + 1)),
  }));
  const targets = [...new Set(data.map((d) => d.target))];
  return render({
    height: 60 + targets.length * 26,
    marginLeft: 130,
    x: { type: 'utc', label: 'time (UTC)', domain: timeDomain(f) ?? undefined, grid: true },
    y: { label: null, domain: targets },
    color: { legend: true, type: 'ordinal', scheme: 'tableau10' },
    marks: [Plot.barX(data, { x1: 'x1', x2: 'x2', y: 'target', fill: 'kind', insetTop: 3, insetBottom: 3 })],
  });
}
