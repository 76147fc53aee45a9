import { fileURLToPath } from 'node:url';
import { createStorage, type Storage } from '../lib/storage/clients.ts';
import { readEnv } from '../lib/config/env.ts';
import { ensureStorage } from '../lib/storage/provision.ts';
import type { Emulators } from './emulators.ts';
import { FunctionInstances } from './instances.ts';
import { startServer, type Handlers, type LocalServer } from './server.ts';

export interface StackOptions {
  emulators: Pick<Emulators, 'dynamoEndpoint' | 's3Endpoint'>;
  tableName: string;
  bucketName: string;
  port: number;
  /** Run the compact function on this interval, as the EventBridge schedule does; off when undefined. */
  compactIntervalMs?: number;
  /**
   * Isolated instances per function (worker threads, each with its own module state), as
   * Lambda runs many; requests and compact invocations go round-robin. Undefined: every
   * handler runs in this process, sharing its module state with the caller (tests that
   * reach into that state, e.g. to inject faults, need this).
   */
  instances?: number;
}

export interface LocalStack {
  readonly url: string;
  readonly storage: Storage;
  readonly server: LocalServer;
  /** Instances per function; undefined when the handlers run in this process. */
  readonly instances: number | undefined;
  /** Starts every function instance now instead of at its first invocation (keeps cold starts out of timings). */
  warm(): Promise<void>;
  /** Stops the server, the compaction timer and the function instances. */
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
  // The instances' environment: this process's, as set up above, and the Lambda endpoint below.
  const instanceEnv: NodeJS.ProcessEnv = { ...process.env };
  const { handlers, compact, pools } = options.instances === undefined ? await inProcess() : isolated(options.instances, instanceEnv);
  const server = await startServer(handlers, options.port, { [LOCAL_COMPACT_FUNCTION]: compact });
  // Produce's trigger reaches the compact function through the real Lambda client, here.
  // Instances start at their first invocation, which comes after this, and copy it then.
  process.env.AWS_ENDPOINT_URL_LAMBDA = server.url;
  instanceEnv.AWS_ENDPOINT_URL_LAMBDA = server.url;
  let running: Promise<unknown> = Promise.resolve();
  const timer =
    options.compactIntervalMs === undefined
      ? undefined
      : setInterval(() => {
          running = compact({ source: 'sluice.local-schedule' }).catch((error: unknown) => console.error(`scheduled compaction failed: ${String(error)}`));
        }, options.compactIntervalMs);
  timer?.unref();
  return {
    url: server.url,
    storage,
    server,
    instances: options.instances,
    warm: async () => {
      await Promise.all(pools.map((pool) => pool.warm()));
    },
    close: async () => {
      if (timer !== undefined) clearInterval(timer);
      await running;
      await server.close();
      await Promise.all(pools.map((pool) => pool.close()));
    },
  };
}

type Functions = { handlers: Handlers; compact: (payload: unknown) => Promise<unknown>; pools: FunctionInstances[] };

/** The handler modules imported into this process: one instance of each, sharing module state. */
async function inProcess(): Promise<Functions> {
  const [admin, produce, fetch, groups, compact] = await Promise.all([
    import('../functions/admin/handler.ts'),
    import('../functions/produce/handler.ts'),
    import('../functions/fetch/handler.ts'),
    import('../functions/groups/handler.ts'),
    import('../functions/compact/handler.ts'),
  ]);
  return { handlers: { admin: admin.handler, produce: produce.handler, fetch: fetch.handler, groups: groups.handler }, compact: compact.handler, pools: [] };
}

/** `count` isolated instances of every function, each started with `env`. */
function isolated(count: number, env: NodeJS.ProcessEnv): Functions {
  const pool = (name: string) => new FunctionInstances(name, fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url)), count, env);
  const pools = { admin: pool('admin'), produce: pool('produce'), fetch: pool('fetch'), groups: pool('groups'), compact: pool('compact') };
  const route = (p: FunctionInstances) => async (event: unknown, instance?: number) => (await p.invoke(event, instance)) as Awaited<ReturnType<Handlers['admin']>>;
  return {
    handlers: { admin: route(pools.admin), produce: route(pools.produce), fetch: route(pools.fetch), groups: route(pools.groups) },
    compact: (payload) => pools.compact.invoke(payload),
    pools: Object.values(pools),
  };
}
