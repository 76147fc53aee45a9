import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { LIMITS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { isThrottle } from '../storage/conditions.ts';

/** What an operation returns; rendered to API Gateway's shape in one place. */
export type HttpResponse =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; binary: Buffer; contentType: string; headers?: Record<string, string> }
  | { status: 204; headers?: Record<string, string> };

/** A JSON response. */
export function json(status: number, body: unknown, headers?: Record<string, string>): HttpResponse {
  return headers === undefined ? { status, json: body } : { status, json: body, headers };
}

/** Renders an operation's response for API Gateway (binary bodies are base64, as it requires). */
export function render(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  const headers = { ...(response.headers ?? {}) };
  if ('json' in response) {
    return { statusCode: response.status, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(response.json) };
  }
  if ('binary' in response) {
    return { statusCode: response.status, headers: { ...headers, 'content-type': response.contentType }, body: response.binary.toString('base64'), isBase64Encoded: true };
  }
  return { statusCode: response.status, headers };
}

/**
 * Maps any failure to the one error shape. SluiceErrors carry their own status; AWS
 * throttling becomes a retriable 429; storage faults a retriable 503; anything else is a
 * bug, logged with its stack and answered 500.
 */
export function errorResponse(error: unknown, log: (entry: Record<string, unknown>) => void = defaultLog): HttpResponse {
  const known = toSluiceError(error);
  if (known.code === 'UNKNOWN_SERVER_ERROR' || known.code === 'KAFKA_STORAGE_ERROR') {
    log({ level: 'ERROR', message: known.message, error: error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error) });
  }
  const headers: Record<string, string> = {};
  if (known.retryAfterSeconds !== undefined) headers['retry-after'] = String(known.retryAfterSeconds);
  const body = known.toJSON();
  return json(known.status, { ...body, message: truncate(body.message, LIMITS.maxErrorMessageChars) }, headers);
}

/** Messages may quote input (a name, a field); a huge input must not make a huge error. */
function truncate(message: string, maxChars: number): string {
  if (message.length <= maxChars) return message;
  // Never cut a surrogate pair in half: the JSON would carry a lone surrogate.
  const cut = /[\uD800-\uDBFF]/.test(message[maxChars - 1] ?? '') ? maxChars - 1 : maxChars;
  return `${message.slice(0, cut)}… (${message.length - cut} more characters)`;
}

function toSluiceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  if (isThrottle(error)) return new SluiceError('THROTTLING_QUOTA_EXCEEDED', 'Storage is throttling requests; retry after a short wait', { retryAfterSeconds: 1, cause: error });
  const fault = (error as { $fault?: unknown; $metadata?: unknown; code?: unknown }) ?? {};
  if (fault.$fault === 'server' || fault.code === 'ECONNREFUSED' || fault.code === 'ECONNRESET' || fault.code === 'ETIMEDOUT') {
    return new SluiceError('KAFKA_STORAGE_ERROR', 'Storage is unavailable; retry later', { retryAfterSeconds: 1, cause: error });
  }
  return new SluiceError('UNKNOWN_SERVER_ERROR', 'Internal error', { cause: error });
}

function defaultLog(entry: Record<string, unknown>): void {
  console.error(JSON.stringify(entry));
}
