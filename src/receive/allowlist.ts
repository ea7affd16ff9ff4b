// Source-network allowlist for the listeners. Pure: node:net's BlockList does the matching and
// also matches IPv4-mapped IPv6 peers (::ffff:10.1.2.3 from dual-stack sockets) against IPv4 networks.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

const IPV4_BITS = 32;
const IPV6_BITS = 128;

function invalid(s: string): Error {
  return new Error(`expected an IPv4 or IPv6 network like 127.0.0.0/8 or ::1/128, got "${s}"`);
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (one host). Host bits past the prefix are ignored. */
export function parseCidr(s: string): Cidr {
  const t = s.trim();
  const slash = t.lastIndexOf('/');
  const address = slash < 0 ? t : t.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) && !address.includes('%') ? 'ipv6' : undefined;
  if (!family) throw invalid(s);
  const bits = family === 'ipv4' ? IPV4_BITS : IPV6_BITS;
  if (slash < 0) return { address, prefix: bits, family };
  const p = t.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > bits) throw invalid(s);
  return { address, prefix: Number(p), family };
}

export class Allowlist {
  cidrs: readonly Cidr[] = [];
  private list = new BlockList();

  /** An empty list allows every source. Throws on the first entry that is not a network. */
  constructor(cidrs: string[]) {
    this.replace(cidrs);
  }

  /** The networks allowed from now on (a reload); every listener holding this list sees them. */
  replace(cidrs: string[]): void {
    const parsed = cidrs.map(parseCidr);
    const list = new BlockList();
    for (const c of parsed) list.addSubnet(c.address, c.prefix, c.family);
    this.cidrs = parsed;
    this.list = list;
  }

  allows(address: string): boolean {
    if (this.cidrs.length === 0) return true;
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    return family !== undefined && this.list.check(address, family);
  }
}
