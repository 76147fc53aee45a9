/**
 * The client's one way to the API: builds the URL, signs when the deployment is
 * IAM-authorized, applies the request timeout, turns error responses into SluiceErrors and
 * retries what can succeed later — exponential backoff with full jitter (lib/retry.ts),
 * never sooner than the server's Retry-After (capped at MAX_RETRY_AFTER_MS).
 */
import { SluiceError } from '../errors.ts';
import { backoffDelayMs } from '../retry.ts';
import { createSigner, type AuthOptions, type RequestSigner, type SignerOptions } from './auth.ts';
import { decodeErrorResponse, isRetriable, networkError } from './http-errors.ts';
import type { ResolvedRetryOptions } from './options.ts';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  /** Path under the base URL, segments already encoded (see `pathOf`). */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Lower-case names. */
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Aborts the request and any retry wait; the AbortError is rethrown as is. */
  signal?: AbortSignal;
  /** Added to requestTimeoutMs, for a long poll's wait. */
  extraTimeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** Called before each retry; for logging and tests. */
export type RetryListener = (error: SluiceError, attempt: number, delayMs: number) => void;

/**
 * The longest a server's Retry-After is honoured. A gateway or proxy can answer an hour; a
 * client that sleeps that long looks hung, and backoff resumes at the cap instead.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

export interface TransportOptions {
  url: string;
  auth?: AuthOptions | undefined;
  fetch?: typeof globalThis.fetch | undefined;
  signer?: SignerOptions;
}

/** Joins path segments, percent-encoding each: `pathOf('v1', 'topics', name)`. */
export function pathOf(...segments: Array<string | number>): string {
  return `/${segments.map((s) => encodeURIComponent(String(s))).join('/')}`;
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The body as fetch's BodyInit. The DOM lib's BodyInit takes only views of an ArrayBuffer, and
 * a Buffer is typed as a view of ArrayBufferLike (which includes SharedArrayBuffer), so a
 * program type-checked with the DOM lib would fail here. A Buffer is never backed by a
 * SharedArrayBuffer unless made from one (we never do), so the same bytes are re-typed, not copied.
 */
function fetchBody(body: Buffer | string | undefined): string | Uint8Array<ArrayBuffer> | null {
  if (body === undefined) return null;
  if (typeof body === 'string') return body;
  return new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
}

export class Transport {
  readonly baseUrl: URL;
  /** The base URL's path without a trailing slash: '' or a stage such as '/prod'. */
  private readonly basePath: string;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly signer: RequestSigner | undefined;

  constructor(options: TransportOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new SluiceError('INVALID_CONFIG', `url must be an absolute http(s) URL, got ${JSON.stringify(options.url)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new SluiceError('INVALID_CONFIG', `url must be http or https, got ${JSON.stringify(options.url)}`);
    this.baseUrl = base;
    // A stage path (".../prod") is kept; routes are appended to it.
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.signer = createSigner(options.auth, base, options.signer);
  }

  /** Sends `request`, retrying per `retry`; resolves with a 2xx response or rejects with a SluiceError. */
  async send(request: HttpRequest, retry: ResolvedRetryOptions, onRetry?: RetryListener): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(request, retry.requestTimeoutMs + (request.extraTimeoutMs ?? 0));
      } catch (error) {
        if (!(error instanceof SluiceError) || !isRetriable(error) || attempt >= retry.retries) throw error;
        const backoff = backoffDelayMs(attempt, { baseMs: retry.retryBackoffMs, capMs: retry.retryBackoffMaxMs });
        const delayMs = Math.max(backoff, Math.min((error.retryAfterSeconds ?? 0) * 1000, MAX_RETRY_AFTER_MS));
        onRetry?.(error, attempt, delayMs);
        await abortableSleep(delayMs, request.signal);
      }
    }
  }

  /** Sends and parses a JSON answer (undefined for 204). */
  async json<T>(request: HttpRequest, retry: ResolvedRetryOptions, onRetry?: RetryListener): Promise<T> {
    const response = await this.send({ ...request, headers: { accept: 'application/json', ...request.headers } }, retry, onRetry);
    if (response.status === 204 || response.body.length === 0) return undefined as T;
    try {
      return JSON.parse(response.body.toString('utf8')) as T;
    } catch (error) {
      throw new SluiceError('UNKNOWN_SERVER_ERROR', `${request.method} ${request.path} answered ${response.status} with a body that is not JSON`, { cause: error });
    }
  }

  private url(request: HttpRequest): URL {
    const url = new URL(`${this.basePath}${request.path}`, this.baseUrl.origin);
    for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    return url;
  }

  private async once(request: HttpRequest, timeoutMs: number): Promise<HttpResponse> {
    const url = this.url(request);
    let headers: Record<string, string> = { ...request.headers };
    if (this.signer !== undefined) headers = await this.signer({ method: request.method, url, headers, body: request.body });
    delete headers.host;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal === undefined ? timeout : AbortSignal.any([request.signal, timeout]);
    let response: Response;
    let body: Buffer;
    try {
      response = await this.fetchImpl(url, { method: request.method, headers, body: fetchBody(request.body), signal });
      body = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      // The caller's own abort is not a failure to retry: hand it back untouched.
      if (request.signal?.aborted) throw request.signal.reason ?? error;
      throw networkError(url, error, timeout.aborted, timeoutMs);
    }
    if (response.status >= 400) throw decodeErrorResponse(response.status, response.headers, body);
    return { status: response.status, headers: response.headers, body };
  }
}
