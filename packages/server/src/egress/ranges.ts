import net from 'node:net';

/**
 * Address ranges the egress proxy never connects to unless an `allowed_hosts` IP literal names the exact address:
 * the host itself, private networks, link-local (cloud metadata lives there) and other non-internet ranges.
 * A name that resolves into one of them is refused too, which is what defeats DNS tricks such as a public name
 * pointing at 127.0.0.1 or 169.254.169.254.
 */
const RANGES: Array<{ name: string; family: 'ipv4' | 'ipv6'; net: string; prefix: number }> = [
  { name: 'this-network', family: 'ipv4', net: '0.0.0.0', prefix: 8 },
  { name: 'private', family: 'ipv4', net: '10.0.0.0', prefix: 8 },
  { name: 'shared-address-space', family: 'ipv4', net: '100.64.0.0', prefix: 10 },
  { name: 'loopback', family: 'ipv4', net: '127.0.0.0', prefix: 8 },
  { name: 'link-local/metadata', family: 'ipv4', net: '169.254.0.0', prefix: 16 },
  { name: 'private', family: 'ipv4', net: '172.16.0.0', prefix: 12 },
  { name: 'ietf-protocol', family: 'ipv4', net: '192.0.0.0', prefix: 24 },
  { name: 'documentation', family: 'ipv4', net: '192.0.2.0', prefix: 24 },
  { name: 'private', family: 'ipv4', net: '192.168.0.0', prefix: 16 },
  { name: 'benchmarking', family: 'ipv4', net: '198.18.0.0', prefix: 15 },
  { name: 'documentation', family: 'ipv4', net: '198.51.100.0', prefix: 24 },
  { name: 'documentation', family: 'ipv4', net: '203.0.113.0', prefix: 24 },
  { name: 'multicast', family: 'ipv4', net: '224.0.0.0', prefix: 4 },
  { name: 'reserved', family: 'ipv4', net: '240.0.0.0', prefix: 4 },
  { name: 'unspecified', family: 'ipv6', net: '::', prefix: 128 },
  { name: 'loopback', family: 'ipv6', net: '::1', prefix: 128 },
  { name: 'ipv4-mapped', family: 'ipv6', net: '::ffff:0:0', prefix: 96 },
  { name: 'nat64', family: 'ipv6', net: '64:ff9b::', prefix: 96 },
  { name: 'discard', family: 'ipv6', net: '100::', prefix: 64 },
  { name: 'documentation', family: 'ipv6', net: '2001:db8::', prefix: 32 },
  { name: 'unique-local', family: 'ipv6', net: 'fc00::', prefix: 7 },
  { name: 'link-local/metadata', family: 'ipv6', net: 'fe80::', prefix: 10 },
  { name: 'site-local', family: 'ipv6', net: 'fec0::', prefix: 10 },
  { name: 'multicast', family: 'ipv6', net: 'ff00::', prefix: 8 },
];

const LISTS = RANGES.map((r) => {
  const list = new net.BlockList();
  list.addSubnet(r.net, r.prefix, r.family);
  return { name: r.name, family: r.family, list };
});

/**
 * The name of the special range `address` falls in (e.g. `loopback`, `private`, `link-local/metadata`), or null for
 * an ordinary internet address. IPv4-mapped IPv6 addresses are classified as the IPv4 address they carry.
 */
export function specialRange(address: string): string | null {
  const family = net.isIP(address);
  if (family === 0) return 'not-an-address';
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return specialRange(mapped[1]!) ?? 'ipv4-mapped';
  }
  const fam = family === 4 ? 'ipv4' : 'ipv6';
  for (const r of LISTS) if (r.family === fam && r.list.check(address, fam)) return r.name;
  return null;
}
