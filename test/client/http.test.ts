import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, type ErrorName, SluiceError } from '../../lib/errors.ts';
import { MAX_RETRY_AFTER_MS, Transport } from '../../lib/client/http.ts';
import { decodeErrorResponse, isRetriable, parseRetryAfter } from '../../lib/client/http-errors.ts';
import { resolveConsumerOptions, resolveProducerOptions, resolveRetryOptions, RETRY_DEFAULTS } from '../../lib/client/options.ts';

const FAST = { ...RETRY_DEFAULTS, retryBackoffMs: 1, retryBackoffMaxMs: 2 };

/** A fetch that answers from a script, one reply per call, the last repeated. */
function scripted(...replies: Array<() => Response | Promise<Response>>): { fetch: typeof globalThis.fetch; calls: number } {
  const state = { calls: 0, fetch: (async () => (replies[Math.min(state.calls++, replies.length - 1)] as () => Response)()) as typeof globalThis.fetch };
  return state;
}

const jsonReply = (status: number, body: unknown, headers: Record<string, string> = {}) => () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const ok = jsonReply(200, { topics: [] });

describe('decodeErrorResponse', () => {
  it.each(Object.keys(ERROR_TABLE) as ErrorName[])('rebuilds %s from its JSON body with the same status and retriability', (name) => {
    const error = decodeErrorResponse(ERROR_TABLE[name].status, new Headers(), Buffer.from(JSON.stringify({ error: name, message: 'm', retriable: ERROR_TABLE[name].retriable })));
    expect(error).toBeInstanceOf(SluiceError);
    expect(error).toMatchObject({ code: name, message: 'm', status: ERROR_TABLE[name].status, retriable: ERROR_TABLE[name].retriable });
  });

  it('keeps the details an error carries and the Retry-After it came with', () => {
    const error = decodeErrorResponse(416, new Headers({ 'retry-after': '2' }), Buffer.from('{"error":"OFFSET_OUT_OF_RANGE","message":"out","retriable":false,"logStartOffset":3,"highWatermark":9}'));
    expect(error.details).toEqual({ httpStatus: 416, logStartOffset: 3, highWatermark: 9 });
    expect(error.retryAfterSeconds).toBe(2);
  });

  it('maps a gateway’s own error page by its status', () => {
    expect(decodeErrorResponse(502, new Headers(), Buffer.from('{"message":"Internal server error"}'))).toMatchObject({ code: 'UNKNOWN_SERVER_ERROR', message: 'HTTP 502: Internal server error' });
    expect(decodeErrorResponse(429, new Headers(), Buffer.from('Too Many Requests'))).toMatchObject({ code: 'THROTTLING_QUOTA_EXCEEDED', retriable: true });
    expect(decodeErrorResponse(504, new Headers(), Buffer.alloc(0))).toMatchObject({ code: 'REQUEST_TIMED_OUT', message: 'HTTP 504' });
    expect(decodeErrorResponse(403, new Headers(), Buffer.from('{"message":"Forbidden"}')).message).toContain('auth: { type: "iam" }');
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('isRetriable', () => {
  it('retries what the error table calls retriable and any 5xx, nothing else', () => {
    expect(isRetriable(new SluiceError('THROTTLING_QUOTA_EXCEEDED', ''))).toBe(true);
    expect(isRetriable(new SluiceError('UNKNOWN_SERVER_ERROR', ''))).toBe(true);
    expect(isRetriable(new SluiceError('OFFSET_OUT_OF_RANGE', ''))).toBe(false);
    expect(isRetriable(new SluiceError('INVALID_REQUEST', '', { details: { httpStatus: 502 } }))).toBe(true);
  });
});

describe('Class: Transport', () => {
  describe('Method: send', () => {
    it('retries a 5xx without a Sluice body and then succeeds', async () => {
      const server = scripted(() => new Response('Bad Gateway', { status: 502 }), ok);
      const transport = new Transport({ url: 'http://sluice.test', fetch: server.fetch });
      expect(await transport.json({ method: 'GET', path: '/v1/topics' }, FAST)).toEqual({ topics: [] });
      expect(server.calls).toBe(2);
    });

    it('waits at least Retry-After before retrying', async () => {
      const server = scripted(jsonReply(429, { error: 'THROTTLING_QUOTA_EXCEEDED', message: 'slow', retriable: true }, { 'retry-after': '1' }), ok);
      const transport = new Transport({ url: 'http://sluice.test', fetch: server.fetch });
      const delays: number[] = [];
      const started = Date.now();
      await transport.send({ method: 'GET', path: '/v1/topics' }, FAST, (_, __, delayMs) => delays.push(delayMs));
      expect(delays).toEqual([1000]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    });

    it('caps a Retry-After of an hour at MAX_RETRY_AFTER_MS (60 s)', async () => {
      const server = scripted(jsonReply(503, { error: 'KAFKA_STORAGE_ERROR', message: 'later', retriable: true }, { 'retry-after': '3600' }), ok);
      const transport = new Transport({ url: 'http://sluice.test', fetch: server.fetch });
      const controller = new AbortController();
      const delays: number[] = [];
      const pending = transport.send({ method: 'GET', path: '/v1/topics', signal: controller.signal }, FAST, (_, __, delayMs) => {
        delays.push(delayMs);
        controller.abort();
      });
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(MAX_RETRY_AFTER_MS).toBe(60_000);
      expect(delays).toEqual([MAX_RETRY_AFTER_MS]);
    });

    it('does not retry a non-retriable error', async () => {
      const server = scripted(jsonReply(404, { error: 'UNKNOWN_TOPIC_OR_PARTITION', message: 'no topic', retriable: false }), ok);
      const transport = new Transport({ url: 'http://sluice.test', fetch: server.fetch });
      await expect(transport.send({ method: 'GET', path: '/v1/topics/x' }, FAST)).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
      expect(server.calls).toBe(1);
    });

    it('turns a network failure into a retriable REQUEST_TIMED_OUT and gives up after `retries`', async () => {
      const server = scripted(() => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) })));
      const transport = new Transport({ url: 'http://sluice.test:4100', fetch: server.fetch });
      const error = await transport.send({ method: 'GET', path: '/v1/topics' }, { ...FAST, retries: 3 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'REQUEST_TIMED_OUT', retriable: true, message: 'Connection refused by http://sluice.test:4100 (ECONNREFUSED): nothing accepts connections at that host and port' });
      expect(server.calls).toBe(4);
    });

    it('times a request out after requestTimeoutMs', async () => {
      const hanging: typeof globalThis.fetch = (_input, init) => new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
      const transport = new Transport({ url: 'http://sluice.test', fetch: hanging });
      await expect(transport.send({ method: 'GET', path: '/v1/topics' }, { ...FAST, retries: 0, requestTimeoutMs: 20 })).rejects.toMatchObject({ code: 'REQUEST_TIMED_OUT', message: 'No response from http://sluice.test: timed out after 20 ms (requestTimeoutMs)' });
    });

    it('rethrows the caller’s abort as is, without retrying', async () => {
      const controller = new AbortController();
      // The caller aborts as the first (retriable) answer arrives, so whatever the jittered
      // backoff drew (full jitter can draw 0 ms), the abort comes before any retry.
      const server = scripted(() => {
        controller.abort();
        return new Response('x', { status: 503 });
      });
      const transport = new Transport({ url: 'http://sluice.test', fetch: server.fetch });
      const pending = transport.send({ method: 'GET', path: '/v1/topics', signal: controller.signal }, { ...RETRY_DEFAULTS, retryBackoffMs: 1000, retryBackoffMaxMs: 1000 }).catch((e: unknown) => e);
      expect(await pending).toMatchObject({ name: 'AbortError' });
      expect(server.calls).toBe(1);
    });

    it('fails if the URL is not http(s)', () => {
      expect(() => new Transport({ url: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
      expect(() => new Transport({ url: 'nonsense' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    });
  });
});

describe('options', () => {
  it('applies Kafka’s defaults where Kafka has them', () => {
    expect(resolveProducerOptions(undefined, undefined)).toMatchObject({ lingerMs: 5, batchBytes: 1_048_576, maxInFlightRequests: 5, bufferMemoryBytes: 33_554_432, retries: 10, retryBackoffMs: 100, retryBackoffMaxMs: 1000, compression: 'none' });
    expect(resolveConsumerOptions(undefined, undefined)).toMatchObject({ autoOffsetReset: 'latest', maxBytesPerPartition: 1_048_576 });
  });

  it('lets a client’s options override the shared retry defaults, and undefined override nothing', () => {
    expect(resolveProducerOptions({ retries: 2, lingerMs: undefined }, { retries: 7, retryBackoffMs: 50 })).toMatchObject({ retries: 2, retryBackoffMs: 50, lingerMs: 5 });
    expect(resolveRetryOptions({ retries: Number.POSITIVE_INFINITY }).retries).toBe(Number.POSITIVE_INFINITY);
  });

  it.each([
    [{ lingerMs: -1 }, 'lingerMs must be an integer ≥ 0, got -1'],
    [{ batchBytes: 5_000_000 }, 'batchBytes must be an integer in [1, 4194304], got 5000000'],
    [{ compression: 'brotli' as never }, 'compression must be one of none, gzip, snappy, lz4, zstd, got "brotli"'],
    [{ retryBackoffMaxMs: 10 }, 'retryBackoffMaxMs must be an integer ≥ 100, got 10'],
  ])('fails if a producer option is out of range: %j', (options, message) => {
    expect(() => resolveProducerOptions(options, undefined)).toThrow(message);
  });

  it('fails if autoOffsetReset is not earliest, latest or none', () => {
    expect(() => resolveConsumerOptions({ autoOffsetReset: 'smallest' as never }, undefined)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });
});
