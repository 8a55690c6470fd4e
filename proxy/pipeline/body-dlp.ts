// DLP wired to bodies: the request body's scan options (what the store captures, the placeholder
// tripwire), a body scanned only for the record, and the response filter of an exchange.
import { changesLength, scanBody } from '../dlp/body.ts';
import type { EchoSet } from '../dlp/echo.ts';
import { responseFilter } from '../dlp/response.ts';
import type { StoredPieces } from '../dlp/segments.ts';
import type { Rules } from '../dlp/stream.ts';
import { Tripwire } from '../dlp/tripwire.ts';
import type { Flow } from '../flow.ts';
import type { ResponseFilterFor } from '../io/forward.ts';
import type { ForeignPlaceholder } from '../stages/credentials.ts';
import { placeholderReason } from './outcomes.ts';
import { headerValue, once } from './request-facts.ts';
import type { Admitted, AnyRequest } from './state.ts';

export type BodyTripwire = { wire: Tripwire; reason: (i: number) => string };

/** The body's tripwire: other rules' placeholders, when there are any. */
export function bodyTripwire(foreign: readonly ForeignPlaceholder[], host: string): BodyTripwire | undefined {
  if (foreign.length === 0) return undefined;
  return { wire: new Tripwire(foreign.map((p) => p.bytes)), reason: (i) => placeholderReason(foreign[i].host, host) };
}

/**
 * DLP (and the placeholder tripwire) over a request body. DLP captures what it released
 * (decoded, every finding redacted); the size stays the wire's.
 */
export function scanOptions(req: AnyRequest, a: Admitted, encoding: string | undefined, tripwire?: BodyTripwire): Parameters<typeof scanBody>[1] {
  const { config, flow, rules } = a;
  const capture = rules ? flow.bodies?.request : undefined;
  if (capture) Object.assign(capture, { decoded: true, wire: () => flow.bytesUp });
  return {
    rules,
    ...(tripwire ? { tripwire } : {}),
    location: 'request body',
    encoding,
    form: /^application\/x-www-form-urlencoded\b/i.test(headerValue(req.headers['content-type']) ?? ''),
    sameLength: !changesLength(encoding),
    maxDecodedBytes: config.dlp.maxDecodedBytes,
    maxRatio: config.dlp.maxRatio,
    wireBytes: () => flow.bytesUp,
    onFinding: (f) => (flow.findings ??= []).push(f),
    ...(capture ? { onStored: (b: Buffer, pieces?: StoredPieces) => capture.add(b, pieces) } : {}),
  };
}

/** A body that is not forwarded, scanned for the record all the same: findings and the redacted copy. */
export async function storeScanned(req: AnyRequest, a: Admitted, body: Buffer, encoding: string | undefined): Promise<void> {
  if (!a.rules) return;
  try {
    for await (const chunk of scanBody(once(body), scanOptions(req, a, encoding))) void chunk;
  } catch {
    // blocked by DLP too: the findings are recorded, the body is not kept past the match
  }
}

/** Response filter for this exchange: scrubs every form of the values airlock injected, runs response DLP, feeds the store. */
export function responseFilterFor(echo: EchoSet | null, rules: Rules | null, flow: Flow): ResponseFilterFor | undefined {
  if (!echo && !rules) return undefined;
  return (headers) => {
    const capture = flow.bodies?.response;
    const filter = responseFilter({
      echo,
      rules,
      encoding: headerValue(headers['content-encoding']),
      contentType: headerValue(headers['content-type']),
      onFinding: (f) => (flow.findings ??= []).push(f),
      ...(capture ? { onStored: (b: Buffer) => capture.add(b) } : {}),
    });
    // The store keeps what the agent was given (scrubbed, decoded); the size stays the wire's.
    if (capture && filter?.stores) Object.assign(capture, { decoded: true, scrubbed: echo !== null, wire: () => flow.bytesDown });
    return filter;
  };
}
