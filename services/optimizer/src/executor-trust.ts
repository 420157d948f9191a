/**
 * Which announced executors get the executor section's bearer token. A board names its executor's
 * address in its own `board.announce`, and anyone who may publish there can name any address; so
 * the token goes to an announced address only where the operator vouched for the peer: over TLS
 * with the fleet's own CA (`executor.tlsCa`: only a certificate that CA signed is accepted; with
 * the system roots any public host could present a valid one for the name it announced), to the
 * configured executor itself, to a host the operator listed (`executor.boardHosts`), or on this
 * host (loopback: anyone who can listen on this host's loopback can also read the optimizer's
 * configuration, so it guards nothing more). Without a token there is nothing to leak, and every
 * address is dialled.
 */
import { BlockList, isIP } from 'node:net';
import { ValidationError } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';

export interface ExecutorTrustConfig {
  readonly address: string;
  readonly token?: string | undefined;
  readonly tlsCa?: string | undefined;
  /** Host names, `*.domain` wildcards and CIDR ranges whose executors may get the token over plaintext. */
  readonly boardHosts: readonly string[];
}

/** The host of `host:port` or `[v6]:port` (lower case, brackets removed); undefined when it is not one. */
export function hostOf(address: string): string | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:\s/]+):(\d{1,5})$/.exec(address);
  return m && Number(m[2]) <= 65535 ? m[1]!.toLowerCase() : undefined;
}

function ipFamily(host: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(host);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Checks `executor.boardHosts` entries; ValidationError naming the bad one. */
export function parseBoardHosts(entries: readonly string[]): (host: string) => boolean {
  const ranges = new BlockList();
  const names = new Set<string>();
  const suffixes: string[] = [];
  for (const [i, raw] of entries.entries()) {
    const entry = raw.trim().toLowerCase();
    const field = `executor.boardHosts[${i}]`;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      const family = ipFamily(cidr[1]!);
      const bits = Number(cidr[2]);
      if (!family || bits > (family === 'ipv4' ? 32 : 128)) throw new ValidationError(field, `must be a host name, *.domain or an IP range like 10.0.0.0/8, got ${describeValue(raw)}`);
      ranges.addSubnet(cidr[1]!, bits, family);
    } else if (entry.startsWith('*.') && /^[a-z0-9.-]+$/.test(entry.slice(2)) && entry.length > 2) {
      suffixes.push(entry.slice(1));
    } else if (ipFamily(entry)) {
      // An address, compared as one (fe80::1 is fe80:0::1), not as text.
      ranges.addAddress(entry, ipFamily(entry)!);
    } else if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(entry)) {
      names.add(entry);
    } else {
      throw new ValidationError(field, `must be a host name, *.domain or an IP range like 10.0.0.0/8, got ${describeValue(raw)}`);
    }
  }
  return (host) => {
    if (names.has(host)) return true;
    const family = ipFamily(host);
    if (family) return ranges.check(host, family);
    return suffixes.some((s) => host.endsWith(s));
  };
}

/**
 * Why the token must not go to the executor a board announced at `address`, or undefined when it
 * may (see the module comment).
 */
export function announcedExecutorRefusal(address: string, config: ExecutorTrustConfig, listed: (host: string) => boolean): string | undefined {
  if (config.token === undefined || config.tlsCa !== undefined || address === config.address) return undefined;
  const host = hostOf(address);
  if (host === undefined) return `its announced executor address ${describeValue(address)} is not host:port`;
  const family = ipFamily(host);
  if (host === 'localhost' || (family && LOOPBACK.check(host, family))) return undefined;
  if (listed(host)) return undefined;
  return (
    `its announced executor ${address} would get the executor token without a peer this optimizer vouches for: ` +
    `give executors the fleet's CA (executor.tls-ca: only certificates it signed are accepted) or list the host in executor.board-hosts (FULCRUM_EXECUTOR__BOARD_HOSTS)`
  );
}
