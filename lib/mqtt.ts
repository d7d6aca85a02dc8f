/**
 * mqtt.js connections with Nagle off. mqtt.js does not set noDelay on its TCP sockets; with Nagle
 * and the peer's delayed ACK, every QoS1 request/response round trip costs ~40 ms here.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (v: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

export function connectMqtt(url: string, opts: IClientOptions): MqttClient {
  const client = mqtt.connect(url, opts);
  noDelay(client);
  // Each reconnect makes a new socket.
  client.on('connect', () => noDelay(client));
  client.on('reconnect', () => noDelay(client));
  return client;
}

export function connectMqttAsync(url: string, opts: IClientOptions): Promise<MqttClient> {
  const client = connectMqtt(url, opts);
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      client.off('error', onError);
      resolve(client);
    };
    const onError = (err: Error) => {
      client.off('connect', onConnect);
      client.end(true);
      reject(err);
    };
    client.once('connect', onConnect);
    client.once('error', onError);
  });
}
