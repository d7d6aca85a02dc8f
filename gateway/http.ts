/** The gateway's HTTP side: `/healthz` (and, with the statistics, `/metrics`). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../lib/log.ts';

export type Route = () =>
  | { status: number; type: string; body: string }
  | Promise<{ status: number; type: string; body: string }>;

export class HttpServer {
  private server: Server | null = null;
  private readonly log = logger('http');
  port = 0;

  constructor(
    private readonly host: string,
    private readonly wantedPort: number,
    private readonly routes: Record<string, Route>,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const route = this.routes[path];
      if (!route || req.method !== 'GET') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
        return;
      }
      Promise.resolve()
        .then(route)
        .then(
          (r) => res.writeHead(r.status, { 'content-type': r.type }).end(r.body),
          (err: Error) => {
            this.log.error({ path, err: err.message }, 'route failed');
            res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
          },
        );
    });
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.wantedPort, this.host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
