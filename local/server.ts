/**
 * The local API Gateway: turns each HTTP request into the payload-format-2.0 event API
 * Gateway would send, routed by the same route table as the CDK stack, and calls the same
 * handler modules Lambda runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { LIMITS } from '../lib/config/defaults.ts';
import { SluiceError } from '../lib/errors.ts';
import type { LambdaHandler } from '../lib/http/handler.ts';
import { errorResponse, render } from '../lib/http/response.ts';
import { matchRoute, routeKey, type FunctionName } from '../lib/http/routes.ts';

/**
 * The route functions. `instance`, when given, picks one instance of the function
 * (SLUICE_INSTANCES, local/instances.ts); a handler run in this process has just one.
 */
export type Handlers = Record<FunctionName, (event: Parameters<LambdaHandler>[0], instance?: number) => ReturnType<LambdaHandler>>;

/** Functions reachable through the local Lambda Invoke API, by function name. */
export type Invocables = Record<string, (payload: unknown) => Promise<unknown>>;

/**
 * Local-only request header pinning a request to one instance of its function (0-based),
 * so tests can drive two instances into disagreement on purpose. API Gateway has no such thing.
 */
export const INSTANCE_HEADER = 'x-sluice-instance';

function pinnedInstance(req: IncomingMessage): number | undefined {
  const value = req.headers[INSTANCE_HEADER];
  if (value === undefined) return undefined;
  const instance = Number(value);
  if (!Number.isInteger(instance) || instance < 0) throw new SluiceError('INVALID_REQUEST', `${INSTANCE_HEADER} must be an instance number (0, 1, …), got ${JSON.stringify(value)}`);
  return instance;
}

/** Lambda's Invoke API path; the SDK's LambdaClient calls it when AWS_ENDPOINT_URL_LAMBDA points here. */
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** API Gateway passes text bodies through and base64-encodes the rest. */
function isTextual(contentType: string): boolean {
  return /^(text\/|application\/(json|x-www-form-urlencoded|xml))/i.test(contentType);
}

/**
 * The whole body, or a 400 once it has taken longer than `timeoutMs` to arrive: API Gateway
 * does not hold a request open for a client that trickles or never ends its body.
 */
function readBody(req: IncomingMessage, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The error listener stays: a later socket error on an abandoned body must not go unhandled.
      req.off('data', onData).off('end', onEnd);
      if (error === undefined) return resolve(Buffer.concat(chunks));
      // Stop reading; the reply goes out with `connection: close`.
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      // Lambda would refuse the payload; refuse early rather than buffer without bound.
      if (size > LIMITS.maxRequestBytes * 2) return finish(new SluiceError('MESSAGE_TOO_LARGE', `Request body exceeds ${LIMITS.maxRequestBytes} bytes`));
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    const timer = setTimeout(() => finish(new SluiceError('INVALID_REQUEST', `Request body did not arrive within ${timeoutMs} ms`)), timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', finish);
  });
}

/** The body deadline; SLUICE_LOCAL_BODY_TIMEOUT_MS shortens it for tests. */
function bodyTimeoutMs(): number {
  const fromEnv = Number(process.env.SLUICE_LOCAL_BODY_TIMEOUT_MS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : LIMITS.requestBodyTimeoutMs;
}

function toEvent(req: IncomingMessage, url: URL, body: Buffer, key: string, pathParameters: Record<string, string>): APIGatewayProxyEventV2 {
  // Null prototype: a header named `__proto__` is a header like any other.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  const query: Record<string, string> = {};
  // API Gateway joins repeated query parameters with commas.
  for (const [name, value] of url.searchParams) query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const text = isTextual(headers['content-type'] ?? '');
  const now = new Date();
  return {
    version: '2.0',
    routeKey: key,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: { method: req.method ?? 'GET', path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: key,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

function send(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded === true ? 'base64' : 'utf8');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  res.writeHead(result.statusCode ?? 200, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/**
 * Lambda's Invoke API, for the asynchronous compaction trigger: `Event` invocations are
 * accepted with 202 and run in the background, as Lambda queues them.
 */
async function invoke(invocables: Invocables, pending: Set<Promise<unknown>>, name: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
  const fn = invocables[decodeURIComponent(name)];
  const reply = (status: number, payload: unknown) => send(res, { statusCode: status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  if (fn === undefined) return reply(404, { Type: 'User', Message: `Function not found: ${name}` });
  let payload: unknown;
  try {
    payload = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    return reply(400, { Type: 'User', Message: 'Could not parse request body into json' });
  }
  if (req.headers['x-amz-invocation-type'] === 'Event') {
    const run = fn(payload).catch((error: unknown) => console.error(JSON.stringify({ level: 'ERROR', message: `async invocation of ${name} failed`, error: String(error) })));
    pending.add(run);
    void run.finally(() => pending.delete(run));
    return reply(202, {});
  }
  return reply(200, await fn(payload));
}

async function handle(handlers: Handlers, invocables: Invocables, pending: Set<Promise<unknown>>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readBody(req, bodyTimeoutMs());
    const invocation = req.method === 'POST' ? INVOKE_PATH.exec(url.pathname) : null;
    if (invocation?.[1] !== undefined) return await invoke(invocables, pending, invocation[1], req, body, res);
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    if (match.kind === 'not-found') throw new SluiceError('NOT_FOUND', `No route for ${req.method} ${url.pathname}`);
    if (match.kind === 'method-not-allowed') throw new SluiceError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}; allowed: ${match.allowed.join(', ')}`);
    const event = toEvent(req, url, body, routeKey(match.route), match.pathParameters);
    send(res, await handlers[match.route.function](event, pinnedInstance(req)));
  } catch (error) {
    // A body that never finished leaves the socket unusable: answer, then close it.
    if (!req.complete) res.setHeader('connection', 'close');
    send(res, render(errorResponse(error)));
  }
}

export interface LocalServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the API on 127.0.0.1:`port` (0 for any free port). */
export async function startServer(handlers: Handlers, port: number, invocables: Invocables = {}, host = '127.0.0.1'): Promise<LocalServer> {
  const pending = new Set<Promise<unknown>>();
  // SLUICE_LOG_LEVEL=info (or debug): one line per request, as `sluice -v` prints them.
  const logRequests = ['info', 'debug'].includes((process.env.SLUICE_LOG_LEVEL ?? '').toLowerCase());
  const server: Server = createServer((req, res) => {
    if (logRequests) {
      const started = performance.now();
      res.once('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode} ${Math.round(performance.now() - started)} ms`));
    }
    void handle(handlers, invocables, pending, req, res);
  });
  // Long polls hold a request for up to 20 s; keep-alive sockets must outlive them.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `http://${host}:${actualPort}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      // Let queued asynchronous invocations finish rather than cut them off mid-write.
      await Promise.allSettled([...pending]);
    },
  };
}
