import type { Command } from 'commander';
import { Gateway } from '../../gateway/gateway.ts';
import { announceReady, int, runUntilSignal } from './common.ts';

export function gatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('run the gateway with its embedded MQTT broker (ports and data dir from the environment)')
    .option('--data-dir <dir>', 'data directory (STOCKGATE_DATA_DIR, default ./data)')
    .option('--mqtt-port <port>', 'MQTT TCP port (STOCKGATE_MQTT_PORT, 1883)', int('port', 0, 65535))
    .option('--ws-port <port>', 'MQTT over WebSocket port (STOCKGATE_WS_PORT, 8083)', int('port', 0, 65535))
    .option('--http-port <port>', 'HTTP port for /healthz (STOCKGATE_HTTP_PORT, 8080)', int('port', 0, 65535))
    .action(async (o: { dataDir?: string; mqttPort?: number; wsPort?: number; httpPort?: number }) => {
      const gateway = new Gateway({
        // Running as its own process: the gateway crash fault may kill it (its supervisor restarts it).
        allowCrash: true,
        ...(o.dataDir ? { dataDir: o.dataDir } : {}),
        ...(o.mqttPort !== undefined ? { mqttPort: o.mqttPort } : {}),
        ...(o.wsPort !== undefined ? { wsPort: o.wsPort } : {}),
        ...(o.httpPort !== undefined ? { httpPort: o.httpPort } : {}),
      });
      const ports = await gateway.start();
      const host = gateway.config.host;
      process.stderr.write(
        `gateway: mqtt://${host}:${ports.mqtt}  ws://${host}:${ports.ws}/mqtt  http://${host}:${ports.http}/healthz  data ${gateway.config.dataDir}\n`,
      );
      if (gateway.tls) {
        process.stderr.write(
          `gateway: mqtts://${host}:${ports.mqtts}  wss://${host}:${ports.wss}/mqtt  TLS CA ${gateway.tls.caFile ?? '(user-supplied certificate)'}${gateway.config.tls.require ? '  (TLS required: plain listeners closed)' : ''}\n`,
        );
      }
      announceReady({ ports, host, ...(gateway.tls?.caFile ? { caFile: gateway.tls.caFile } : {}) });
      runUntilSignal('gateway', () => gateway.stop());
    });
}
