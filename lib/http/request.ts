import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { LIMITS } from '../config/defaults.ts';
import { SluiceError, invalidRequest } from '../errors.ts';
import { nestsDeeperThan } from './json-depth.ts';

/** An API Gateway v2 request reduced to what operations need, decoded once at the edge. */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly pathParameters: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Decodes a payload-format-2.0 event; rejects oversized bodies before any parsing. */
export function requestFromEvent(event: APIGatewayProxyEventV2): HttpRequest {
  // Null-prototype maps: a header or parameter named `__proto__` is kept, and a name like
  // `constructor` reads as absent rather than as Object.prototype's.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers[name.toLowerCase()] = value;
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) query[name] = value;
  const pathParameters: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(event.pathParameters ?? {})) if (value !== undefined) pathParameters[name] = value;
  const raw = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (body.length > LIMITS.maxRequestBytes) {
    throw new SluiceError('MESSAGE_TOO_LARGE', `Request body is ${body.length} bytes; the limit is ${LIMITS.maxRequestBytes}`);
  }
  return { method: event.requestContext.http.method, path: event.rawPath, pathParameters, query, headers, body };
}

/** The media type of the request body, without parameters, lower-cased. */
export function mediaType(request: HttpRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Refuses invalid UTF-8 instead of replacing it with U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses the body as JSON; INVALID_REQUEST on bad JSON, invalid UTF-8 or nesting past LIMITS.maxJsonDepth, UNSUPPORTED_MEDIA_TYPE on another type. */
export function jsonBody(request: HttpRequest): unknown {
  const type = mediaType(request);
  if (type !== 'application/json' && !(type === '' && request.body.length === 0)) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Expected Content-Type application/json, got ${JSON.stringify(request.headers['content-type'] ?? '')}`);
  }
  if (request.body.length === 0) throw invalidRequest('Request body is empty; expected a JSON object');
  let text: string;
  try {
    text = UTF8.decode(request.body);
  } catch {
    throw invalidRequest('Request body is not valid UTF-8 (RFC 8259 requires it of JSON)');
  }
  if (nestsDeeperThan(request.body, LIMITS.maxJsonDepth)) throw invalidRequest(`Request body nests JSON arrays and objects deeper than ${LIMITS.maxJsonDepth} levels`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalidRequest(`Request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The path parameter `name`, which the route guarantees. */
export function pathParameter(request: HttpRequest, name: string): string {
  const value = request.pathParameters[name];
  if (value === undefined) throw invalidRequest(`Missing path parameter ${name}`);
  return value;
}
