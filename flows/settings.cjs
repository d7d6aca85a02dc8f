/**
 * Node-RED settings for stockgate's dashboard and fault panel (CommonJS: Node-RED `require`s it).
 *
 * Everything comes from the environment, like the rest of stockgate:
 *   STOCKGATE_DATA_DIR       (./data)   userDir is <data>/node-red, the analysis reports <data>/reports
 *   STOCKGATE_NODE_RED_PORT  (1880)     editor at /, dashboard at /dashboard, reports at /reports
 *   STOCKGATE_HOST           (127.0.0.1)
 *   STOCKGATE_MQTT_PORT      (1883)     Node-RED connects to the gateway's broker as the operator
 *   STOCKGATE_FLOWS          (copy)     `repo`: run flows/flows.json in place, so that deploying from the
 *                                       editor edits the repository's flows; by default it is copied into
 *                                       the userDir at every start (the repository's file is never written)
 *
 * The operator's identity (<data>/demo-credentials.json) protects the editor (adminAuth, bcrypt) and the
 * dashboard (HTTP basic auth), and is the MQTT identity of the flows' broker connection. It is written
 * to <userDir>/flows_cred.json (mode 0600, like demo-credentials.json itself) at every start.
 *
 * Runs under flows/launch.ts (what `npm start` uses) or Node-RED's own red.js:
 *   node node_modules/node-red/red.js --settings flows/settings.cjs
 */
const fs = require('node:fs');
const path = require('node:path');
const bcrypt = require('bcryptjs');

const dataDir = path.resolve(process.env.STOCKGATE_DATA_DIR || './data');
const userDir = path.join(dataDir, 'node-red');
const reportsDir = path.join(dataDir, 'reports');
const host = process.env.STOCKGATE_HOST || '127.0.0.1';
const port = Number(process.env.STOCKGATE_NODE_RED_PORT || 1880);
const repoFlows = path.join(__dirname, 'flows.json');
/** The id of the `mqtt-broker` config node in flows.json. */
const BROKER_NODE = 'sg-broker';

const credFile = path.join(dataDir, 'demo-credentials.json');
let operator;
try {
  operator = JSON.parse(fs.readFileSync(credFile, 'utf8')).operator;
} catch (err) {
  throw new Error(`stockgate: cannot read the operator's credentials from ${credFile}: ${err.message}`);
}
if (!operator?.username || !operator.password) {
  throw new Error(`stockgate: ${credFile} has no operator credentials`);
}

fs.mkdirSync(userDir, { recursive: true });
fs.mkdirSync(reportsDir, { recursive: true });
let flowFile;
if (process.env.STOCKGATE_FLOWS === 'repo') {
  flowFile = repoFlows;
} else {
  flowFile = path.join(userDir, 'flows.json');
  fs.copyFileSync(repoFlows, flowFile);
}
// Node-RED reads the credentials from <userDir>/<flow file's name>_cred.json, wherever the flow file is.
const credPath = path.join(userDir, `${path.basename(flowFile, '.json')}_cred.json`);
fs.writeFileSync(
  credPath,
  `${JSON.stringify({ [BROKER_NODE]: { user: operator.username, password: operator.password } }, null, 2)}\n`,
  { mode: 0o600 },
);

// The flows' mqtt-broker node reads these (`${...}` properties are taken from the environment).
process.env.STOCKGATE_MQTT_HOST = process.env.STOCKGATE_MQTT_HOST || host;
process.env.STOCKGATE_MQTT_PORT = process.env.STOCKGATE_MQTT_PORT || '1883';
process.env.STOCKGATE_NODE_RED_CLIENT_ID = `${operator.username}-node-red-${process.pid}`;

const hash = bcrypt.hashSync(operator.password, 8);

module.exports = {
  uiHost: host,
  uiPort: port,
  // red.js fills these in; embedded (flows/launch.ts), Node-RED and Dashboard 2 need them spelled out.
  httpAdminRoot: '/',
  httpNodeRoot: '/',
  userDir,
  flowFile,
  flowFilePretty: true,
  // The broker's credentials live in flows_cred.json in the clear (mode 0600), like the demo's own file.
  credentialSecret: false,
  adminAuth: {
    type: 'credentials',
    users: [{ username: operator.username, password: hash, permissions: '*' }],
  },
  /** The dashboard (and anything else under httpNodeRoot): HTTP basic auth, the operator's identity. */
  httpNodeAuth: { user: operator.username, pass: hash },
  /** The analysis report (another part writes <data>/reports/latest/index.html). */
  httpStatic: [{ path: reportsDir, root: '/reports/' }],
  httpStaticAuth: { user: operator.username, pass: hash },
  stockgate: { reportsDir, dataDir, operator: operator.username },
  dashboard: { path: '/dashboard' },
  diagnostics: { enabled: false, ui: false },
  runtimeState: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  functionExternalModules: false,
  exportGlobalContextKeys: false,
  logging: {
    console: { level: process.env.STOCKGATE_NODE_RED_LOG_LEVEL || 'info', metrics: false, audit: false },
  },
  editorTheme: {
    page: { title: 'stockgate flows' },
    header: { title: 'stockgate: dashboard and fault panel flows' },
    projects: { enabled: false },
    tours: false,
    palette: { catalogues: [] },
  },
};
