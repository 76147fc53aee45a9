import { createStorage, type Storage } from '../lib/storage/clients.ts';
import { readEnv } from '../lib/config/env.ts';
import { ensureStorage } from '../lib/storage/provision.ts';
import type { Emulators } from './emulators.ts';
import { startServer, type Handlers, type LocalServer } from './server.ts';

export interface StackOptions {
  emulators: Pick<Emulators, 'dynamoEndpoint' | 's3Endpoint'>;
  tableName: string;
  bucketName: string;
  port: number;
  /** Run the compact function on this interval, as the EventBridge schedule does; off when undefined. */
  compactIntervalMs?: number;
}

export interface LocalStack {
  readonly url: string;
  readonly storage: Storage;
  readonly server: LocalServer;
  /** Stops the server and the compaction timer. */
  close(): Promise<void>;
}

/** The local name of the compact function, as produce's trigger invokes it. */
export const LOCAL_COMPACT_FUNCTION = 'sluice-compact';

/**
 * Points the process at the emulators through the same environment variables Lambda reads
 * (the SDK's AWS_ENDPOINT_URL_* conventions), provisions the table and bucket, and serves
 * the real handler modules.
 */
export async function startStack(options: StackOptions): Promise<LocalStack> {
  // EMF metric lines are for CloudWatch; locally they only bury the request log.
  if (process.env.SLUICE_LOG_LEVEL?.toLowerCase() !== 'debug') process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  Object.assign(process.env, {
    SLUICE_TABLE: options.tableName,
    SLUICE_BUCKET: options.bucketName,
    AWS_ENDPOINT_URL_DYNAMODB: options.emulators.dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: options.emulators.s3Endpoint,
    SLUICE_COMPACT_FUNCTION: LOCAL_COMPACT_FUNCTION,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    // s3rver accepts only its fixed key pair; DynamoDB Local accepts any. Real credentials
    // in the environment are replaced so they are never sent anywhere.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  const storage = createStorage(readEnv());
  await ensureStorage(storage);
  const [admin, produce, fetch, groups, compact] = await Promise.all([
    import('../functions/admin/handler.ts'),
    import('../functions/produce/handler.ts'),
    import('../functions/fetch/handler.ts'),
    import('../functions/groups/handler.ts'),
    import('../functions/compact/handler.ts'),
  ]);
  const handlers: Handlers = { admin: admin.handler, produce: produce.handler, fetch: fetch.handler, groups: groups.handler };
  const server = await startServer(handlers, options.port, { [LOCAL_COMPACT_FUNCTION]: compact.handler });
  // Produce's trigger reaches the compact function through the real Lambda client, here.
  process.env.AWS_ENDPOINT_URL_LAMBDA = server.url;
  let running: Promise<unknown> = Promise.resolve();
  const timer =
    options.compactIntervalMs === undefined
      ? undefined
      : setInterval(() => {
          running = compact.handler({ source: 'sluice.local-schedule' }).catch((error: unknown) => console.error(`scheduled compaction failed: ${String(error)}`));
        }, options.compactIntervalMs);
  timer?.unref();
  return {
    url: server.url,
    storage,
    server,
    close: async () => {
      if (timer !== undefined) clearInterval(timer);
      await running;
      await server.close();
    },
  };
}
