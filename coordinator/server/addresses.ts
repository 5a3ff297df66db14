/**
 * Which addresses other machines reach this one at: the hosts the CLI puts in the URLs it prints,
 * and the names a self-signed certificate must cover. Pure functions of the --host value and an
 * interface table (os.networkInterfaces() by default), so tests pass made-up tables.
 */
import net from 'node:net';
import os from 'node:os';

/** What os.networkInterfaces() returns. */
export type InterfaceTable = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

/** The hosts for printed URLs (IPv6 bracketed), best first; `loopbackOnly` when no other machine can reach them. */
export interface ReachableHosts {
  urlsHosts: string[];
  loopbackOnly: boolean;
}

/** What a certificate for this machine covers: DNS names and IP addresses. */
export interface CertNames {
  hostnames: string[];
  addresses: string[];
}

/** True for an address or name only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = unbracket(host).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped ? mapped[1]!.startsWith('127.') : expandIPv6(h) === '0:0:0:0:0:0:0:1';
  }
  return false;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `::1` → `0:0:0:0:0:0:0:1`, so addresses written differently compare equal. */
function expandIPv6(ip: string): string {
  const [head = '', tail] = ip.split('::') as [string, string | undefined];
  const part = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  // A dotted IPv4 tail (::ffff:1.2.3.4) stands for two groups.
  const width = (groups: string[]): number => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const fill = tail === undefined ? [] : Array<string>(8 - width(left) - width(right)).fill('0');
  return [...left, ...fill, ...right].map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16))).join(':');
}

function isWildcard(host: string): boolean {
  const h = unbracket(host);
  return h === '0.0.0.0' || (net.isIPv6(h) && expandIPv6(h) === '0:0:0:0:0:0:0:0');
}

/** A host as it goes in a URL: IPv6 addresses in brackets. */
export function urlHost(host: string): string {
  const h = unbracket(host);
  return net.isIPv6(h) ? `[${h}]` : h;
}

/** IPv6 link-local (fe80::/10) and IPv4 self-assigned (169.254/16) addresses only work on one link, and need a zone in a URL. */
function isLinkLocal(address: string): boolean {
  if (net.isIPv4(address)) return address.startsWith('169.254.');
  const first = parseInt(expandIPv6(address).split(':')[0]!, 16);
  return (first & 0xffc0) === 0xfe80;
}

/** Container and VM bridges are rarely what another machine on the network reaches, so they go last. */
const VIRTUAL_INTERFACE = /^(docker|br-|veth|virbr|vmnet|vboxnet|cni|flannel|lxc|lxd|podman)/;

interface Candidate {
  address: string;
  ipv4: boolean;
  internal: boolean;
  virtual: boolean;
}

function interfaceAddresses(interfaces: InterfaceTable): Candidate[] {
  return Object.entries(interfaces).flatMap(([name, infos]) =>
    (infos ?? []).map((info) => ({
      address: info.address,
      ipv4: info.family === 'IPv4',
      internal: info.internal,
      virtual: VIRTUAL_INTERFACE.test(name),
    })),
  );
}

/**
 * The hosts to print in URLs for a server listening on `listenHost` (the --host value):
 * - a loopback address or name: itself, with `loopbackOnly` (only this machine reaches it);
 * - `0.0.0.0`: every IPv4 address of a non-internal interface; `::` (dual-stack) adds the
 *   non-link-local IPv6 ones, bracketed; container and VM bridges last, IPv4 before IPv6;
 *   `localhost` with `loopbackOnly` when the machine has none;
 * - any other address or name: itself.
 */
export function reachableHosts(listenHost: string, interfaces: InterfaceTable = os.networkInterfaces()): ReachableHosts {
  if (isLoopbackHost(listenHost)) return { urlsHosts: [urlHost(listenHost)], loopbackOnly: true };
  if (!isWildcard(listenHost)) return { urlsHosts: [urlHost(listenHost)], loopbackOnly: false };
  // 0.0.0.0 accepts IPv4 connections only; :: accepts both on dual-stack systems (Node's default).
  const withIPv6 = unbracket(listenHost) !== '0.0.0.0';
  const seen = new Set<string>();
  const picked = interfaceAddresses(interfaces).filter((c) => {
    if (c.internal || seen.has(c.address) || isLoopbackHost(c.address) || isLinkLocal(c.address)) return false;
    if (!c.ipv4 && !withIPv6) return false;
    seen.add(c.address);
    return true;
  });
  // The first host gets the QR code, so a bridge never leads. A stable sort: within each class the operating system's order is kept.
  picked.sort((a, b) => Number(a.virtual) - Number(b.virtual) || Number(b.ipv4) - Number(a.ipv4));
  if (picked.length === 0) return { urlsHosts: ['localhost'], loopbackOnly: true };
  return { urlsHosts: picked.map((c) => urlHost(c.address)), loopbackOnly: false };
}

/** Names fit for a certificate's DNS entries (ASCII letters, digits, `-`, `_`, dots between labels). */
const DNS_NAME = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

/**
 * What a self-signed certificate for this machine should cover: its host name, the name's short
 * form and its `.local` (mDNS) form, `localhost`, and --host when it is a name; 127.0.0.1, ::1,
 * every interface address but link-local ones, and --host when it is an address.
 */
export function certNames(
  listenHost: string,
  interfaces: InterfaceTable = os.networkInterfaces(),
  hostname: string = os.hostname(),
): CertNames {
  const host = unbracket(listenHost).toLowerCase();
  const full = hostname.toLowerCase().replace(/\.$/, '');
  const short = full.split('.')[0] ?? '';
  const names = [full, short, short && `${short}.local`, 'localhost', net.isIP(host) || isWildcard(host) ? '' : host];
  const hostnames = [...new Set(names.filter((n) => DNS_NAME.test(n)))];
  const ips = [
    '127.0.0.1',
    '::1',
    ...interfaceAddresses(interfaces).map((c) => c.address),
    net.isIP(host) && !isWildcard(host) ? host : '',
  ];
  const addresses = [...new Set(ips.filter((a) => net.isIP(a) !== 0 && !isLinkLocal(a)))];
  return { hostnames, addresses };
}
