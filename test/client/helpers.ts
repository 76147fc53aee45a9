/**
 * Fetch wrappers for client tests: count the requests a client makes, fail some of them
 * before they reach the server (the faults an emulator cannot produce on demand), or hold
 * them at a gate. Each wraps the real fetch, so whatever passes reaches the real local stack.
 */
import { api } from '../support/stack.ts';

export interface SeenRequest {
  method: string;
  path: string;
  bodyBytes: number;
}

/** Fails a request with this status and JSON body instead of sending it. */
export interface Fault {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FetchHarness {
  fetch: typeof globalThis.fetch;
  /** Every request, failed or forwarded. */
  seen: SeenRequest[];
  /** Faults to answer, in order, to requests `matches` selects. */
  faults: Fault[];
  /** Only these requests are faulted, gated or delayed. @default - POSTs of records */
  matches: (request: SeenRequest) => boolean;
  /** Held requests wait for this promise before being forwarded. */
  gate: Promise<void> | undefined;
  /** Extra latency for matching requests, ms. */
  delayMs: () => number;
  /** Matching requests whose answers are lost: forwarded, then failed as a dropped connection. */
  loseAnswers: number;
}

function bodySize(body: RequestInit['body']): number {
  if (body === undefined || body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
}

export function harness(): FetchHarness {
  const h: FetchHarness = {
    seen: [],
    faults: [],
    matches: (r) => r.method === 'POST' && r.path.endsWith('/records'),
    gate: undefined,
    delayMs: () => 0,
    loseAnswers: 0,
    fetch: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const request = { method: init?.method ?? 'GET', path: url.pathname, bodyBytes: bodySize(init?.body) };
      h.seen.push(request);
      if (h.matches(request)) {
        const fault = h.faults.shift();
        if (fault !== undefined) return new Response(JSON.stringify(fault.body), { status: fault.status, headers: { 'content-type': 'application/json', ...fault.headers } });
        if (h.gate !== undefined) await h.gate;
        const delay = h.delayMs();
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        if (h.loseAnswers > 0) {
          h.loseAnswers--;
          await (await fetch(input, init)).arrayBuffer();
          throw new TypeError('fetch failed: the connection dropped after the request was sent');
        }
      }
      return fetch(input, init);
    },
  };
  return h;
}

/** Number of requests seen that match. */
export function count(h: FetchHarness, method: string, suffix: string): number {
  return h.seen.filter((r) => r.method === method && r.path.endsWith(suffix)).length;
}

export async function createTopic(url: string, name: string, partitions: number, configs: Record<string, string | number> = {}): Promise<void> {
  const res = await api(url, 'POST', '/v1/topics', { name, partitions, configs });
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Every record of a partition, via the JSON fetch route (independent of the client's decoder). */
export async function readAll(url: string, topic: string, partition: number): Promise<Array<{ offset: number; key: string | null; value: string | null; headers: Record<string, string | null>; timestamp: number }>> {
  const records = [];
  let offset = 0;
  for (;;) {
    const res = await api(url, 'GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxRecords=10000&maxBytes=4194304`);
    if (res.status !== 200) throw new Error(`fetch ${topic}/${partition}: ${res.status} ${JSON.stringify(res.body)}`);
    records.push(...res.body.records);
    if (res.body.nextOffset >= res.body.highWatermark) return records;
    offset = res.body.nextOffset;
  }
}
