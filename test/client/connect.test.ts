/**
 * connect() and disconnect() on every client, a connection failure named by its cause, and
 * subscribe's fromBeginning: what kafkajs users expect of the native client.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice } from '../../lib/client/index.ts';
import { startTestStack } from '../support/stack.ts';
import { createTopic } from './helpers.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const ONCE = { retries: 0 } as const;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createNetServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listening(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return (server.address() as AddressInfo).port;
}

describe('connect() and disconnect()', () => {
  it('resolve on producer, consumer, group consumer and admin against a running stack', async () => {
    const sluice = new Sluice({ url: stack.url });
    const clients = [sluice.producer(), sluice.consumer(), sluice.consumer({ groupId: 'connect-g' }), sluice.admin()];
    for (const client of clients) await client.connect();
    for (const client of clients) await client.disconnect();
  });

  it('name a refused localhost URL and say to check that `npm start` is running', async () => {
    const port = await closedPort();
    const sluice = new Sluice({ url: `http://localhost:${port}`, retry: ONCE });
    for (const client of [sluice.producer(), sluice.consumer(), sluice.consumer({ groupId: 'g' }), sluice.admin()]) {
      await expect(client.connect()).rejects.toMatchObject({
        code: 'REQUEST_TIMED_OUT',
        details: { network: 'refused' },
        message: `Connection refused by http://localhost:${port} (ECONNREFUSED): is the local stack running? Start it with \`npm start\``,
      });
    }
  });

  it('names an unknown host', async () => {
    const admin = new Sluice({ url: 'http://sluice-nowhere.invalid', retry: ONCE }).admin();
    await expect(admin.connect()).rejects.toMatchObject({ details: { network: 'unknown-host' }, message: expect.stringMatching(/^Unknown host sluice-nowhere\.invalid \(E[A-Z_]+\): check the url$/) });
  });

  it('names a TLS failure (https to a plain-http server)', async () => {
    const server = createHttpServer((_req, res) => res.end('{}'));
    const port = await listening(server);
    try {
      const admin = new Sluice({ url: `https://127.0.0.1:${port}`, retry: ONCE }).admin();
      await expect(admin.connect()).rejects.toMatchObject({ details: { network: 'tls' }, message: expect.stringMatching(/^TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed \(ERR_SSL_[A-Z_]+\).*the local stack speaks http, not https/) });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('names a timeout with the requestTimeoutMs that ran out', async () => {
    const server = createHttpServer(() => {});
    const port = await listening(server);
    try {
      const admin = new Sluice({ url: `http://127.0.0.1:${port}`, retry: { retries: 0, requestTimeoutMs: 200 } }).admin();
      await expect(admin.connect()).rejects.toMatchObject({ details: { network: 'timeout' }, message: `No response from http://127.0.0.1:${port}: timed out after 200 ms (requestTimeoutMs)` });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('subscribe({ fromBeginning })', () => {
  it('starts a new group at the log start of 2 partitions although autoOffsetReset is latest', async () => {
    // Prepare
    await createTopic(stack.url, 'from-beginning', 2);
    const sluice = new Sluice({ url: stack.url });
    const producer = sluice.producer();
    await producer.send({ topic: 'from-beginning', messages: [0, 1, 2, 3].map((i) => ({ partition: i % 2, value: `v${i}` })) });
    await producer.disconnect();
    const consumer = sluice.consumer({ groupId: 'from-beginning-g', autoOffsetReset: 'latest', maxWaitMs: 200, sessionTimeoutMs: 6000, heartbeatIntervalMs: 300 });
    const seen: string[] = [];
    let all!: () => void;
    const done = new Promise<void>((resolve) => (all = resolve));

    // Act
    consumer.subscribe({ topics: ['from-beginning'], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        seen.push(String(message.value));
        if (seen.length === 4) all();
      },
    });
    await done;
    await consumer.disconnect();

    // Assess
    expect(seen.sort()).toEqual(['v0', 'v1', 'v2', 'v3']);
  });
});

describe('autoCommitThreshold', () => {
  it('commits once 5 records are processed although the commit interval is a minute away', async () => {
    // Prepare
    await createTopic(stack.url, 'threshold', 1);
    const sluice = new Sluice({ url: stack.url });
    const producer = sluice.producer();
    await producer.send({ topic: 'threshold', messages: Array.from({ length: 5 }, (_, i) => ({ value: `v${i}` })) });
    await producer.disconnect();
    const consumer = sluice.consumer({ groupId: 'threshold-g', autoOffsetReset: 'earliest', maxWaitMs: 200, sessionTimeoutMs: 6000, heartbeatIntervalMs: 300, autoCommitIntervalMs: 60_000, autoCommitThreshold: 5 });
    const committed: number[] = [];
    consumer.on('commit', (offsets) => committed.push(...offsets.map((o) => o.offset)));

    // Act
    consumer.subscribe({ topic: 'threshold' });
    await consumer.run({ eachMessage: () => {} });
    const deadline = Date.now() + 20_000;
    while (committed.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const listed = await sluice.admin().fetchOffsets('threshold-g');
    await consumer.disconnect();

    // Assess
    expect(committed).toEqual([5]);
    expect(listed.map((o) => o.offset)).toEqual([5]);
  });
});
