/**
 * mqtt.js connections with Nagle off. mqtt.js does not set noDelay on its TCP sockets; with Nagle
 * and the peer's delayed ACK, every QoS1 request/response round trip costs ~40 ms here.
 *
 * And without re-arming the keepalive timer at every packet sent (`reschedulePings`): a busy
 * terminal host sends thousands of packets a second, and clearing and setting that timer each
 * time was 14 % of its CPU. A PINGREQ then goes out every keepalive period even on a busy link,
 * which the broker does not mind.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (v: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

export function connectMqtt(url: string, opts: IClientOptions): MqttClient {
  const client = mqtt.connect(url, { reschedulePings: false, ...opts });
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
