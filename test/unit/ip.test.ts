import { describe, expect, it } from 'vitest';
import { classifyIp, ipAllowed, parseCidr } from '../../policies/ip.ts';

describe('classifyIp', () => {
  it.each([
    ['127.0.0.1', false, 'loopback'],
    ['10.0.0.1', false, 'private'],
    ['172.16.0.1', false, 'private'],
    ['192.168.1.1', false, 'private'],
    ['169.254.169.254', false, 'linkLocal'],
    ['100.64.0.1', false, 'carrierGradeNat'],
    ['0.0.0.0', false, 'unspecified'],
    ['255.255.255.255', false, 'broadcast'],
    ['224.0.0.1', false, 'multicast'],
    ['192.0.2.1', false, 'reserved'],
    ['198.18.0.1', false, 'benchmarking'],
    ['198.19.255.255', false, 'benchmarking'],
    ['8.8.8.8', true, 'unicast'],
    ['::1', false, 'loopback'],
    ['::', false, 'unspecified'],
    ['fe80::1', false, 'linkLocal'],
    ['fd00:ec2::254', false, 'uniqueLocal'],
    ['ff02::1', false, 'multicast'],
    ['::ffff:127.0.0.1', false, 'loopback'],
    ['::ffff:10.1.2.3', false, 'private'],
    ['::ffff:8.8.8.8', false, 'ipv4Mapped'],
    ['::ffff:0:7f00:1', false, 'rfc6145'],
    ['64:ff9b::a00:1', false, 'rfc6052'],
    ['2002:a00:1::', false, '6to4'],
    ['2001::1', false, 'teredo'],
    ['2001:db8::1', false, 'reserved'],
    ['4000::1', false, 'reserved'],
    ['2001:4860:4860::8888', true, 'unicast'],
    ['0x7f.1', false, 'invalid'],
    ['2130706433', false, 'invalid'],
    ['fe80::1%eth0', false, 'invalid'],
    ['example.com', false, 'invalid'],
  ])('%s -> public %s, %s', (ip, isPublic, range) => {
    expect(classifyIp(ip)).toEqual({ public: isPublic, range });
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', ['10.0.0.1', '10.255.255.255', '::ffff:10.1.2.3'], ['11.0.0.1', '::1', 'nonsense']],
    ['127.0.0.1', ['127.0.0.1', '::ffff:127.0.0.1'], ['127.0.0.2']],
    ['198.18.0.0/15', ['198.19.1.1'], ['198.20.0.1']],
    ['::1', ['::1', '0:0:0:0:0:0:0:1'], ['::2', '127.0.0.1']],
    ['fd00::/8', ['fd00:ec2::254'], ['fe80::1']],
    ['::ffff:10.0.0.0/104', ['10.9.9.9', '::ffff:10.9.9.9'], ['11.0.0.1']],
    ['0.0.0.0/0', ['8.8.8.8', '10.0.0.1'], ['2001:4860:4860::8888']],
  ])('%s', (text, inside, outside) => {
    const cidr = parseCidr(text);
    expect(cidr?.text).toBe(text);
    for (const ip of inside) expect(cidr?.contains(ip), ip).toBe(true);
    for (const ip of outside) expect(cidr?.contains(ip), ip).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '::1/129', '10.0.0', '0x0a.0.0.0/8', 'fe80::1%eth0/64', 'host.example', ''])(
    'rejects %j',
    (text) => expect(parseCidr(text)).toBeNull(),
  );
});

describe('ipAllowed', () => {
  const allow = [parseCidr('10.0.0.0/8')!, parseCidr('::1')!];
  it.each([
    ['8.8.8.8', [], true],
    ['10.1.1.1', [], false],
    ['10.1.1.1', allow, true],
    ['::ffff:10.1.1.1', allow, true],
    ['::1', allow, true],
    ['127.0.0.1', allow, false],
    ['::ffff:8.8.8.8', [], false],
    ['169.254.169.254', allow, false],
  ] as const)('%s with %j -> %s', (ip, cidrs, expected) => {
    expect(ipAllowed(ip, [...cidrs])).toBe(expected);
  });
});
