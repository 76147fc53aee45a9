/**
 * A fault-injecting HTTP proxy for client tests (node:http only), placed between a client
 * and a local stack. Each request it forwards may, by a seeded draw, be delayed (answers
 * then come back reordered), dropped before it reaches the server, forwarded with its answer
 * lost (committed but never acknowledged), or answered 500 / 503 / 429 with Retry-After.
 * On top of the random faults, rules fail whole routes on demand (an outage of the groups
 * route, of everything), and `retarget` follows a server that restarted elsewhere.
 *
 * Seeded: the same seed draws the same faults for the same sequence of requests. Requests
 * of concurrent clients arrive in an order the machine decides, so a run is reproducible
 * in its fault mix, not request for request.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultKind = 'delay' | 'drop' | 'loseAnswer' | 'status500' | 'status503' | 'status429';

export interface ProxiedRequest {
  method: string;
  path: string;
}

export interface FaultPlan {
  seed: number;
  /** Probability of each fault per matching request; at most one fault applies. @default - none */
  rates?: Partial<Record<FaultKind, number>>;
  /** Requests the random faults apply to. @default - every request */
  match?: (request: ProxiedRequest) => boolean;
  /** A delayed request waits uniformly up to this long. @default 200 */
  maxDelayMs?: number;
  /** Retry-After sent with a 429 or 503. @default 1 */
  retryAfterSeconds?: number;
}

/** What a rule does to every request it matches, as long as it is in place. */
export type RuleAction = { kind: 'drop' } | { kind: 'status'; status: number; retryAfterSeconds?: number } | { kind: 'hang' };

export interface Rule {
  match: (request: ProxiedRequest) => boolean;
  action: RuleAction;
}

export interface FaultProxy {
  readonly url: string;
  /** Requests seen, with the fault applied ('pass' for none). */
  readonly log: Array<ProxiedRequest & { fault: FaultKind | 'pass' | 'rule' }>;
  /** Adds a rule in front of the random faults; returns a function that removes it. */
  rule(rule: Rule): () => void;
  /** Stops the random faults (rules stay). */
  calm(): void;
  /** Forwards to another server from now on (a restarted stack on a new port). */
  retarget(url: string): void;
  close(): Promise<void>;
}

/** mulberry32: a small, fast, seedable PRNG; plenty for picking faults. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULT_ORDER: readonly FaultKind[] = ['drop', 'loseAnswer', 'status500', 'status503', 'status429', 'delay'];

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Forwards a request and buffers the whole answer; rejects when the target cannot be reached. */
function forward(target: URL, req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: target.host, connection: 'close' };
    const upstream = httpRequest({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function answer(res: ServerResponse, status: number, error: string, retryAfterSeconds: number | undefined): void {
  const body = JSON.stringify({ error, message: `injected by the fault proxy (${status})`, retriable: true });
  res.writeHead(status, { 'content-type': 'application/json', ...(retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) }) });
  res.end(body);
}

/** Starts a proxy in front of `targetUrl` on a free port. */
export async function startFaultProxy(targetUrl: string, plan: FaultPlan): Promise<FaultProxy> {
  let target = new URL(targetUrl);
  const random = seededRandom(plan.seed);
  let rates = plan.rates ?? {};
  const rules: Rule[] = [];
  const log: FaultProxy['log'] = [];
  const hanging = new Set<ServerResponse>();
  const maxDelayMs = plan.maxDelayMs ?? 200;
  const retryAfterSeconds = plan.retryAfterSeconds ?? 1;

  const pick = (request: ProxiedRequest): FaultKind | 'pass' => {
    if (!(plan.match?.(request) ?? true)) return 'pass';
    // One draw per request, whatever the rates, so the sequence does not depend on them.
    const draw = random();
    let threshold = 0;
    for (const kind of FAULT_ORDER) {
      threshold += rates[kind] ?? 0;
      if (draw < threshold) return kind;
    }
    return 'pass';
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const request = { method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://proxy').pathname };
    const body = await readBody(req);
    const rule = rules.find((r) => r.match(request));
    if (rule !== undefined) {
      log.push({ ...request, fault: 'rule' });
      if (rule.action.kind === 'drop') return void req.socket.destroy();
      if (rule.action.kind === 'hang') return void hanging.add(res);
      return answer(res, rule.action.status, rule.action.status === 429 ? 'THROTTLING_QUOTA_EXCEEDED' : 'KAFKA_STORAGE_ERROR', rule.action.retryAfterSeconds);
    }
    const fault = pick(request);
    log.push({ ...request, fault });
    if (fault === 'drop') return void req.socket.destroy();
    if (fault === 'status500') return answer(res, 500, 'UNKNOWN_SERVER_ERROR', undefined);
    if (fault === 'status503') return answer(res, 503, 'KAFKA_STORAGE_ERROR', retryAfterSeconds);
    if (fault === 'status429') return answer(res, 429, 'THROTTLING_QUOTA_EXCEEDED', retryAfterSeconds);
    if (fault === 'delay') await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * maxDelayMs)));
    let upstream;
    try {
      upstream = await forward(target, req, body);
    } catch {
      // The server is down (restarting): the client sees a connection that closes unanswered.
      return void req.socket.destroy();
    }
    if (fault === 'loseAnswer') return void req.socket.destroy();
    const { connection: _c, 'keep-alive': _k, 'transfer-encoding': _t, ...headers } = upstream.headers;
    res.writeHead(upstream.status, { ...headers, 'content-length': String(upstream.body.length) });
    res.end(upstream.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    rule(rule) {
      rules.push(rule);
      return () => {
        const at = rules.indexOf(rule);
        if (at >= 0) rules.splice(at, 1);
        if (rule.action.kind !== 'hang') return;
        // Hung requests end as dropped connections once the hang is lifted.
        for (const res of hanging) res.socket?.destroy();
        hanging.clear();
      };
    },
    calm() {
      rates = {};
    },
    retarget(url) {
      target = new URL(url);
    },
    close() {
      for (const res of hanging) res.socket?.destroy();
      hanging.clear();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
