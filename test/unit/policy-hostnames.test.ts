import { describe, expect, it } from 'vitest';
import { hostMatches, normalizeHost, splitAuthority } from '../../policies/hostnames.ts';

describe('normalizeHost', () => {
  it.each([
    ['API.Example.COM', { ok: true, host: 'api.example.com' }],
    ['example.com.', { ok: true, host: 'example.com' }],
    ['under_score.example', { ok: true, host: 'under_score.example' }],
    ['localhost', { ok: true, host: 'localhost' }],
    ['127.0.0.1', { ok: true, host: '127.0.0.1' }],
    ['[::1]', { ok: true, host: '::1' }],
    ['[0:0:0:0:0:0:0:1]', { ok: true, host: '::1' }],
    ['[FD00:EC2::254]', { ok: true, host: 'fd00:ec2::254' }],
    ['::1', { ok: true, host: '::1' }],
    ['', { ok: false, problem: 'host is empty' }],
    ['.', { ok: false, problem: 'host is empty' }],
    ['exa mple.com', { ok: false, problem: 'host name contains " "' }],
    ['a/b.com', { ok: false, problem: 'host name contains "/"' }],
    ['a\\b.com', { ok: false, problem: 'host name contains "\\\\"' }],
    ['a%2eb.com', { ok: false, problem: 'host name contains "%"' }],
    ['user@example.com', { ok: false, problem: 'host name contains "@"' }],
    ['bücher.de', { ok: false, problem: 'host name contains "ü"' }],
    ['a..b', { ok: false, problem: 'host name has an empty label' }],
    ['.example.com', { ok: false, problem: 'host name has an empty label' }],
    ['example.com..', { ok: false, problem: 'host name has an empty label' }],
    [`${'a'.repeat(64)}.com`, { ok: false, problem: 'host name has a label longer than 63 characters' }],
    [`${'a'.repeat(63)}.com`, { ok: true, host: `${'a'.repeat(63)}.com` }],
    [Array(64).fill('abc').join('.'), { ok: false, problem: 'host name is longer than 253 characters' }],
    ['[::1', { ok: false, problem: 'not a valid IPv6 address' }],
    ['[example.com]', { ok: false, problem: 'not a valid IPv6 address' }],
    ['[fe80::1%eth0]', { ok: false, problem: 'not a valid IPv6 address' }],
    ['0x7f.1', { ok: false, problem: 'not a valid IPv4 address' }],
    ['2130706433', { ok: false, problem: 'not a valid IPv4 address' }],
    ['1.2.3.256', { ok: false, problem: 'not a valid IPv4 address' }],
  ])('%j', (raw, expected) => {
    expect(normalizeHost(raw)).toEqual(expected);
  });
});

describe('splitAuthority', () => {
  it.each([
    ['example.com', 443, { ok: true, host: 'example.com', port: 443 }],
    ['Example.COM.:8443', 443, { ok: true, host: 'example.com', port: 8443 }],
    ['127.0.0.1:80', 443, { ok: true, host: '127.0.0.1', port: 80 }],
    ['[::1]:8080', 443, { ok: true, host: '::1', port: 8080 }],
    ['[::1]', 80, { ok: true, host: '::1', port: 80 }],
    ['example.com:65535', 443, { ok: true, host: 'example.com', port: 65535 }],
    ['user@example.com', 443, { ok: false, problem: 'user info ("user@") is not allowed' }],
    ['user:pw@example.com:443', 443, { ok: false, problem: 'user info ("user@") is not allowed' }],
    ['example.com:0', 443, { ok: false, problem: 'port must be a number from 1 to 65535' }],
    ['example.com:65536', 443, { ok: false, problem: 'port must be a number from 1 to 65535' }],
    ['example.com:', 443, { ok: false, problem: 'port must be a number from 1 to 65535' }],
    ['example.com:8o', 443, { ok: false, problem: 'port must be a number from 1 to 65535' }],
    ['example.com:+80', 443, { ok: false, problem: 'port must be a number from 1 to 65535' }],
    ['example.com:1234567', 443, { ok: false, problem: 'port must be a number from 1 to 65535' }],
    ['::1:8080', 443, { ok: false, problem: 'IPv6 addresses must be written in brackets' }],
    ['[::1]8080', 443, { ok: false, problem: 'unexpected text after "]"' }],
    ['[::1:8080', 443, { ok: false, problem: 'not a valid IPv6 address' }],
    [':443', 443, { ok: false, problem: 'host is empty' }],
    ['example.com', null, { ok: false, problem: 'a port is required (host:port)' }],
    ['[::1]', null, { ok: false, problem: 'a port is required (host:port)' }],
    ['example.com:443', null, { ok: true, host: 'example.com', port: 443 }],
    ['[::1]:8443', null, { ok: true, host: '::1', port: 8443 }],
  ] as [string, number | null, unknown][])('%j (default %d)', (authority, defaultPort, expected) => {
    expect(splitAuthority(authority, defaultPort)).toEqual(expected);
  });
});

describe('hostMatches', () => {
  it.each([
    ['api.example.com', 'api.example.com', true],
    ['api.example.com', 'API.Example.com.', true],
    ['API.example.com', 'api.example.com', true],
    ['api.example.com', 'example.com', false],
    ['api.example.com', 'xapi.example.com', false],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'API.EXAMPLE.COM.', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'badexample.com', false],
    ['*.example.com', 'example.com.evil.test', false],
    ['*.example.com', '.example.com', false],
    ['127.0.0.1', '127.0.0.1', true],
    ['::1', '[::1]', true],
    ['::1', '0:0::1', true],
    ['*.0.0.1', '127.0.0.1', false],
    ['example.com', 'exa mple.com', false],
  ])('%s vs %s -> %s', (pattern, host, expected) => {
    expect(hostMatches(pattern, host)).toBe(expected);
  });
});
