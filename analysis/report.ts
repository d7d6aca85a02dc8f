/**
 * The report: one self-contained HTML file (inline CSS and SVG, no script, a Content-Security-Policy
 * that forbids every fetch) and figures.json with the data of every figure.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InvariantResult, Verdict } from './checker/verdict.ts';
import type { Figures, TracedOrder } from './figures.ts';
import {
  faultTimelineChart,
  latencyHistogram,
  latencyOverTimeChart,
  ordersChart,
  salesChart,
  stockChart,
  TOP_SKUS,
  terminalsChart,
  throughputChart,
} from './plots.ts';

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const num = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const iso = (t: number | null | undefined): string =>
  t === null || t === undefined ? '–' : new Date(t).toISOString().replace('T', ' ').replace('Z', ' UTC');

function chart(name: string, svg: string | null, empty: string): string {
  return svg
    ? `<div class="chart" data-figure="${esc(name)}">${svg}</div>`
    : `<p class="empty" data-empty-figure="${esc(name)}">${esc(empty)}</p>`;
}

function table(head: string[], rows: (string | number)[][], cls = ''): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="n"' : ''}>${typeof c === 'number' ? num(c, 3) : c}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

const MAX_VIOLATIONS_SHOWN = 50;
const MAX_EVIDENCE_CHARS = 4000;

function evidence(items: unknown[] | undefined): string {
  if (!items || items.length === 0) return '';
  const text = items
    .map((e) => {
      const s = JSON.stringify(e);
      return s.length > MAX_EVIDENCE_CHARS
        ? `${s.slice(0, MAX_EVIDENCE_CHARS)} … (cut; whole in figures.json)`
        : s;
    })
    .join('\n');
  return `<pre class="evidence">${esc(text)}</pre>`;
}

function invariantSection(r: InvariantResult): string {
  if (r.skipped !== undefined)
    return `<h3 class="warn">– ${esc(r.invariant)} <small>not checked: ${esc(r.skipped)}</small></h3>`;
  const head = `<h3 class="${r.ok ? 'ok' : 'bad'}">${r.ok ? '✔' : '✘'} ${esc(r.invariant)} <small>${num(r.checked)} checked, ${num(r.violations.length)} violation${r.violations.length === 1 ? '' : 's'}</small></h3>`;
  if (r.violations.length === 0) return head;
  const shown = r.violations.slice(0, MAX_VIOLATIONS_SHOWN).map((v) => {
    const ids = (['cid', 'orderId', 'terminal', 'sku', 'tx'] as const)
      .filter((k) => v[k] !== undefined)
      .map((k) => `<code>${k}=${esc(v[k])}</code>`)
      .join(' ');
    return `<li class="violation"><p>${esc(v.message)} ${ids}</p>${evidence(v.evidence)}</li>`;
  });
  const more =
    r.violations.length > MAX_VIOLATIONS_SHOWN
      ? `<p>… and ${num(r.violations.length - MAX_VIOLATIONS_SHOWN)} more (all in figures.json).</p>`
      : '';
  return `${head}<ol>${shown.join('\n')}</ol>${more}`;
}

function verdictSection(v: Verdict | null, source: string | null, checkerError: string | null): string {
  if (checkerError !== null)
    return `<section id="verdict"><h2>Invariants</h2><p class="bad" data-verdict="error">The invariant checker failed: ${esc(checkerError)}</p></section>`;
  if (!v)
    return `<section id="verdict"><h2>Invariants</h2><p class="warn" data-verdict="none">The invariants were not checked for this report: the checker needs a chaos-run history (--history), or give its verdict (--verdict).</p></section>`;
  const bad = v.results.filter((r) => !r.ok && r.skipped === undefined).length;
  return `<section id="verdict"><h2>Invariants</h2>
<p class="${v.ok ? 'ok' : 'bad'} big" data-verdict="${v.ok ? 'ok' : 'violated'}">${v.ok ? 'All invariants hold.' : `${bad} invariant${bad === 1 ? '' : 's'} violated.`}</p>
${source ? `<p class="muted">Verdict from ${esc(source)}.</p>` : ''}
${v.results.map(invariantSection).join('\n')}</section>`;
}

/** What the history saw terminals publish, and any oversold SKU in it. */
function observedTable(f: Figures): string {
  const obs = f.stock.observed;
  if (obs.length === 0) return '';
  const published = obs.reduce((s, o) => s + o.published, 0);
  const negative = obs.flatMap((o) => o.negative.map((n) => ({ terminal: o.terminal, ...n })));
  const head = `<p data-observed-negative="${negative.length}">The run observed ${num(published)} published inventories over ${obs.length} terminals; ${negative.length ? `<span class="bad">${num(negative.length)} oversold or negative SKU readings</span>:` : 'none had a negative available, on hand, reserved or committed.'}</p>`;
  if (negative.length === 0) return head;
  return (
    head +
    table(
      ['terminal', 'inventory seq', 'sku', 'on hand', 'reserved', 'committed', 'available'],
      negative.map((n) => [
        esc(n.terminal),
        n.seq,
        `<code>${esc(n.sku)}</code>`,
        n.onHand,
        n.reserved,
        n.committed,
        n.available,
      ]),
    )
  );
}

function detailsOf(rec: Record<string, unknown>): string {
  const { type: _t, at: _a, cid: _c, orderId: _o, ...rest } = rec;
  return esc(JSON.stringify(rest));
}

function traceTable(o: TracedOrder): string {
  const rows = o.trace.map(({ seq, rec }) => [
    num(seq),
    `+${num(rec.at - o.acceptedAt)}`,
    esc(rec.type),
    `<code>${detailsOf(rec as unknown as Record<string, unknown>)}</code>`,
  ]);
  return table(['seq', 'ms since accepted', 'record', 'details'], rows, 'trace');
}

function tracedOrders(list: TracedOrder[], withLatency: boolean): string {
  return list
    .map(
      (o) =>
        `<details class="order"><summary><code>${esc(o.cid)}/${esc(o.orderId)}</code> — ${esc(o.state)}${o.reason ? ` (${esc(o.reason)})` : ''}${withLatency && o.latencyMs !== undefined ? `, <b>${num(o.latencyMs)} ms</b> accepted→final` : `, accepted ${iso(o.acceptedAt)}`}, ${o.trace.length} records</summary>${traceTable(o)}</details>`,
    )
    .join('\n');
}

export function renderReport(f: Figures): string {
  const span =
    f.journal.firstAt !== null && f.journal.lastAt !== null ? f.journal.lastAt - f.journal.firstAt : 0;
  const finals = f.orders.byFinal.reduce((s, r) => s + r.count, 0);
  const open = f.orders.open.reduce((s, r) => s + r.count, 0);
  const byState = (state: string) =>
    f.orders.byFinal.filter((r) => r.state === state).reduce((s, r) => s + r.count, 0);
  const phase = (p: string) => f.latency.find((l) => l.phase === p)?.summary;
  const conf = phase('accepted→confirmed');

  const summary = table(
    ['', ''],
    [
      ['journal', `<code>${esc(f.inputs.journal)}</code>`],
      ['history', f.inputs.history ? `<code>${esc(f.inputs.history)}</code>` : '–'],
      ['records read', num(f.journal.records)],
      ['records skipped', f.journal.skipped ? `<span class="bad">${num(f.journal.skipped)}</span>` : '0'],
      ['time span', `${iso(f.journal.firstAt)} → ${iso(f.journal.lastAt)} (${num(span / 1000, 1)} s)`],
      ['orders accepted', num(f.orders.accepted)],
      [
        'final',
        `${num(finals)}: ${num(byState('fulfilled'))} fulfilled, ${num(byState('rejected'))} rejected, ${num(byState('failed'))} failed, ${num(byState('cancelled'))} cancelled`,
      ],
      ['never final', open ? `<span class="bad">${num(open)}</span>` : '0'],
      [
        'throughput',
        span > 0 ? `${num((f.orders.accepted * 1000) / span, 1)} orders/s accepted on average` : '–',
      ],
      [
        'accepted→confirmed',
        conf?.count ? `p50 ${num(conf.p50)} ms, p99 ${num(conf.p99)} ms, max ${num(conf.max)} ms` : '–',
      ],
      ['faults injected', f.history ? num(f.faults.length) : '– (no history)'],
      [
        'outlier terminals',
        f.terminals.outliers.length
          ? esc([...new Set(f.terminals.outliers.map((o) => o.terminal))].join(', '))
          : 'none',
      ],
      [
        'verdict',
        f.checkerError !== null
          ? '<span class="bad">the checker failed</span>'
          : f.verdict
            ? f.verdict.ok
              ? '<span class="ok">all invariants hold</span>'
              : '<span class="bad">violations</span>'
            : 'not checked (no history)',
      ],
    ],
    'summary',
  );

  const meta = f.history?.meta;
  const historyInfo = f.history
    ? `<p>History: ${num(f.history.lines)} lines${meta ? `; seed <code>${meta.seed}</code>, ${meta.terminals} terminals, ${meta.clients} clients, ${num(meta.durationMs / 1000, 1)} s, faults ${esc(meta.faults.join(', ') || 'none')}` : ''}; client ops: ${Object.entries(
        f.history.clientOps,
      )
        .map(([k, v]) => `${num(v)} ${k}`)
        .join(
          ', ',
        )}.${f.history.truncatedLine !== null ? ` <span class="warn">Line ${f.history.truncatedLine} was cut short (the run ended mid-write) and skipped.</span>` : ''}</p>`
    : '';

  const ordersTable = table(
    ['final state', 'reason', 'orders', 'share'],
    [
      ...f.orders.byFinal.map((r) => [
        esc(r.state),
        esc(r.reason ?? '–'),
        r.count,
        pct(f.orders.accepted ? r.count / f.orders.accepted : 0),
      ]),
      ...f.orders.open.map((r) => [
        `<span class="bad">still ${esc(r.state)}</span>`,
        'never final',
        r.count,
        pct(f.orders.accepted ? r.count / f.orders.accepted : 0),
      ]),
    ],
  );

  const latencyTable = table(
    ['phase', 'orders', 'mean', 'min', 'p50', 'p90', 'p99', 'p99.9', 'max'],
    f.latency.map((l) => [
      esc(l.phase),
      l.summary.count,
      l.summary.mean,
      l.summary.min,
      l.summary.p50,
      l.summary.p90,
      l.summary.p99,
      l.summary.p999,
      l.summary.max,
    ]),
  );
  const histograms = f.latency
    .map(
      (l) =>
        `<h3>${esc(l.phase)}</h3>${chart(`latency-${l.phase}`, latencyHistogram(l), 'No orders went through this phase.')}`,
    )
    .join('\n');

  const t = f.terminals;
  const terminalTable = table(
    [
      'terminal',
      'txs',
      'committed',
      'aborted',
      'timeouts*',
      'released',
      'undecided',
      'unacked',
      'picks',
      'success',
      'abort',
      'timeout',
      'z(abort)',
      'z(timeout)',
    ],
    t.rows.map((r) => [
      `${t.outliers.some((o) => o.terminal === r.terminal) ? '<span class="bad">⚑ ' : '<span>'}${esc(r.terminal)}</span>`,
      r.txs,
      r.committed,
      r.aborted,
      r.timeouts,
      r.released,
      r.undecided,
      r.unacknowledged,
      r.picks,
      pct(r.successRate),
      pct(r.abortRate),
      pct(r.timeoutRate),
      r.abortZ,
      r.timeoutZ,
    ]),
  );
  const outliers = t.outliers.length
    ? `<ul>${t.outliers
        .map(
          (o) =>
            `<li class="bad" data-outlier="${esc(o.terminal)}"><b>${esc(o.terminal)}</b>: ${o.metric === 'abortRate' ? 'abort' : 'timeout'} rate ${pct(o.value)} against a median of ${pct(o.median)} (robust z = ${o.z})</li>`,
        )
        .join('')}</ul>`
    : '<p>No terminal stands out.</p>';

  const salesTable = table(
    ['sku', 'units sold', 'orders', 'units cancelled after confirm'],
    f.sales.slice(0, 100).map((s) => [`<code>${esc(s.sku)}</code>`, s.units, s.orders, s.cancelledUnits]),
  );

  const faultTable = f.faults.length
    ? table(
        ['target', 'kind', 'params', 'start', 'stop', 'duration'],
        f.faults.map((x) => [
          `<code>${esc(x.target)}</code>`,
          esc(x.kind),
          x.params ? `<code>${esc(JSON.stringify(x.params))}</code>` : '',
          iso(x.start),
          x.open ? `${iso(x.stop)} <span class="warn">(never stopped)</span>` : iso(x.stop),
          `${num((x.stop - x.start) / 1000, 1)} s`,
        ]),
      )
    : '';

  const quality = [
    f.journal.skipped
      ? `<p class="bad" data-skipped="${f.journal.skipped}">${num(f.journal.skipped)} journal records skipped: ${Object.entries(
          f.journal.skippedByReason,
        )
          .map(([k, v]) => `${num(v)} ${esc(k)}`)
          .join(
            '; ',
          )}. First: ${f.journal.skippedSamples.map((s) => `seq ${s.seq} (${esc(s.reason)})`).join(', ')}.</p>`
      : '<p>Every journal record was read.</p>',
    f.anomalies.length
      ? table(
          ['journal anomaly', 'count', 'examples (seq: detail)'],
          f.anomalies.map((a) => [
            esc(a.kind),
            a.count,
            a.samples.map((s) => `${s.seq}: ${esc(s.detail)}`).join('<br>'),
          ]),
        )
      : '<p>No anomalies in the journal’s record sequences.</p>',
  ].join('\n');

  const stockSource = {
    'history-observed': "the history's observed inventories",
    'journal-with-initial': 'the journal, from the initial stock in the history',
    'journal-relative': 'the journal, relative to its start',
  }[f.stock.source];

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stockgate analysis — ${esc(iso(f.journal.firstAt))}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fafafa; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 16px 20px 60px; background: white; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; } h3 small { font-weight: normal; color: #666; }
nav { font-size: 13px; margin: 8px 0 16px; } nav a { margin-right: 12px; color: #3465a4; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; } td, th { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th { display: none; } table.summary td:first-child { color: #555; white-space: nowrap; }
table.trace code { font-size: 12px; word-break: break-all; }
.chart { margin: 10px 0 18px; } .chart svg { max-width: 100%; height: auto; }
.ok { color: #2e7d32; } .bad { color: #c62828; } .warn { color: #a15c00; } .muted, .empty { color: #777; }
.big { font-size: 18px; font-weight: 600; }
pre.evidence { background: #f6f6f6; padding: 6px 8px; font-size: 12px; overflow-x: auto; max-height: 240px; }
details.order { margin: 6px 0; } details.order summary { cursor: pointer; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12.5px; }
</style>
</head>
<body>
<main>
<h1>stockgate analysis report</h1>
<p class="muted">Generated ${esc(f.generatedAt)}. Data of every figure: <a href="figures.json">figures.json</a>.</p>
<nav><a href="#summary">Summary</a><a href="#verdict">Invariants</a><a href="#orders">Orders</a><a href="#throughput">Throughput</a><a href="#latency">Latency</a><a href="#terminals">Terminals</a><a href="#sales">Sales</a><a href="#stock">Stock</a><a href="#faults">Faults</a><a href="#slowest">Slowest orders</a><a href="#quality">Data quality</a></nav>

<section id="summary"><h2>Summary</h2>${summary}${historyInfo}</section>

${verdictSection(f.verdict, f.inputs.verdict, f.checkerError)}

<section id="orders"><h2>Orders by final state and reason</h2>
${chart('orders', ordersChart(f), 'No orders in the journal.')}
${ordersTable}</section>

<section id="throughput"><h2>Throughput</h2>
<p class="muted">Per ${num(f.throughput.binMs / 1000, 1)} s bin${f.faults.length ? '; shaded: faults in force (from the history)' : ''}.</p>
${chart('throughput', throughputChart(f), 'No orders in the journal.')}</section>

<section id="latency"><h2>Latency</h2>
<h3>Over time</h3>
<p class="muted">Per bin, from log-spaced histograms (±12%)${f.faults.length ? '; shaded: faults in force' : ''}.</p>
${chart('latency-over-time', latencyOverTimeChart(f), 'No order was confirmed or ended.')}
<h3>Distributions (ms)</h3>
${latencyTable}
${histograms}</section>

<section id="terminals"><h2>Terminals</h2>
<p class="muted">From the journal's transactions: a terminal counts every transaction whose allocation included it. *A timeout is inferred: an abort decided ${num(t.timeoutThresholdMs)} ms or more after the prepare was sent (the coordinator waits out its command timeout before aborting); every participant of such a transaction is counted. A terminal stands out when its robust z-score (median and MAD over terminals with at least 5 transactions) is ${t.zThreshold} or more.</p>
${outliers}
${chart('terminals', terminalsChart(f), 'No transactions in the journal.')}
${terminalTable}</section>

<section id="sales"><h2>Sales per SKU</h2>
<p class="muted">Units of fulfilled orders; the ${TOP_SKUS} best sellers charted, ${f.sales.length > 100 ? 'the first 100 in the table, all in figures.json' : 'all in the table'}.</p>
${chart('sales', salesChart(f), 'No order was fulfilled.')}
<details><summary>Table</summary>${salesTable}</details></section>

<section id="stock"><h2>Stock levels per terminal</h2>
<p class="muted">Source: ${esc(stockSource)}. ${f.stock.notes.map(esc).join(' ')}</p>
${chart('stock', stockChart(f), 'No stock movement known.')}
${observedTable(f)}</section>

<section id="faults"><h2>Fault timeline</h2>
${f.history ? chart('faults', faultTimelineChart(f), 'The history has no nemesis operations.') : '<p class="empty">No history given: the journal does not record faults.</p>'}
${faultTable}</section>

<section id="slowest"><h2>Slowest orders</h2>
<p class="muted">Accepted→final, with every journal record of the order in append order.</p>
${f.slowest.length ? tracedOrders(f.slowest, true) : '<p class="empty">No order ended.</p>'}
<h3>Orders that never reached a final state: ${num(f.unfinished.count)}</h3>
${f.unfinished.oldest.length ? `<p class="muted">The oldest ${f.unfinished.oldest.length}:</p>${tracedOrders(f.unfinished.oldest, false)}` : ''}</section>

<section id="quality"><h2>Data quality</h2>
${quality}</section>
</main>
</body>
</html>
`;
}

export interface ReportFiles {
  html: string;
  json: string;
}

/** The report's two files, rendered once (they may be written to several places). */
export function renderFiles(f: Figures): ReportFiles {
  return { html: renderReport(f), json: `${JSON.stringify(f, null, 1)}\n` };
}

/** Writes index.html and figures.json into `dir` (created); returns the HTML file's path. */
export function writeReport(files: ReportFiles, dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'figures.json'), files.json);
  const html = join(dir, 'index.html');
  writeFileSync(html, files.html);
  return html;
}

/** `<data>/reports/<timestamp>` for a run at `now`: sortable, safe in file names. */
export function timestampDir(reportsDir: string, now = new Date()): string {
  return join(
    reportsDir,
    now
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replace(/:/g, '-'),
  );
}

/** Replaces `<reports>/latest` with the report, written aside then swapped in by rename. */
export function publishLatest(files: ReportFiles, reportsDir: string): string {
  const latest = join(reportsDir, 'latest');
  const tmp = join(reportsDir, `.latest-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  writeReport(files, tmp);
  rmSync(latest, { recursive: true, force: true });
  renameSync(tmp, latest);
  return join(latest, 'index.html');
}
