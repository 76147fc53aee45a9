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
}

export interface LocalStack {
  readonly url: string;
  readonly storage: Storage;
  readonly server: LocalServer;
}

/**
 * Points the process at the emulators through the same environment variables Lambda reads
 * (the SDK's AWS_ENDPOINT_URL_* conventions), provisions the table and bucket, and serves
 * the real handler modules.
 */
export async function startStack(options: StackOptions): Promise<LocalStack> {
  Object.assign(process.env, {
    SLUICE_TABLE: options.tableName,
    SLUICE_BUCKET: options.bucketName,
    AWS_ENDPOINT_URL_DYNAMODB: options.emulators.dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: options.emulators.s3Endpoint,
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
  const [admin, produce, fetch] = await Promise.all([
    import('../functions/admin/handler.ts'),
    import('../functions/produce/handler.ts'),
    import('../functions/fetch/handler.ts'),
  ]);
  const handlers: Handlers = { admin: admin.handler, produce: produce.handler, fetch: fetch.handler };
  const server = await startServer(handlers, options.port);
  return { url: server.url, storage, server };
}
