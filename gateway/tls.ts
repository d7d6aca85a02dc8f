/**
 * TLS for the broker's mqtts and wss listeners. Certificates come from the user (PEM paths in the
 * config or STOCKGATE_TLS_CERT / _KEY / _CA), or are generated at first start with `selfsigned`:
 * a private CA and a server certificate it signs, both EC P-256, under `<data>/tls/`. Clients
 * trust `<data>/tls/ca.pem` (mosquitto_pub --cafile, mqtt.js `ca`, NODE_EXTRA_CA_CERTS). A server
 * certificate that no longer covers the host names or is about to expire is re-issued from the
 * same CA, so clients keep trusting it.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { logger } from '../lib/log.ts';

export interface TlsSource {
  dataDir: string;
  /** User-supplied PEM files: with cert and key nothing is generated. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
  /** Host names and addresses a generated server certificate must cover. */
  hosts?: string[];
}

export interface TlsMaterial {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** The CA clients should trust (the generated one, or the user's if given). */
  caFile?: string;
  generated: boolean;
}

const DAY = 86_400_000;
const CA_DAYS = 3650;
const SERVER_DAYS = 825;
/** A generated server certificate is re-issued when it expires within this many days. */
const RENEW_DAYS = 30;

export function tlsDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

export function defaultTlsHosts(bindHost?: string): string[] {
  const hosts = new Set(['localhost', '127.0.0.1', '::1']);
  const own = hostname();
  if (/^[A-Za-z0-9.-]{1,253}$/.test(own)) hosts.add(own);
  if (bindHost && bindHost !== '0.0.0.0' && bindHost !== '::') hosts.add(bindHost);
  return [...hosts];
}

export async function ensureTls(source: TlsSource): Promise<TlsMaterial> {
  if (source.certFile || source.keyFile) return userSupplied(source);
  return generated(source);
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
  }
}

function userSupplied(source: TlsSource): TlsMaterial {
  if (!source.certFile || !source.keyFile)
    throw new Error('TLS: give both a certificate and a key (STOCKGATE_TLS_CERT and STOCKGATE_TLS_KEY)');
  const cert = read(source.certFile, 'certificate');
  const key = read(source.keyFile, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`TLS certificate ${source.certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(createPrivateKey(key)))
    throw new Error(`TLS key ${source.keyFile} does not belong to the certificate ${source.certFile}`);
  if (source.caFile) read(source.caFile, 'CA');
  return {
    cert,
    key,
    certFile: source.certFile,
    keyFile: source.keyFile,
    ...(source.caFile ? { caFile: source.caFile } : {}),
    generated: false,
  };
}

async function generated(source: TlsSource): Promise<TlsMaterial> {
  const log = logger('tls');
  const dir = tlsDir(source.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = {
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server-key.pem'),
  };
  const hosts = source.hosts ?? defaultTlsHosts();

  let caCert: string;
  let caKey: string;
  let fresh = false;
  if (existsSync(files.ca) && existsSync(files.caKey)) {
    caCert = readFileSync(files.ca, 'utf8');
    caKey = readFileSync(files.caKey, 'utf8');
  } else {
    const { generate } = await loadSelfsigned();
    const now = new Date();
    const ca = await generate([{ name: 'commonName', value: `stockgate local CA (${hostname()})` }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: now,
      notAfterDate: new Date(now.getTime() + CA_DAYS * DAY),
      extensions: [
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      ],
    });
    caCert = ca.cert;
    caKey = ca.private;
    writeFileSync(files.caKey, caKey, { mode: 0o600 });
    writeFileSync(files.ca, caCert, { mode: 0o644 });
    fresh = true;
    log.info({ ca: files.ca }, 'generated a local certificate authority');
  }

  if (fresh || !serverCertUsable(files.cert, files.key, caCert, hosts)) {
    const { generate } = await loadSelfsigned();
    const now = new Date();
    const server = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 60_000),
      notAfterDate: new Date(now.getTime() + SERVER_DAYS * DAY),
      ca: { key: caKey, cert: caCert },
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: hosts.map((h) =>
            isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h },
          ),
        },
      ],
    });
    writeFileSync(files.key, server.private, { mode: 0o600 });
    writeFileSync(files.cert, server.cert, { mode: 0o644 });
    log.info({ cert: files.cert, hosts }, 'issued a server certificate');
  }
  return {
    cert: readFileSync(files.cert, 'utf8'),
    key: readFileSync(files.key, 'utf8'),
    certFile: files.cert,
    keyFile: files.key,
    caFile: files.ca,
    generated: true,
  };
}

function serverCertUsable(certFile: string, keyFile: string, caPem: string, hosts: string[]): boolean {
  if (!existsSync(certFile) || !existsSync(keyFile)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certFile, 'utf8'));
    const ca = new X509Certificate(caPem);
    if (!cert.verify(ca.publicKey)) return false;
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile, 'utf8')))) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_DAYS * DAY) return false;
    return hosts.every((h) => (isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined));
  } catch {
    return false;
  }
}

/**
 * Loaded only to make certificates (first start): the import alone costs ~130 ms, and a gateway
 * restarted after a crash should be serving again as soon as it can.
 */
function loadSelfsigned(): Promise<typeof import('selfsigned')> {
  return import('selfsigned');
}
