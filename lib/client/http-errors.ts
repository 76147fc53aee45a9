/**
 * Rebuilds the server's errors on the client side. Every Sluice route answers an error
 * with `{"error": NAME, "message", "retriable", ...details}` (lib/http/response.ts); the
 * client turns that back into the same SluiceError, details (such as the bounds of
 * OFFSET_OUT_OF_RANGE) and Retry-After included. Anything else — a gateway's own error
 * page, a proxy, a dropped connection — is mapped onto the same table by its status, so
 * callers only ever see SluiceErrors.
 */
import { type ErrorDetails, type ErrorName, isErrorName, SluiceError } from '../errors.ts';

/** Seconds from a Retry-After header (delay-seconds or an HTTP-date), or undefined. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The error name a status maps to when the body is not a Sluice error (API Gateway, a proxy). */
function nameForStatus(status: number): ErrorName {
  if (status === 404) return 'NOT_FOUND';
  if (status === 405) return 'METHOD_NOT_ALLOWED';
  if (status === 413) return 'MESSAGE_TOO_LARGE';
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (status === 429) return 'THROTTLING_QUOTA_EXCEEDED';
  if (status === 504) return 'REQUEST_TIMED_OUT';
  if (status >= 500) return 'UNKNOWN_SERVER_ERROR';
  return 'INVALID_REQUEST';
}

function hint(status: number): string {
  if (status === 401 || status === 403) return ' (is the API IAM-authorized? sign requests with auth: { type: "iam" } and valid credentials)';
  return '';
}

/** Rebuilds the SluiceError an error response carries. `httpStatus` in its details is the status actually received. */
export function decodeErrorResponse(status: number, headers: Headers, body: Buffer): SluiceError {
  const retryAfterSeconds = parseRetryAfter(headers.get('retry-after'));
  const extra = retryAfterSeconds === undefined ? {} : { retryAfterSeconds };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed === 'object' && parsed !== null && isErrorName((parsed as { error?: unknown }).error)) {
    const { error, message, retriable: _retriable, ...rest } = parsed as { error: ErrorName; message?: unknown; retriable?: unknown } & Record<string, unknown>;
    const details: Record<string, string | number | boolean | null> = { httpStatus: status };
    for (const [name, value] of Object.entries(rest)) {
      if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) details[name] = value as string | number | boolean | null;
    }
    return new SluiceError(error, typeof message === 'string' ? message : error, { details, ...extra });
  }
  const text = typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string' ? (parsed as { message: string }).message : body.toString('utf8').slice(0, 200).trim();
  const message = `HTTP ${status}${text === '' ? '' : `: ${text}`}${hint(status)}`;
  return new SluiceError(nameForStatus(status), message, { details: { httpStatus: status }, ...extra });
}

/** Why a request got no HTTP answer, as `details.network` says it. */
export type NetworkFailure = 'refused' | 'unknown-host' | 'tls' | 'timeout' | 'reset' | 'other';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1', '0.0.0.0']);

function errorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  const own = (error as { code?: unknown } | undefined)?.code;
  return typeof own === 'string' ? own : undefined;
}

/** The failure's own words, first line only (OpenSSL's run over several). */
function errorText(error: unknown): string {
  const cause = (error as { cause?: { message?: unknown } } | undefined)?.cause;
  const text = typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.trim() ?? '';
}

/** Sorts a fetch failure by its cause: Node's fetch (undici) puts the socket's error code on `cause`. */
export function classifyNetworkFailure(error: unknown, timedOut: boolean): NetworkFailure {
  if (timedOut) return 'timeout';
  const code = errorCode(error) ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return 'unknown-host';
  if (/CERT|SSL|TLS|EPROTO/.test(code)) return 'tls';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return 'reset';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  return 'other';
}

/**
 * A request that got no HTTP answer, as a retriable REQUEST_TIMED_OUT whose message names the
 * cause (refused, unknown host, TLS, timeout, reset) and `details.network` carries it. A
 * refused local URL is nearly always a local stack that is not running, so it says so.
 */
export function networkError(url: URL, error: unknown, timedOut: boolean, timeoutMs?: number): SluiceError {
  const failure = classifyNetworkFailure(error, timedOut);
  const code = errorCode(error);
  const origin = url.origin;
  let message: string;
  switch (failure) {
    case 'refused':
      message = LOCAL_HOSTS.has(url.hostname)
        ? `Connection refused by ${origin} (ECONNREFUSED): is the local stack running? Start it with \`npm start\``
        : `Connection refused by ${origin} (ECONNREFUSED): nothing accepts connections at that host and port`;
      break;
    case 'unknown-host':
      message = `Unknown host ${url.hostname} (${code}): check the url`;
      break;
    case 'tls':
      message = `TLS handshake with ${origin} failed (${code})${url.protocol === 'https:' && LOCAL_HOSTS.has(url.hostname) ? ' (the local stack speaks http, not https)' : ''}`;
      break;
    case 'timeout':
      message = `No response from ${origin}: timed out${timedOut && timeoutMs !== undefined ? ` after ${timeoutMs} ms (requestTimeoutMs)` : code === undefined ? '' : ` (${code})`}`;
      break;
    case 'reset':
      message = `Connection to ${origin} closed before an answer (${code})`;
      break;
    default:
      message = `No response from ${origin}: ${code ?? errorText(error)}`;
  }
  const details: ErrorDetails = { network: failure };
  return new SluiceError('REQUEST_TIMED_OUT', message, { details, cause: error });
}

/**
 * The one question retry logic asks: can the same request succeed later? Yes when the error
 * says so (throttling, storage faults, timeouts, network errors) or for any 5xx, which can
 * be a Lambda that crashed or timed out in between.
 */
export function isRetriable(error: SluiceError): boolean {
  const status = typeof error.details.httpStatus === 'number' ? error.details.httpStatus : error.status;
  return error.retriable || status >= 500;
}
