/**
 * A throwaway certificate authority for tests, made with the `openssl` CLI: an ECDSA P-256 CA
 * and server/client certificates it signs, each with the SANs (IP addresses, DNS names) a peer
 * verifies. Both @grpc/grpc-js (it checks the SAN against the target's host or IP) and
 * nats-server (Go's crypto/tls) accept them.
 *
 *   const ca = await createTestCa(dir);
 *   const hub = await ca.issue('hub', { ips: [net.workstation.ip] });
 *   // nats-server: cert_file hub.certFile, key_file hub.keyFile; its peers: ca_file ca.caFile
 *   // gRPC: grpc.tlsCert / grpc.tlsKey on the server, tlsCa: ca.caFile on the peers
 *
 * Valid from now for `days` (default 2). Keys are written with mode 0600, certificates 0644.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface IssueOptions {
  /** IP addresses for the SAN (IPv4 or IPv6). */
  readonly ips?: readonly string[];
  /** DNS names for the SAN. */
  readonly dns?: readonly string[];
}

export interface IssuedCert {
  /** PEM certificate (the leaf only; peers trust `caFile`). */
  readonly certFile: string;
  /** PEM PKCS#8 private key, mode 0600. */
  readonly keyFile: string;
}

export interface TestCa {
  readonly dir: string;
  /** The CA's PEM certificate: what the peers trust (`tlsCa`, `ca_file`). */
  readonly caFile: string;
  /** A certificate for `name` (CN and file names), usable as a server and as a client certificate. */
  issue(name: string, options?: IssueOptions): Promise<IssuedCert>;
}

export interface TestCaOptions {
  /** Validity of the CA and of every certificate it issues; default 2 days. */
  readonly days?: number;
}

function openssl(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) =>
      err ? reject(new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${String(stderr).trim() || err.message}`)) : resolve(),
    );
  });
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DNS = /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:]+)$/;

async function newKey(file: string, cwd: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
  await chmod(file, 0o600);
}

/** Makes a CA in `dir` (created if missing). Needs the `openssl` command. */
export async function createTestCa(dir: string, options: TestCaOptions = {}): Promise<TestCa> {
  const days = options.days ?? 2;
  if (!Number.isInteger(days) || days < 1 || days > 30) throw new RangeError(`days must be 1..30, got ${days}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  await newKey(caKey, dir);
  await writeFile(
    join(dir, 'ca.ext'),
    ['[ca]', 'basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash', ''].join('\n'),
  );
  // Self-signed through `x509 -req` and an extension file: the extensions are exactly these
  // (`req -x509` would add openssl.cnf's defaults).
  await openssl(['req', '-new', '-key', caKey, '-subj', '/CN=Fulcrum test CA', '-out', join(dir, 'ca.csr')], dir);
  await openssl(
    ['x509', '-req', '-in', join(dir, 'ca.csr'), '-key', caKey, '-sha256', '-days', String(days), '-extfile', join(dir, 'ca.ext'), '-extensions', 'ca', '-set_serial', '1', '-out', caFile],
    dir,
  );
  let serial = 1;
  const issued = new Set<string>();

  const issue = async (name: string, issueOptions: IssueOptions = {}): Promise<IssuedCert> => {
    if (!NAME.test(name)) throw new RangeError(`certificate name must be ${NAME.source}, got ${JSON.stringify(name)}`);
    if (issued.has(name)) throw new Error(`a certificate named ${name} was already issued by this CA`);
    issued.add(name);
    const ips = issueOptions.ips ?? [];
    const dns = issueOptions.dns ?? [];
    for (const ip of ips) if (!IP.test(ip)) throw new RangeError(`not an IP address: ${JSON.stringify(ip)}`);
    for (const d of dns) if (!DNS.test(d)) throw new RangeError(`not a DNS name: ${JSON.stringify(d)}`);
    if (ips.length + dns.length === 0) throw new RangeError(`certificate ${name}: give at least one IP or DNS name (peers verify the SAN)`);
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.crt`);
    const csr = join(dir, `${name}.csr`);
    const ext = join(dir, `${name}.ext`);
    await newKey(keyFile, dir);
    const san = [...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)].join(', ');
    await writeFile(
      ext,
      [
        '[leaf]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature, keyAgreement',
        'extendedKeyUsage = serverAuth, clientAuth',
        `subjectAltName = ${san}`,
        'authorityKeyIdentifier = keyid',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    await openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr], dir);
    serial += 1;
    await openssl(
      ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial), '-sha256', '-days', String(days), '-extfile', ext, '-extensions', 'leaf', '-out', certFile],
      dir,
    );
    await chmod(certFile, 0o644);
    return { certFile, keyFile };
  };

  return { dir, caFile, issue };
}
