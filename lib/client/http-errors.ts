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

/** A request that got no HTTP answer (refused, reset, DNS, timed out) as a retriable REQUEST_TIMED_OUT. */
export function networkError(url: URL, error: unknown, timedOut: boolean): SluiceError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const reason = timedOut
    ? 'no answer within the request timeout'
    : typeof cause?.code === 'string'
      ? cause.code
      : typeof cause?.message === 'string'
        ? cause.message
        : error instanceof Error
          ? error.message
          : String(error);
  const details: ErrorDetails = { network: true };
  return new SluiceError('REQUEST_TIMED_OUT', `No response from ${url.origin}: ${reason}`, { details, cause: error });
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
