/**
 * Child side of bench/lib/worker.ts: announce readiness, answer RPC calls, stop on 'stop' or when
 * the parent goes away (no orphans).
 */
type Handler = (args: never) => unknown;

export function serve(handlers: Record<string, Handler>, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`stop failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('disconnect', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('message', (m: unknown) => {
    if (m === 'stop') return shutdown();
    if (!m || typeof m !== 'object' || !('rpc' in m)) return;
    const { rpc, cmd, args } = m as { rpc: number; cmd: string; args: never };
    const handler = handlers[cmd];
    const reply = (body: Record<string, unknown>) => {
      if (process.connected) process.send?.({ rpc, ...body });
    };
    if (!handler) return reply({ ok: false, error: `unknown command '${cmd}'` });
    Promise.resolve()
      .then(() => handler(args))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
}

export function ready(info: Record<string, unknown> = {}): void {
  process.send?.({ ready: true, ...info });
}
