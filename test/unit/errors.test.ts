import { describe, expect, it } from 'vitest';
import { AirlockError, describeUpstreamError } from '../../proxy/errors.ts';

describe('describeUpstreamError', () => {
  const table: [string, unknown, string, number][] = [
    ['our own address refusal', new AirlockError('address_not_allowed', 'x'), 'address_not_allowed', 403],
    ['our connect time-out', new AirlockError('upstream_timeout', 'x'), 'upstream_timeout', 504],
    ['untrusted certificate', Object.assign(new Error('self-signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'upstream_tls', 502],
    ['wrong name', Object.assign(new Error('altname'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'upstream_tls', 502],
    ['headers time-out', Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'upstream_timeout', 504],
    ['refused', Object.assign(new Error('r'), { code: 'ECONNREFUSED' }), 'upstream_connect', 502],
    ['a numeric code', Object.assign(new Error('n'), { code: 7 }), 'upstream_error', 502],
    ['not an Error at all', 'boom', 'upstream_error', 502],
    ['null', null, 'upstream_error', 502],
  ];
  for (const [name, err, code, status] of table) {
    it(name, () => expect(describeUpstreamError(err)).toMatchObject({ code, status }));
  }
});
