/**
 * The hosts the CLI prints in the worker URL for each --host, and the names a self-signed
 * certificate covers, from made-up interface tables.
 */
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import { certNames, isLoopbackHost, reachableHosts, type InterfaceTable } from '../../../coordinator/server/addresses.ts';

function iface(address: string, internal = false): NetworkInterfaceInfo {
  const v4 = address.includes('.');
  return v4
    ? { address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` }
    : {
        address,
        family: 'IPv6',
        internal,
        netmask: 'ffff:ffff:ffff:ffff::',
        mac: '00:00:00:00:00:00',
        cidr: `${address}/64`,
        scopeid: address.startsWith('fe80') ? 2 : 0,
      };
}

/** A workstation: loopback, a LAN card with IPv4, a global and a link-local IPv6, Wi-Fi, and a Docker bridge listed first. */
const WORKSTATION: InterfaceTable = {
  lo: [iface('127.0.0.1', true), iface('::1', true)],
  docker0: [iface('172.17.0.1')],
  eth0: [iface('192.168.1.20'), iface('2001:db8::20'), iface('fe80::1c2d:3eff:fe4f:5a6b')],
  wlan0: [iface('10.0.0.7'), iface('169.254.3.4')],
};

const LOOPBACK_ONLY: InterfaceTable = { lo: [iface('127.0.0.1', true), iface('::1', true)] };

test('0.0.0.0 prints every IPv4 address other machines can reach, container bridges last, no IPv6', () => {
  assert.deepEqual(reachableHosts('0.0.0.0', WORKSTATION), { urlsHosts: ['192.168.1.20', '10.0.0.7', '172.17.0.1'], loopbackOnly: false });
});

test(':: (dual-stack) adds the global IPv6 addresses, bracketed, after the LAN IPv4 ones; link-local ones never appear', () => {
  const { urlsHosts, loopbackOnly } = reachableHosts('::', WORKSTATION);
  assert.deepEqual(urlsHosts, ['192.168.1.20', '10.0.0.7', '[2001:db8::20]', '172.17.0.1']);
  assert.equal(loopbackOnly, false);
  assert.deepEqual(reachableHosts('[::]', WORKSTATION).urlsHosts, urlsHosts);
  assert.deepEqual(reachableHosts('0:0:0:0:0:0:0:0', WORKSTATION).urlsHosts, urlsHosts);
});

test('a wildcard on a machine with no network prints localhost and says only this machine can join', () => {
  assert.deepEqual(reachableHosts('0.0.0.0', LOOPBACK_ONLY), { urlsHosts: ['localhost'], loopbackOnly: true });
  assert.deepEqual(reachableHosts('::', { lo: [iface('::1', true)], eth0: [iface('fe80::1')] }), {
    urlsHosts: ['localhost'],
    loopbackOnly: true,
  });
});

test('a loopback --host is printed as given, and only this machine can join', () => {
  assert.deepEqual(reachableHosts('127.0.0.1', WORKSTATION), { urlsHosts: ['127.0.0.1'], loopbackOnly: true });
  assert.deepEqual(reachableHosts('localhost', WORKSTATION), { urlsHosts: ['localhost'], loopbackOnly: true });
  assert.deepEqual(reachableHosts('::1', WORKSTATION), { urlsHosts: ['[::1]'], loopbackOnly: true });
  assert.deepEqual(reachableHosts('127.0.1.1', WORKSTATION), { urlsHosts: ['127.0.1.1'], loopbackOnly: true });
});

test('a specific --host address or name is printed as given', () => {
  assert.deepEqual(reachableHosts('10.0.0.7', WORKSTATION), { urlsHosts: ['10.0.0.7'], loopbackOnly: false });
  assert.deepEqual(reachableHosts('2001:db8::20', WORKSTATION), { urlsHosts: ['[2001:db8::20]'], loopbackOnly: false });
  assert.deepEqual(reachableHosts('gpu-box.lan', WORKSTATION), { urlsHosts: ['gpu-box.lan'], loopbackOnly: false });
});

test('loopback is 127.0.0.0/8, ::1 in any spelling, and localhost', () => {
  for (const h of [
    '127.0.0.1',
    '127.8.9.10',
    '::1',
    '0:0:0:0:0:0:0:1',
    '[::1]',
    '::ffff:127.0.0.1',
    'localhost',
    'LOCALHOST',
    'app.localhost',
  ])
    assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2', 'fe80::1', 'gpu-box', 'localhost.example.com'])
    assert.ok(!isLoopbackHost(h), h);
});

test(
  'the certificate covers the host name, its short and .local forms, localhost, loopback and every ' + 'interface address but link-local',
  () => {
    const names = certNames('0.0.0.0', WORKSTATION, 'GPU-Box.lan');
    assert.deepEqual(names.hostnames, ['gpu-box.lan', 'gpu-box', 'gpu-box.local', 'localhost']);
    assert.deepEqual(names.addresses, ['127.0.0.1', '::1', '172.17.0.1', '192.168.1.20', '2001:db8::20', '10.0.0.7']);
  },
);

test('every host the URLs use is one the certificate covers', () => {
  for (const listen of ['0.0.0.0', '::', '10.0.0.7', '127.0.0.1', '::1', 'gpu-box.lan']) {
    const names = certNames(listen, WORKSTATION, 'gpu-box');
    for (const host of reachableHosts(listen, WORKSTATION).urlsHosts) {
      const bare = host.replace(/^\[|\]$/g, '');
      assert.ok(names.addresses.includes(bare) || names.hostnames.includes(bare), `${host} (--host ${listen}) is not covered`);
    }
  }
});

test('a --host given as a name or an address outside the interface table is covered too', () => {
  assert.ok(certNames('Render.Example.net', LOOPBACK_ONLY, 'gpu-box').hostnames.includes('render.example.net'));
  assert.ok(certNames('[2001:db8::99]', LOOPBACK_ONLY, 'gpu-box').addresses.includes('2001:db8::99'));
  const wildcard = certNames('::', LOOPBACK_ONLY, 'gpu-box');
  assert.ok(!wildcard.addresses.includes('::') && !wildcard.hostnames.includes('::'), 'the wildcard itself is no name');
});

test('a host name unfit for a certificate is left out rather than breaking it', () => {
  const names = certNames('0.0.0.0', LOOPBACK_ONLY, 'Bob’s MacBook');
  assert.deepEqual(names.hostnames, ['localhost']);
});
