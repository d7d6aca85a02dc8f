import { type AddressInfo, createServer } from 'node:net';
import { Aedes } from 'aedes';
import { connectMqttAsync } from '../../lib/mqtt.ts';

const retained = Number(process.argv[2] ?? 3000);
const aedes = await Aedes.createBroker();
const server = createServer({ noDelay: true }, aedes.handle);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
const pub = await connectMqttAsync(url, { clientId: 'pub' });
for (let i = 0; i < retained; i++)
  await pub.publishAsync(`stockgate/terminals/t${i}/inventory`, 'x'.repeat(200), { qos: 1, retain: true });
const c = await connectMqttAsync(url, { clientId: 'sub' });
const t0 = performance.now();
const n = 200;
for (let i = 0; i < n; i++)
  await c.subscribeAsync([`stockgate/clients/c${i}/orders/status`, `stockgate/clients/c${i}/errors`], {
    qos: 1,
  });
console.log(
  `${retained} retained: ${((performance.now() - t0) / n).toFixed(2)} ms per SUBSCRIBE of 2 exact topics`,
);
process.exit(0);
