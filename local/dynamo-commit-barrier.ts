/**
 * A loopback proxy in front of DynamoDB Local that answers a TransactWriteItems only once
 * the transaction is on disk.
 *
 * DynamoDB Local (SQLiteDBAccess.commitTransaction) queues a transaction's COMMIT on its one
 * SQLite thread and replies without waiting for it. Killed in that moment, it loses a
 * transaction it acknowledged, and with it an acknowledged produce (measured: the last of
 * 50 transactions lost in 2 runs of 3). Every later request queues behind that COMMIT on the
 * same thread, so a ListTables issued after the reply returns only once the COMMIT has run.
 * The proxy sends one before passing the reply on. AWS commits before it answers; the
 * local stack needs this only with data kept on disk (`npm start`).
 */
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from 'node:http';

export interface CommitBarrier {
  readonly endpoint: string;
  close(): Promise<void>;
}

function forward(agent: Agent, target: URL, method: string, headers: IncomingMessage['headers'], body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(target, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Waits until every COMMIT DynamoDB Local had queued has run. */
async function barrier(agent: Agent, target: URL): Promise<void> {
  const body = Buffer.from('{"Limit":1}');
  await forward(agent, target, 'POST', {
    'content-type': 'application/x-amz-json-1.0',
    'x-amz-target': 'DynamoDB_20120810.ListTables',
    // DynamoDB Local reads the access key from the credential scope and checks no signature.
    authorization: 'AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    'content-length': String(body.length),
  }, body);
}

/** Serves on a free loopback port, forwarding to `dynamoEndpoint`. */
export async function startCommitBarrier(dynamoEndpoint: string): Promise<CommitBarrier> {
  const target = new URL(dynamoEndpoint);
  const agent = new Agent({ keepAlive: true });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const reply = await forward(agent, target, req.method ?? 'POST', req.headers, await readAll(req));
      if (reply.status === 200 && req.headers['x-amz-target'] === 'DynamoDB_20120810.TransactWriteItems') await barrier(agent, target);
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    } catch (error) {
      // The SDK treats a dropped connection as retriable, as it would DynamoDB Local's own.
      res.destroy(error as Error);
    }
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
