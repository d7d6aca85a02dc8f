/**
 * The source of flows/flows.json: stockgate's Node-RED flows (Dashboard 2.0), written as code so that
 * ids, wires, groups and layout stay consistent and function nodes stay reviewable.
 *
 *   npx tsx flows/build.ts          writes flows/flows.json (test/flows checks it is up to date)
 *
 * Four tabs, one per dashboard page, each in named groups with a comment saying what it does:
 *   Overview   stats/summary -> counts by state, orders/s by outcome, latency percentiles over
 *              time, orders in flight, terminals online, faults in force, the analysis report
 *   Terminals  stats/terminals/+ -> one tile per terminal (online, breaker, faults, stock bars per
 *              SKU, low stock) with fault buttons (freeze, crash, slow, heal)
 *   Orders     stats/orders -> recent orders and their states; stats/skus -> sales and stock per SKU
 *   Faults     a control per fault kind and target, the faults in force, "heal all", the gateway's
 *              refusals (faults/errors); every command goes out on stockgate/faults/<target>
 *
 * Node-RED connects as the operator (settings.cjs writes the credentials), who may read
 * stockgate/stats/#, faults/active and faults/errors and publish fault commands, nothing else.
 * The base topic is `stockgate` throughout.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Node = Record<string, unknown> & { id: string; type: string };

export const BASE = 'stockgate';
export const BROKER_ID = 'sg-broker';

// ---- layout: nodes placed on a grid inside named editor groups

const COL = 330;
const ROW = 60;
const X0 = 210;

interface Box {
  id: string;
  name: string;
  info: string;
  /** Rows of nodes, left to right; null leaves a column empty. */
  rows: (Node | null)[][];
}

function tab(id: string, label: string, info: string, boxes: Box[]): Node[] {
  const out: Node[] = [{ id, type: 'tab', label, disabled: false, info }];
  let top = 40;
  for (const box of boxes) {
    const comment: Node = {
      id: `${box.id}-note`,
      type: 'comment',
      name: box.name,
      info: box.info,
    };
    const rows = [[comment], ...box.rows];
    const members: string[] = [];
    let maxCol = 0;
    rows.forEach((row, r) => {
      row.forEach((node, c) => {
        if (!node) return;
        node.z = id;
        node.g = box.id;
        node.x = X0 + c * COL;
        node.y = top + 40 + r * ROW;
        maxCol = Math.max(maxCol, c);
        members.push(node.id);
        out.push(node);
      });
    });
    const height = 40 + rows.length * ROW;
    out.push({
      id: box.id,
      type: 'group',
      z: id,
      name: box.name,
      style: { label: true, 'label-position': 'nw' },
      nodes: members,
      x: X0 - 190,
      y: top,
      w: (maxCol + 1) * COL + 50,
      h: height,
    });
    top += height + 40;
  }
  return out;
}

// ---- core nodes

function mqttIn(id: string, name: string, topic: string): Node {
  return {
    id,
    type: 'mqtt in',
    name,
    topic,
    qos: '0',
    datatype: 'json',
    broker: BROKER_ID,
    nl: false,
    rap: true,
    rh: 0,
    inputs: 0,
    wires: [[]],
  };
}

function mqttOut(id: string, name: string): Node {
  return {
    id,
    type: 'mqtt out',
    name,
    topic: '',
    qos: '1',
    retain: 'false',
    respTopic: '',
    contentType: '',
    userProps: '',
    correl: '',
    expiry: '',
    broker: BROKER_ID,
    wires: [],
  };
}

function fn(id: string, name: string, code: string, outputLabels: string[] = ['']): Node {
  return {
    id,
    type: 'function',
    name,
    func: code.trim(),
    outputs: outputLabels.length,
    outputLabels,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    wires: outputLabels.map(() => []),
  };
}

function setPayload(id: string, name: string, to: string, tot: 'msg' | 'jsonata' = 'msg'): Node {
  return {
    id,
    type: 'change',
    name,
    rules: [{ t: 'set', p: 'payload', pt: 'msg', to, tot }],
    action: '',
    property: '',
    from: '',
    to: '',
    reg: false,
    wires: [[]],
  };
}

function linkOut(id: string, name: string, to: string[]): Node {
  return { id, type: 'link out', name, mode: 'link', links: to, wires: [] };
}

function linkIn(id: string, name: string, from: string[]): Node {
  return { id, type: 'link in', name, links: from, wires: [[]] };
}

function injectOnce(id: string, name: string): Node {
  return {
    id,
    type: 'inject',
    name,
    props: [{ p: 'payload' }],
    repeat: '',
    crontab: '',
    once: true,
    onceDelay: 0.1,
    topic: '',
    payload: '',
    payloadType: 'date',
    wires: [[]],
  };
}

/** Wires `from`'s output `port` to each of `to`. */
function wire(from: Node, to: Node[], port = 0): void {
  const wires = from.wires as string[][];
  while (wires.length <= port) wires.push([]);
  for (const t of to) wires[port]!.push(t.id);
}

// ---- Dashboard 2.0 nodes

const UI_BASE = 'sg-ui-base';
const UI_THEME = 'sg-ui-theme';

function uiConfig(): Node[] {
  return [
    {
      id: UI_BASE,
      type: 'ui-base',
      name: 'stockgate',
      path: '/dashboard',
      appIcon: '',
      includeClientData: true,
      acceptsClientConfig: ['ui-notification', 'ui-control'],
      showPathInSidebar: false,
      headerContent: 'page',
      navigationStyle: 'default',
      titleBarStyle: 'default',
      showReconnectNotification: true,
      notificationDisplayTime: 1,
      showDisconnectNotification: true,
      allowInstall: false,
    },
    {
      id: UI_THEME,
      type: 'ui-theme',
      name: 'stockgate',
      colors: {
        surface: '#1f3a5f',
        primary: '#1f6feb',
        bgPage: '#f4f6f8',
        groupBg: '#ffffff',
        groupOutline: '#d0d7de',
      },
      sizes: {
        density: 'compact',
        pagePadding: '12px',
        groupGap: '12px',
        groupBorderRadius: '6px',
        widgetGap: '8px',
      },
    },
  ];
}

function uiPage(id: string, name: string, path: string, icon: string, order: number): Node {
  return {
    id,
    type: 'ui-page',
    name,
    ui: UI_BASE,
    path,
    icon,
    layout: 'grid',
    theme: UI_THEME,
    breakpoints: [
      { name: 'Default', px: '0', cols: '3' },
      { name: 'Tablet', px: '576', cols: '6' },
      { name: 'Small Desktop', px: '768', cols: '9' },
      { name: 'Desktop', px: '1024', cols: '12' },
    ],
    order,
    className: '',
    visible: 'true',
    disabled: 'false',
  };
}

function uiGroup(id: string, name: string, page: string, width: number, order: number): Node {
  return {
    id,
    type: 'ui-group',
    name,
    page,
    width: String(width),
    height: '1',
    order,
    showTitle: true,
    className: '',
    visible: 'true',
    disabled: 'false',
    groupType: 'default',
  };
}

function uiText(
  id: string,
  group: string,
  order: number,
  label: string,
  value: string,
  valueType: 'msg' | 'jsonata' = 'msg',
  className = '',
): Node {
  return {
    id,
    type: 'ui-text',
    group,
    order,
    width: 0,
    height: 0,
    name: label,
    label,
    format: '{{msg.payload}}',
    layout: 'row-spread',
    style: false,
    font: '',
    fontSize: 16,
    color: '#717171',
    wrapText: false,
    className: className || id,
    value,
    valueType,
    wires: [],
  };
}

function uiChart(
  id: string,
  group: string,
  order: number,
  name: string,
  label: string,
  series: string[],
  yAxisLabel: string,
): Node {
  return {
    id,
    type: 'ui-chart',
    group,
    name,
    label,
    order,
    chartType: 'line',
    category: JSON.stringify(series),
    categoryType: 'json',
    xAxisLabel: '',
    xAxisProperty: '',
    xAxisPropertyType: 'timestamp',
    xAxisType: 'time',
    xAxisFormat: '',
    xAxisFormatType: 'auto',
    xmin: '',
    xmax: '',
    yAxisLabel,
    yAxisProperty: 'payload',
    yAxisPropertyType: 'msg',
    ymin: '0',
    ymax: '',
    bins: 10,
    action: 'append',
    stackSeries: false,
    pointShape: 'false',
    pointRadius: 4,
    showLegend: true,
    removeOlder: 10,
    removeOlderUnit: '60',
    removeOlderPoints: '600',
    colors: [
      '#0095ff',
      '#2ca02c',
      '#ff7f0e',
      '#d62728',
      '#a347e1',
      '#8c564b',
      '#ff9896',
      '#9467bd',
      '#c5b0d5',
    ],
    textColor: ['#666666'],
    textColorDefault: true,
    gridColor: ['#e5e5e5'],
    gridColorDefault: true,
    width: 6,
    height: 5,
    className: id,
    interpolation: 'linear',
    wires: [[]],
  };
}

function uiTable(id: string, group: string, order: number, label: string): Node {
  return {
    id,
    type: 'ui-table',
    group,
    name: label,
    label,
    order,
    width: 0,
    height: 0,
    maxrows: 0,
    passthru: false,
    autocols: true,
    showSearch: true,
    deselect: true,
    selectionType: 'none',
    columns: [],
    mobileBreakpoint: 'sm',
    mobileBreakpointType: 'defaults',
    action: 'replace',
    className: id,
    wires: [[]],
  };
}

function uiButton(
  id: string,
  group: string,
  order: number,
  label: string,
  topic: string,
  payload: string,
): Node {
  return {
    id,
    type: 'ui-button',
    group,
    name: label,
    label,
    order,
    width: 0,
    height: 0,
    emulateClick: false,
    tooltip: '',
    color: '',
    bgcolor: '',
    className: id,
    icon: '',
    iconPosition: 'left',
    payload,
    payloadType: 'str',
    topic,
    topicType: 'str',
    buttonColor: '',
    textColor: '',
    iconColor: '',
    enableClick: true,
    enablePointerdown: false,
    pointerdownPayload: '',
    pointerdownPayloadType: 'str',
    enablePointerup: false,
    pointerupPayload: '',
    pointerupPayloadType: 'str',
    wires: [[]],
  };
}

function uiDropdown(id: string, group: string, order: number, label: string, topic: string): Node {
  return {
    id,
    type: 'ui-dropdown',
    group,
    name: label,
    label,
    tooltip: '',
    order,
    width: 0,
    height: 0,
    passthru: false,
    multiple: false,
    chips: false,
    clearable: false,
    options: [],
    payload: '',
    topic,
    topicType: 'str',
    className: id,
    typeIsComboBox: false,
    msgTrigger: 'onChange',
    wires: [[]],
  };
}

function uiNumber(
  id: string,
  group: string,
  order: number,
  label: string,
  topic: string,
  min: number,
  max: number,
  step: number,
): Node {
  return {
    id,
    type: 'ui-number-input',
    group,
    name: label,
    label,
    order,
    width: 0,
    height: 0,
    topic,
    topicType: 'str',
    min,
    max,
    step,
    tooltip: '',
    delay: 300,
    passthru: false,
    sendOnDelay: false,
    sendOnBlur: true,
    sendOnEnter: true,
    className: id,
    clearable: false,
    icon: '',
    iconPosition: 'left',
    iconInnerPosition: 'inside',
    spinner: 'default',
    wires: [[]],
  };
}

function uiTemplate(id: string, group: string, order: number, name: string, format: string, width = 0): Node {
  return {
    id,
    type: 'ui-template',
    group,
    page: '',
    ui: '',
    name,
    order,
    width,
    height: 0,
    head: '',
    format: format.trim(),
    storeOutMessages: true,
    passthru: false,
    resendOnRefresh: true,
    templateScope: 'local',
    className: id,
    wires: [[]],
  };
}

// ---- the broker connection

/** A node property Node-RED takes from the environment (settings.cjs sets these). */
function envRef(name: string): string {
  return '$' + '{' + name + '}';
}

function broker(): Node {
  return {
    id: BROKER_ID,
    type: 'mqtt-broker',
    name: 'stockgate gateway (as the operator)',
    broker: envRef('STOCKGATE_MQTT_HOST'),
    port: envRef('STOCKGATE_MQTT_PORT'),
    clientid: envRef('STOCKGATE_NODE_RED_CLIENT_ID'),
    autoConnect: true,
    usetls: false,
    protocolVersion: '4',
    keepalive: '30',
    cleansession: true,
    autoUnsubscribe: true,
    birthTopic: '',
    birthQos: '0',
    birthRetain: 'false',
    birthPayload: '',
    birthMsg: {},
    closeTopic: '',
    closeQos: '0',
    closeRetain: 'false',
    closePayload: '',
    closeMsg: {},
    willTopic: '',
    willQos: '0',
    willRetain: 'false',
    willPayload: '',
    willMsg: {},
    userProps: '',
    sessionExpiry: '',
  };
}

// ---- Overview

const ORDER_STATES = ['accepted', 'confirmed', 'fulfilled', 'rejected', 'failed', 'cancelled'] as const;

function overview(): Node[] {
  const page = 'sg-page-overview';
  const gCounts = 'sg-grp-counts';
  const gRates = 'sg-grp-rates';
  const gLatency = 'sg-grp-latency';
  const gSystem = 'sg-grp-system';
  const summary = mqttIn('ov-in-summary', 'stats summary', `${BASE}/stats/summary`);
  const counts = ORDER_STATES.map((s, i) =>
    uiText(`ov-count-${s}`, gCounts, i + 1, s[0]!.toUpperCase() + s.slice(1), `payload.orders.${s}`),
  );
  const inFlight = uiText('ov-in-flight', gSystem, 1, 'Orders in flight', 'payload.inFlight');
  const online = uiText(
    'ov-terminals-online',
    gSystem,
    2,
    'Terminals online',
    '$string(payload.terminalsOnline) & " / " & $string(payload.terminalsKnown)',
    'jsonata',
  );
  const faults = uiText('ov-faults-active', gSystem, 3, 'Faults in force', 'payload.faultsActive');
  const report = uiTemplate(
    'ov-report-link',
    gSystem,
    4,
    'link to the analysis report',
    `
<template>
  <div class="sg-report">
    <a href="/reports/latest/index.html" target="_blank" rel="noopener">Latest analysis report</a>
    <span class="sg-report-note">(replay and invariant check of the journal; opens in a new tab)</span>
  </div>
</template>
<style scoped>
.sg-report { padding: 4px 0; }
.sg-report-note { color: #6e7781; font-size: 0.85em; margin-left: 6px; }
</style>`,
  );
  const rates = setPayload('ov-rates', 'rates (10 s window)', 'payload.rates');
  const ratesChart = uiChart(
    'ov-chart-rates',
    gRates,
    1,
    'orders/s chart',
    'Orders/s by outcome',
    [...ORDER_STATES],
    'orders/s',
  );
  const confirm = setPayload(
    'ov-confirm-latency',
    'confirm latency',
    'payload.latencyMs.acceptedToConfirmed',
  );
  const confirmChart = uiChart(
    'ov-chart-confirm-latency',
    gLatency,
    1,
    'confirm latency chart',
    'accepted -> confirmed (ms, last 10 s)',
    ['p50', 'p90', 'p99'],
    'ms',
  );
  const fulfil = setPayload(
    'ov-fulfil-latency',
    'fulfil and command latency',
    '{"fulfil p50": payload.latencyMs.confirmedToFulfilled.p50, "fulfil p99": payload.latencyMs.confirmedToFulfilled.p99, "command p50": payload.latencyMs.commandRtt.p50, "command p99": payload.latencyMs.commandRtt.p99}',
    'jsonata',
  );
  const fulfilChart = uiChart(
    'ov-chart-fulfil-latency',
    gLatency,
    2,
    'fulfil latency chart',
    'confirmed -> fulfilled, command round trip (ms, last 10 s)',
    ['fulfil p50', 'fulfil p99', 'command p50', 'command p99'],
    'ms',
  );
  wire(summary, [...counts, inFlight, online, faults, rates, confirm, fulfil]);
  wire(rates, [ratesChart]);
  wire(confirm, [confirmChart]);
  wire(fulfil, [fulfilChart]);

  return [
    uiPage(page, 'Overview', '/overview', 'chart-line', 1),
    uiGroup(gCounts, 'Orders by state', page, 3, 1),
    uiGroup(gSystem, 'System', page, 3, 2),
    uiGroup(gRates, 'Orders/s by outcome', page, 6, 3),
    uiGroup(gLatency, 'Latency percentiles', page, 12, 4),
    ...tab(
      'sg-tab-overview',
      'Overview',
      'The Overview page: everything comes from the retained `stockgate/stats/summary`, published by the gateway about once a second.',
      [
        {
          id: 'sg-box-counts',
          name: 'Counts and system',
          info: 'Counts by order state (since the gateway started), orders in flight (accepted, not final), terminals online and faults in force. Each text widget reads one field of the summary.',
          rows: [
            [summary, counts[0]!, counts[1]!, counts[2]!],
            [null, counts[3]!, counts[4]!, counts[5]!],
            [null, inFlight, online, faults],
            [null, report],
          ],
        },
        {
          id: 'sg-box-charts',
          name: 'Rates and latency over time',
          info: 'Each chart takes one object per second and draws one series per key (`categoryType: json`). Rates are orders/s entering each state over the last 10 s; latencies are HDR-histogram percentiles over the last 10 s.',
          rows: [
            [null, rates, ratesChart],
            [null, confirm, confirmChart],
            [null, fulfil, fulfilChart],
          ],
        },
      ],
    ),
  ];
}

// ---- Terminals

const TILES = `
<template>
  <div class="sg-tiles">
    <div v-if="!tiles.length" class="sg-empty">No terminal has reported yet.</div>
    <div v-for="t in tiles" :key="t.tid" class="sg-tile" :class="{ 'sg-offline': !t.online }" :data-terminal="t.tid">
      <div class="sg-head">
        <span class="sg-tid">{{ t.tid }}</span>
        <span class="sg-chip sg-online" :class="t.online ? 'sg-good' : 'sg-bad'">{{ t.online ? 'online' : 'offline' }}</span>
        <span class="sg-chip sg-breaker" :class="t.breaker === 'closed' ? 'sg-good' : (t.breaker === 'open' ? 'sg-bad' : 'sg-warn')">breaker {{ t.breaker }}</span>
      </div>
      <div class="sg-faults">
        <span v-if="!t.faults.length" class="sg-nofault">no faults</span>
        <span v-for="f in t.faults" :key="f" class="sg-chip sg-fault sg-bad" :data-fault="f">{{ f }}</span>
      </div>
      <div class="sg-health">prepares ok {{ t.prepareOk }}, failed {{ t.prepareFail }}, timeouts {{ t.timeouts }}, round trip p99 {{ t.rttP99 }} ms</div>
      <div v-for="s in t.stock" :key="s.sku" class="sg-stock" :class="{ 'sg-low': s.low }" :data-sku="s.sku">
        <span class="sg-sku">{{ s.sku }}</span>
        <span class="sg-bar"><span class="sg-fill" :style="{ width: s.pct + '%' }"></span></span>
        <span class="sg-qty">{{ s.available }} / {{ s.onHand }}<b v-if="s.low"> low</b></span>
      </div>
      <div class="sg-actions">
        <v-btn size="small" variant="tonal" class="sg-act-freeze" @click="fault(t.tid, 'freeze')">freeze</v-btn>
        <v-btn size="small" variant="tonal" class="sg-act-slow" @click="fault(t.tid, 'slow', { ms: 500 })">slow</v-btn>
        <v-btn size="small" variant="tonal" class="sg-act-crash" @click="fault(t.tid, 'crash')">crash</v-btn>
        <v-btn size="small" variant="tonal" class="sg-act-heal" @click="fault(t.tid, 'heal')">heal</v-btn>
      </div>
    </div>
  </div>
</template>

<script>
export default {
  computed: {
    // msg.payload: one entry per terminal, sorted (from "collect terminal stats").
    tiles () {
      return Array.isArray(this.msg && this.msg.payload) ? this.msg.payload : []
    }
  },
  methods: {
    // A fault request for this terminal; "check and send fault command" (Faults tab) sends it.
    fault (tid, kind, params) {
      this.send({ topic: 'terminals/' + tid, payload: Object.assign({ kind: kind }, params || {}) })
    }
  }
}
</script>

<style scoped>
.sg-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 10px; width: 100%; }
.sg-tile { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; background: #fff; }
.sg-offline { background: #fff5f5; }
.sg-head { display: flex; align-items: center; gap: 6px; margin-bottom: 4px; }
.sg-tid { font-weight: 600; font-size: 1.1em; margin-right: auto; }
.sg-chip { border-radius: 10px; padding: 1px 8px; font-size: 0.8em; color: #fff; }
.sg-good { background: #1a7f37; }
.sg-bad { background: #cf222e; }
.sg-warn { background: #bf8700; }
.sg-faults { min-height: 22px; display: flex; gap: 4px; flex-wrap: wrap; }
.sg-nofault { color: #6e7781; font-size: 0.85em; }
.sg-health { color: #57606a; font-size: 0.8em; margin: 2px 0 6px; }
.sg-stock { display: grid; grid-template-columns: 90px 1fr 80px; align-items: center; gap: 6px; font-size: 0.8em; }
.sg-bar { height: 8px; background: #eaeef2; border-radius: 4px; overflow: hidden; }
.sg-fill { display: block; height: 100%; background: #1f6feb; }
.sg-low .sg-fill { background: #cf222e; }
.sg-low .sg-qty { color: #cf222e; }
.sg-qty { text-align: right; }
.sg-actions { display: flex; gap: 4px; margin-top: 6px; }
</style>`;

const COLLECT_TERMINALS = `
// stats/terminals/<tid> (retained, ~1 Hz): keeps the latest stats of every terminal and sends
//   output 1: one tile per terminal, sorted by id, to the tiles template;
//   output 2: the terminal ids, when they change, to the fault panel's terminal pickers.
const tid = String(msg.topic).split('/').pop();
const s = msg.payload;
if (!s || typeof s !== 'object' || typeof s.online !== 'boolean' || typeof s.stock !== 'object') {
    node.warn('stats for ' + tid + ': unexpected payload');
    return null;
}
const all = flow.get('terminals') || {};
all[tid] = s;
flow.set('terminals', all);
const ids = Object.keys(all).sort();
const tiles = ids.map(function (id) {
    const t = all[id];
    const low = t.low || [];
    const stock = Object.keys(t.stock || {}).sort().map(function (sku) {
        const item = t.stock[sku];
        const available = item.onHand - item.reserved - item.committed;
        return {
            sku: sku,
            onHand: item.onHand,
            available: available,
            pct: Math.round(100 * Math.max(0, available) / Math.max(1, item.onHand)),
            low: low.indexOf(sku) >= 0
        };
    });
    return {
        tid: id,
        online: t.online,
        breaker: t.breaker,
        faults: t.faults || [],
        prepareOk: t.prepareOk,
        prepareFail: t.prepareFail,
        timeouts: t.timeouts,
        rttP99: t.rttMs ? t.rttMs.p99 : 0,
        stock: stock,
        lowCount: low.length
    };
});
const known = ids.join(',');
let pickers = null;
if (flow.get('knownIds') !== known) {
    flow.set('knownIds', known);
    pickers = { payload: ids };
}
return [{ payload: tiles }, pickers];
`;

function terminals(): Node[] {
  const page = 'sg-page-terminals';
  const gTiles = 'sg-grp-tiles';
  const input = mqttIn('tm-in-terminals', 'stats per terminal', `${BASE}/stats/terminals/+`);
  const collect = fn('tm-collect', 'collect terminal stats', COLLECT_TERMINALS, ['tiles', 'terminal ids']);
  const tiles = uiTemplate('tm-tiles', gTiles, 1, 'terminal tiles', TILES, 12);
  const toPickers = linkOut('tm-to-pickers', 'terminal ids -> fault panel', ['ft-from-terminals']);
  const toFaults = linkOut('tm-tile-faults', 'tile fault requests -> fault panel', ['ft-requests']);
  wire(input, [collect]);
  wire(collect, [tiles], 0);
  wire(collect, [toPickers], 1);
  wire(tiles, [toFaults]);
  return [
    uiPage(page, 'Terminals', '/terminals', 'server', 2),
    uiGroup(gTiles, 'Terminals: health, stock, faults', page, 12, 1),
    ...tab(
      'sg-tab-terminals',
      'Terminals',
      'The Terminals page: one tile per terminal from the retained `stockgate/stats/terminals/<tid>`.',
      [
        {
          id: 'sg-box-tiles',
          name: 'One tile per terminal',
          info: 'Online, breaker state, faults in force, prepare counts and round trip, a stock bar per SKU (available / on hand, red when low). The buttons on a tile send a fault request for that terminal to the Faults tab, which checks and sends it.',
          rows: [
            [input, collect, tiles, toFaults],
            [null, null, toPickers],
          ],
        },
      ],
    ),
  ];
}

// ---- Orders

const RECENT_ROWS = `
// stats/orders: the orders that changed last (newest first) -> one table row each.
const recent = msg.payload && msg.payload.recent;
if (!Array.isArray(recent)) {
    node.warn('stats/orders: unexpected payload');
    return null;
}
msg.payload = recent.map(function (o) {
    return {
        order: o.orderId,
        client: o.cid,
        state: o.state,
        reason: o.reason || '',
        units: o.units === undefined ? '' : o.units,
        terminals: (o.terminals || []).join(' '),
        updated: new Date(o.at).toISOString().slice(11, 23),
        'since accepted (ms)': o.at - o.acceptedAt
    };
});
return msg;
`;

const SKU_ROWS = `
// stats/skus: sales and stock per SKU over every terminal -> one table row per SKU.
const skus = msg.payload && msg.payload.skus;
if (!skus || typeof skus !== 'object') {
    node.warn('stats/skus: unexpected payload');
    return null;
}
msg.payload = Object.keys(skus).sort().map(function (sku) {
    const s = skus[sku];
    return {
        sku: sku,
        sold: s.sold,
        returned: s.returned,
        fulfilled: s.fulfilled,
        'on hand': s.onHand,
        reserved: s.reserved,
        committed: s.committed,
        available: s.available,
        terminals: s.terminals,
        stock: s.low ? 'LOW' : 'ok'
    };
});
return msg;
`;

function orders(): Node[] {
  const page = 'sg-page-orders';
  const gRecent = 'sg-grp-recent';
  const gSkus = 'sg-grp-skus';
  const inOrders = mqttIn('or-in-orders', 'recent orders', `${BASE}/stats/orders`);
  const rows = fn('or-recent-rows', 'recent orders -> rows', RECENT_ROWS);
  const table = uiTable('or-table-recent', gRecent, 1, 'Recent orders');
  const inSkus = mqttIn('or-in-skus', 'sales and stock per SKU', `${BASE}/stats/skus`);
  const skuRows = fn('or-sku-rows', 'SKUs -> rows', SKU_ROWS);
  const skuTable = uiTable('or-table-skus', gSkus, 1, 'Sales and stock per SKU');
  wire(inOrders, [rows]);
  wire(rows, [table]);
  wire(inSkus, [skuRows]);
  wire(skuRows, [skuTable]);
  return [
    uiPage(page, 'Orders', '/orders', 'cart', 3),
    uiGroup(gRecent, 'Recent orders and their states', page, 12, 1),
    uiGroup(gSkus, 'Sales and stock per SKU', page, 12, 2),
    ...tab(
      'sg-tab-orders',
      'Orders',
      "The Orders page. Clients' status topics are not readable by the operator: the gateway publishes a bounded list of recent orders on `stockgate/stats/orders` and per-SKU figures on `stockgate/stats/skus` (both retained).",
      [
        {
          id: 'sg-box-orders',
          name: 'Recent orders',
          info: 'The last orders that changed state, newest first (the gateway keeps 50).',
          rows: [[inOrders, rows, table]],
        },
        {
          id: 'sg-box-skus',
          name: 'Sales and stock per SKU',
          info: 'Units sold (confirmed), returned (cancelled after confirm) and fulfilled since the gateway started; stock summed over every terminal; LOW when available stock is at or below the threshold.',
          rows: [[inSkus, skuRows, skuTable]],
        },
      ],
    ),
  ];
}

// ---- Faults

const PANEL_DEFAULTS = `
// At start: the fault parameters the panel uses until the operator changes them (also shown in
// the number inputs). Kept in this tab's flow context as "selection".
const defaults = { slowMs: 500, durationS: 0, pct: 20, delayMs: 200, jitterMs: 50 };
const selection = Object.assign({}, defaults, flow.get('selection') || {});
flow.set('selection', selection);
return [
    { payload: selection.slowMs },
    { payload: selection.durationS },
    { payload: selection.pct },
    { payload: selection.delayMs },
    { payload: selection.jitterMs }
];
`;

const REMEMBER = `
// A panel control changed: msg.topic names the field, msg.payload is its value.
const FIELDS = ['terminal', 'link', 'slowMs', 'durationS', 'pct', 'delayMs', 'jitterMs'];
if (FIELDS.indexOf(msg.topic) < 0) {
    node.warn('unknown panel field: ' + msg.topic);
    return null;
}
const selection = flow.get('selection') || {};
selection[msg.topic] = msg.payload;
if (msg.topic === 'terminal' || msg.topic === 'link') selection[msg.topic + 'Picked'] = true;
flow.set('selection', selection);
return null;
`;

const PICKERS = `
// The terminal ids (from the Terminals tab) -> the options of both terminal pickers. The first
// terminal is selected until the operator picks one (or when the one picked is gone).
const ids = Array.isArray(msg.payload) ? msg.payload : [];
const options = ids.map(function (id) { return { label: id, value: id }; });
const selection = flow.get('selection') || {};
for (const field of ['terminal', 'link']) {
    if (!selection[field + 'Picked'] || ids.indexOf(selection[field]) < 0) selection[field] = ids[0];
}
flow.set('selection', selection);
return [
    { options: options, payload: selection.terminal },
    { options: options, payload: selection.link }
];
`;

const BUTTON = `
// A fault button: msg.topic is the family (terminal, link, gateway), msg.payload the kind.
// Builds the request {topic: <target>, payload: {kind, ...params}} from the panel's choices.
const sel = Object.assign(
    { slowMs: 500, durationS: 0, pct: 20, delayMs: 200, jitterMs: 50 },
    flow.get('selection') || {}
);
const family = msg.topic;
const kind = msg.payload;
let target;
if (family === 'gateway') {
    target = 'gateway';
} else if (family === 'terminal' || family === 'link') {
    const tid = family === 'terminal' ? sel.terminal : sel.link;
    if (!tid) return [null, { payload: 'choose a terminal first' }];
    target = (family === 'terminal' ? 'terminals/' : 'links/') + tid;
} else {
    return [null, { payload: 'unknown fault family: ' + family }];
}
const request = { kind: kind };
if (kind === 'slow') request.ms = sel.slowMs;
if (kind === 'drop' || kind === 'duplicate') request.pct = sel.pct;
if (kind === 'delay') {
    request.ms = sel.delayMs;
    request.jitterMs = sel.jitterMs;
}
if (kind !== 'heal' && Number(sel.durationS) > 0) request.durationMs = Math.round(Number(sel.durationS) * 1000);
return [{ topic: target, payload: request }, null];
`;

const CHECK_SEND = `
// Every fault request (panel buttons, terminal tiles) passes here. msg.topic is the target
// (gateway, terminals/<tid>, links/<tid>), msg.payload {kind, ...params}. Sends the command on
// stockgate/faults/<target> with only the parameters its kind takes; refuses anything else.
const KINDS = {
    gateway: ['crash', 'heal'],
    terminals: ['crash', 'freeze', 'slow', 'stale', 'heal'],
    links: ['drop', 'duplicate', 'delay', 'reorder', 'partition', 'heal']
};
const PARAMS = { slow: ['ms'], drop: ['pct'], duplicate: ['pct'], delay: ['ms', 'jitterMs'] };
const m = /^(?:(gateway)|(terminals|links)\\/([A-Za-z0-9_-]{1,64}))$/.exec(String(msg.topic));
const request = msg.payload && typeof msg.payload === 'object' ? msg.payload : {};
const family = m && (m[1] || m[2]);
if (!family || KINDS[family].indexOf(request.kind) < 0) {
    return [null, { payload: 'refused by the panel: no fault "' + request.kind + '" for "' + msg.topic + '"' }];
}
const command = { kind: request.kind };
const allowed = request.kind === 'heal' ? [] : (PARAMS[request.kind] || []).concat(['durationMs']);
for (const key of allowed) {
    const v = request[key];
    if (v === undefined || v === null || v === '') continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) return [null, { payload: 'refused by the panel: ' + key + ' must be a number >= 0' }];
    if (key === 'durationMs' && n === 0) continue;
    command[key] = Math.round(n);
}
const sent = flow.get('targets') || [];
if (sent.indexOf(msg.topic) < 0) sent.push(msg.topic);
flow.set('targets', sent);
return [
    { topic: '${BASE}/faults/' + msg.topic, payload: JSON.stringify(command) },
    { payload: 'sent ' + JSON.stringify(command) + ' to ' + msg.topic }
];
`;

const ACTIVE_ROWS = `
// faults/active (retained): the faults in force -> table rows; also remembered for "heal all".
const faults = msg.payload && msg.payload.faults;
if (!Array.isArray(faults)) {
    node.warn('faults/active: unexpected payload');
    return null;
}
flow.set('active', faults);
msg.payload = faults.map(function (f) {
    return {
        target: f.target,
        kind: f.kind,
        params: Object.keys(f.params || {}).map(function (k) { return k + '=' + f.params[k]; }).join(' '),
        since: new Date(f.since).toISOString().slice(11, 19),
        until: f.until ? new Date(f.until).toISOString().slice(11, 19) : 'healed by hand'
    };
});
return msg;
`;

const HEAL_ALL = `
// "Heal all": {"kind":"heal"} to every target with a fault in force, and to every target this
// panel sent a fault to (in case faults/active has not caught up yet).
const active = (flow.get('active') || []).map(function (f) { return f.target; });
const targets = Array.from(new Set(active.concat(flow.get('targets') || []))).sort();
if (!targets.length) return [null, { payload: 'nothing to heal' }];
flow.set('targets', []);
const commands = targets.map(function (t) {
    return { topic: '${BASE}/faults/' + t, payload: JSON.stringify({ kind: 'heal' }) };
});
return [commands, { payload: 'heal sent to ' + targets.join(', ') }];
`;

const REFUSAL = `
// faults/errors: the gateway refused a fault command ({ref?, code, message}).
const e = msg.payload || {};
msg.payload = (e.ref ? e.ref + ': ' : '') + e.code + ': ' + e.message;
return msg;
`;

function faults(): Node[] {
  const page = 'sg-page-faults';
  const gTerminal = 'sg-grp-terminal-faults';
  const gLink = 'sg-grp-link-faults';
  const gGateway = 'sg-grp-gateway-faults';
  const gActive = 'sg-grp-active';

  const defaultsIn = injectOnce('ft-start', 'at start');
  const defaults = fn('ft-defaults', 'panel defaults', PANEL_DEFAULTS, [
    'slow ms',
    'duration s',
    'pct',
    'delay ms',
    'jitter ms',
  ]);
  const pickTerminal = uiDropdown('ft-pick-terminal', gTerminal, 1, 'Terminal', 'terminal');
  const slowMs = uiNumber('ft-slow-ms', gTerminal, 2, 'slow: ms per reply', 'slowMs', 1, 60_000, 100);
  const durationS = uiNumber(
    'ft-duration-s',
    gGateway,
    2,
    'duration s (0: until healed)',
    'durationS',
    0,
    86_400,
    5,
  );
  const pickLink = uiDropdown('ft-pick-link', gLink, 1, 'Link to terminal', 'link');
  const pct = uiNumber('ft-pct', gLink, 2, 'drop / duplicate %', 'pct', 0, 100, 5);
  const delayMs = uiNumber('ft-delay-ms', gLink, 3, 'delay ms', 'delayMs', 0, 60_000, 50);
  const jitterMs = uiNumber('ft-jitter-ms', gLink, 4, 'jitter ms', 'jitterMs', 0, 60_000, 10);
  const remember = fn('ft-remember', 'remember panel choices', REMEMBER, []);
  const fromTerminals = linkIn('ft-from-terminals', 'terminal ids', ['tm-to-pickers']);
  const pickers = fn('ft-pickers', 'terminal pickers', PICKERS, ['terminal picker', 'link picker']);

  const terminalKinds = ['crash', 'freeze', 'slow', 'stale', 'heal'];
  const linkKinds = ['drop', 'duplicate', 'delay', 'reorder', 'partition', 'heal'];
  const terminalButtons = terminalKinds.map((k, i) =>
    uiButton(`ft-btn-terminal-${k}`, gTerminal, 10 + i, k === 'heal' ? 'heal terminal' : k, 'terminal', k),
  );
  const linkButtons = linkKinds.map((k, i) =>
    uiButton(`ft-btn-link-${k}`, gLink, 10 + i, k === 'heal' ? 'heal link' : k, 'link', k),
  );
  const gatewayButton = uiButton(
    'ft-btn-gateway-crash',
    gGateway,
    1,
    'crash the gateway',
    'gateway',
    'crash',
  );
  const button = fn('ft-button', 'fault button -> request', BUTTON, ['request', 'note']);
  const requests = linkIn('ft-requests', 'fault requests from tiles', ['tm-tile-faults']);
  const check = fn('ft-check-send', 'check and send fault command', CHECK_SEND, ['command', 'note']);
  const out = mqttOut('ft-out', 'stockgate/faults/<target>');
  const status = uiText('ft-status', gActive, 3, 'Panel', 'payload');
  const inActive = mqttIn('ft-in-active', 'faults in force', `${BASE}/faults/active`);
  inActive.qos = '1';
  const activeRows = fn('ft-active-rows', 'faults in force -> rows', ACTIVE_ROWS);
  const activeTable = uiTable('ft-table-active', gActive, 1, 'Faults in force');
  const healAll = uiButton('ft-btn-heal-all', gActive, 2, 'heal all', 'all', 'heal');
  const healAllFn = fn('ft-heal-all', 'heal all', HEAL_ALL, ['heal commands', 'note']);
  const inErrors = mqttIn('ft-in-errors', 'refused fault commands', `${BASE}/faults/errors`);
  inErrors.qos = '1';
  const refusal = fn('ft-refusal', 'refusal -> text', REFUSAL);
  const lastRefusal = uiText('ft-last-refusal', gActive, 4, 'Last refusal by the gateway', 'payload');

  wire(defaultsIn, [defaults]);
  wire(defaults, [slowMs], 0);
  wire(defaults, [durationS], 1);
  wire(defaults, [pct], 2);
  wire(defaults, [delayMs], 3);
  wire(defaults, [jitterMs], 4);
  for (const w of [pickTerminal, slowMs, durationS, pickLink, pct, delayMs, jitterMs]) wire(w, [remember]);
  wire(fromTerminals, [pickers]);
  wire(pickers, [pickTerminal], 0);
  wire(pickers, [pickLink], 1);
  for (const b of [...terminalButtons, ...linkButtons, gatewayButton]) wire(b, [button]);
  wire(button, [check], 0);
  wire(button, [status], 1);
  wire(requests, [check]);
  wire(check, [out], 0);
  wire(check, [status], 1);
  wire(inActive, [activeRows]);
  wire(activeRows, [activeTable]);
  wire(healAll, [healAllFn]);
  wire(healAllFn, [out], 0);
  wire(healAllFn, [status], 1);
  wire(inErrors, [refusal]);
  wire(refusal, [lastRefusal]);

  return [
    uiPage(page, 'Faults', '/faults', 'alert', 4),
    uiGroup(gTerminal, 'Terminal faults', page, 4, 1),
    uiGroup(gLink, 'Link faults', page, 4, 2),
    uiGroup(gGateway, 'Gateway and duration', page, 4, 3),
    uiGroup(gActive, 'Faults in force', page, 12, 4),
    ...tab(
      'sg-tab-faults',
      'Faults',
      'The fault panel: a control per fault kind and target, the faults in force (`stockgate/faults/active`), "heal all", and the refusals of the gateway (`stockgate/faults/errors`). Commands go out on `stockgate/faults/<target>` (QoS 1, not retained).',
      [
        {
          id: 'sg-box-choices',
          name: 'Panel choices',
          info: 'Which terminal, which link, and the parameters of the next fault. Every control reports its value with msg.topic naming the field; the choices live in this tab\'s flow context ("selection").',
          rows: [
            [defaultsIn, defaults, slowMs, remember],
            [null, null, durationS],
            [null, null, pct],
            [null, null, delayMs],
            [null, null, jitterMs],
            [fromTerminals, pickers, pickTerminal],
            [null, null, pickLink],
          ],
        },
        {
          id: 'sg-box-buttons',
          name: 'A button per fault kind and target',
          info: 'Each button says its family (msg.topic: terminal, link, gateway) and kind (msg.payload). "fault button -> request" adds the target and parameters; tiles on the Terminals page send requests the same way. "check and send" keeps only what the contract knows and publishes it.',
          rows: [
            [terminalButtons[0]!, button, check, out],
            [terminalButtons[1]!, null, null, status],
            [terminalButtons[2]!, requests],
            [terminalButtons[3]!],
            [terminalButtons[4]!],
            [linkButtons[0]!],
            [linkButtons[1]!],
            [linkButtons[2]!],
            [linkButtons[3]!],
            [linkButtons[4]!],
            [linkButtons[5]!],
            [gatewayButton],
          ],
        },
        {
          id: 'sg-box-active',
          name: 'Faults in force, heal all, refusals',
          info: 'The retained faults/active list as a table; "heal all" sends {"kind":"heal"} to every target in it (and to every target this panel sent a fault to); refusals from faults/errors are shown as they come.',
          rows: [
            [inActive, activeRows, activeTable],
            [healAll, healAllFn],
            [inErrors, refusal, lastRefusal],
          ],
        },
      ],
    ),
  ];
}

export function buildFlows(): Node[] {
  return [broker(), ...uiConfig(), ...overview(), ...terminals(), ...orders(), ...faults()];
}

export function flowsJson(): string {
  return `${JSON.stringify(buildFlows(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = fileURLToPath(new URL('./flows.json', import.meta.url));
  writeFileSync(file, flowsJson());
  process.stdout.write(`wrote ${file}\n`);
}
