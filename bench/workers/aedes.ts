/**
 * The baseline broker: a plain Aedes on a TCP server with noDelay, no auth, no hooks. The same
 * aedes the gateway embeds, nothing of ours in the path.
 */
import { type AddressInfo, createServer } from 'node:net';
import { Aedes } from 'aedes';
import { ready, serve } from '../lib/rpc.ts';

const aedes = await Aedes.createBroker();
const server = createServer({ noDelay: true }, aedes.handle);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
serve({}, async () => {
  server.close();
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
});
ready({ port: (server.address() as AddressInfo).port });
