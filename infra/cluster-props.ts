/**
 * SluiceCluster's props: their documentation, their defaults, and the one function that
 * validates them and fills the defaults in, before any resource is created.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { SluiceAuthorization } from './authorization.ts';
import { ROUTES, routeKey, type FunctionName, type RouteSpec } from '../lib/http/routes.ts';

export interface SluiceClusterProps {
  /**
   * Prefix of the names people read: the HTTP API, the dashboard and the alarms. Letters,
   * digits, `-` and `_`, starting with a letter, at most 40 characters. Resources whose
   * names AWS need not know (bucket, table, functions) keep CloudFormation-generated names.
   * @default - a name unique to the construct's path, e.g. `Sluice-Cluster-1a2b3c4d`
   */
  readonly namePrefix?: string;
  /**
   * What happens to the bucket, the table and the log groups when the cluster leaves the
   * stack. With DESTROY the bucket is emptied first (autoDeleteObjects).
   * @default RemovalPolicy.RETAIN - records outlive the stack
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * DynamoDB deletion protection on the table. Must be false with RemovalPolicy.DESTROY,
   * or CloudFormation could not delete the table.
   * @default - true, unless removalPolicy is DESTROY
   */
  readonly deletionProtection?: boolean;
  /**
   * How long the functions' logs and the API's access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * How API callers authenticate: `SluiceAuthorization.iam()` (SigV4, allowed per principal
   * by the grant methods), `.jwt({ issuer, audience })` (bearer tokens, each route requiring
   * a `sluice/produce`, `sluice/consume` or `sluice/admin` scope), or
   * `.none({ acknowledgeUnauthenticated: true })` (anyone who reaches the URL; synth warns).
   * @default SluiceAuthorization.iam()
   */
  readonly authorization?: SluiceAuthorization;
  /**
   * Memory of the admin function (topics and health), 128-10240 MiB.
   * @default 256
   */
  readonly adminMemorySizeMb?: number;
  /**
   * Memory of the produce function. CPU grows with memory, and produce validates CRCs and
   * may compress.
   * @default 1024
   */
  readonly produceMemorySizeMb?: number;
  /**
   * Memory of the fetch function; it also holds a 64 MiB cache of segment bytes.
   * @default 1024
   */
  readonly fetchMemorySizeMb?: number;
  /**
   * Memory of the groups function (consumer groups: heartbeats, committed offsets). CPU
   * grows with memory, and every member's heartbeat waits on it, assignment included; a
   * reset to a timestamp also reads segments through the 64 MiB segment cache.
   * @default 512
   */
  readonly groupsMemorySizeMb?: number;
  /**
   * Reserved concurrency of the admin function.
   * @default - none: the function draws on the account's unreserved concurrency
   */
  readonly adminReservedConcurrency?: number;
  /**
   * Reserved concurrency of the produce function; it also caps concurrent appends.
   * @default - none: the function draws on the account's unreserved concurrency
   */
  readonly produceReservedConcurrency?: number;
  /**
   * Reserved concurrency of the fetch function. Long polls hold an instance for up to 20 s.
   * @default - none: the function draws on the account's unreserved concurrency
   */
  readonly fetchReservedConcurrency?: number;
  /**
   * Reserved concurrency of the groups function. Reserving some keeps heartbeats running
   * when long polls take the account's unreserved concurrency: a member whose heartbeats
   * are throttled for its session timeout (45 s by default) is fenced and its partitions
   * reassigned, as when a Kafka consumer stops heartbeating.
   * @default - none: the function draws on the account's unreserved concurrency
   */
  readonly groupsReservedConcurrency?: number;
  /**
   * Steady-state requests per second that each route admits before API Gateway answers 429.
   * HTTP APIs apply the stage's default route throttling to every route separately, so the
   * API as a whole admits up to this many per route; the account-wide limit per region
   * (10,000 requests per second by default) caps the sum.
   * @default 1000
   */
  readonly throttleRateLimit?: number;
  /**
   * Requests each route admits in a burst above the steady rate.
   * @default 2000
   */
  readonly throttleBurstLimit?: number;
  /**
   * Per-route throttling that replaces throttleRateLimit / throttleBurstLimit for the routes
   * named, by operation id as in docs/openapi.yaml: e.g. `{ heartbeat: { rateLimit: 5000,
   * burstLimit: 5000 } }` so that heartbeats of a large group are never throttled, or a low
   * limit on `deleteTopic`.
   * @default - every route uses throttleRateLimit and throttleBurstLimit
   */
  readonly routeThrottles?: Readonly<Record<string, RouteThrottle>>;
  /**
   * Whether the functions send traces to AWS X-Ray (Tracing.ACTIVE). Costs per trace.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * A customer-managed KMS key for the bucket (SSE-KMS, with an S3 bucket key) and the table.
   * The functions are granted its use.
   * @default - AWS-managed encryption: SSE-S3 for the bucket, the AWS-owned key for the table
   */
  readonly encryptionKey?: IKey;
  /**
   * A bucket that receives the data bucket's S3 server access logs, under `sluice-data/`.
   * @default - no server access logs (CloudTrail data events are the alternative)
   */
  readonly serverAccessLogsBucket?: IBucket;
  /**
   * On-demand throughput ceilings of the table, in request units per second: a runaway
   * client is then throttled instead of billed without bound.
   * @default - no ceiling beyond the account's table quotas
   */
  readonly maxTableReadRequestUnits?: number;
  /** @default - no ceiling beyond the account's table quotas */
  readonly maxTableWriteRequestUnits?: number;
  /**
   * Where the alarms send notifications when they fire.
   * @default - the alarms exist and show on the dashboard, but notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * Whether the bucket has the lifecycle backstop: one rule per rung of the expiry ladder
   * (lib/retention/lifecycle.ts), each expiring the `data/` objects whose expiry tag names
   * that many days. Objects are tagged from their topic's `retention.ms` when written, so
   * lifecycle never expires what retention keeps, and untagged objects (topics that keep
   * records forever, longer than the ladder's top rung, or by key) are never expired by it.
   * The compact function is the precise mechanism; this only bounds storage if it stops.
   * @default true
   */
  readonly retentionBackstop?: boolean;
  /**
   * Whether the cluster creates the compact function (retention, merging, garbage
   * collection) and schedules it every `compactionInterval`. Set false to bring your own
   * function and connect it with `scheduleCompaction`; without any, retention is left to
   * the lifecycle backstop and small segments are never merged.
   * @default true
   */
  readonly compaction?: boolean;
  /**
   * How often the scheduled compaction pass over every partition runs: a whole number of
   * minutes. Produce and DeleteRecords also request one-partition runs as they go.
   * @default Duration.minutes(5)
   */
  readonly compactionInterval?: Duration;
  /**
   * Memory of the compact function. A merge holds up to 4 MiB of segments at once and
   * reads through the 64 MiB segment cache; the rest is index items and listings.
   * @default 512
   */
  readonly compactMemorySizeMb?: number;
  /**
   * Reserved concurrency of the compact function; it caps how many partitions are
   * compacted at once. Asynchronous invocations beyond it wait in Lambda's queue.
   * @default - none: the function draws on the account's unreserved concurrency
   */
  readonly compactReservedConcurrency?: number;
  /**
   * The route table turned into API routes. Only tests pass it, to prove that a change to
   * the table reaches the API; deployments use the table the local server uses.
   * @default ROUTES from lib/http/routes.ts
   */
  readonly routes?: readonly RouteSpec[];
}

/** Throttling of one route. */
export interface RouteThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Requests admitted in a burst. */
  readonly burstLimit: number;
}

/** The props with every default applied; what the construct builds from. */
export interface ResolvedClusterProps {
  readonly namePrefix: string;
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  readonly logRetention: RetentionDays;
  readonly authorization: SluiceAuthorization;
  readonly memorySizeMb: Readonly<Record<ClusterFunctionName, number>>;
  readonly reservedConcurrency: Readonly<Record<ClusterFunctionName, number | undefined>>;
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  readonly routeThrottles: Readonly<Record<string, RouteThrottle>>;
  readonly tracing: boolean;
  readonly encryptionKey: IKey | undefined;
  readonly serverAccessLogsBucket: IBucket | undefined;
  readonly maxTableReadRequestUnits: number | undefined;
  readonly maxTableWriteRequestUnits: number | undefined;
  readonly alarmTopic: ITopic | undefined;
  readonly retentionBackstop: boolean;
  readonly compaction: boolean;
  readonly compactionInterval: Duration;
  readonly routes: readonly RouteSpec[];
}

/** How often compaction runs when neither compactionInterval nor scheduleCompaction's `every` says. */
export const DEFAULT_COMPACTION_INTERVAL = Duration.minutes(5);

/** Checks a compaction interval: EventBridge rates are whole minutes, at least one. */
export function checkCompactionInterval(every: Duration, what: string): void {
  const ms = every.toMilliseconds();
  if (!(ms >= 60_000 && ms % 60_000 === 0)) throw new Error(`Invalid ${what}: expected a whole number of minutes, at least 1, got ${every.toHumanString()}`);
}

export const CLUSTER_DEFAULTS = {
  removalPolicy: RemovalPolicy.RETAIN,
  logRetention: RetentionDays.ONE_MONTH,
  memorySizeMb: { admin: 256, produce: 1024, fetch: 1024, groups: 512, compact: 512 },
  throttleRateLimit: 1000,
  throttleBurstLimit: 2000,
  retentionBackstop: true,
  compaction: true,
  compactionInterval: DEFAULT_COMPACTION_INTERVAL,
} as const satisfies Partial<Record<keyof ResolvedClusterProps, unknown>>;

/** The functions behind the API: one per handler under functions/ that the route table names. */
export const FUNCTION_NAMES: readonly FunctionName[] = ['admin', 'produce', 'fetch', 'groups'];

/** Every function a cluster runs, each with its IAM policy: the API's, and compact, which only EventBridge and the other functions invoke. */
export type ClusterFunctionName = FunctionName | 'compact';
export const CLUSTER_FUNCTION_NAMES: readonly ClusterFunctionName[] = [...FUNCTION_NAMES, 'compact'];

/**
 * API Gateway waits at most 30 s for an integration (an HTTP API hard limit); a function
 * still running after that has lost its caller, so each stops just before.
 */
export const FUNCTION_TIMEOUT = Duration.seconds(29);

/**
 * The compact function's timeout, below Lambda's 15-minute maximum: a full pass walks every
 * partition in turn. A run cut short loses no data, since each step is a conditional write
 * on the state it read; its lease lapses and its half-written merge becomes an orphan that
 * a later run collects. The orphan grace period (COMPACTION.orphanGraceMs,
 * 1 hour) must stay longer than this and every other function's timeout: a produce or a
 * merge writes its object before committing the index entry that references it, and an
 * orphan scan in between must not take the object for garbage (a test holds this). A run
 * may outlive its partition lease (COMPACTION.leaseMs, 5 minutes); a second run may then
 * take the partition over, which costs wasted work only, as every write is conditional.
 */
export const COMPACT_FUNCTION_TIMEOUT = Duration.minutes(10);

const NAME_PREFIX = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;
const HTTP_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const PATH = /^(\/([A-Za-z0-9._~-]+|\{[A-Za-z][A-Za-z0-9_]*\}))+$/;

function fail(prop: string, value: unknown, expected: string): never {
  throw new Error(`Invalid SluiceClusterProps.${prop}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function integerIn(prop: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) fail(prop, value, `an integer from ${min} to ${max}`);
}

function validateRoutes(routes: readonly RouteSpec[]): void {
  if (routes.length === 0) fail('routes', routes, 'at least one route');
  const keys = new Set<string>();
  for (const route of routes) {
    if (!HTTP_METHODS.has(route.method)) fail('routes', route, `a method among ${[...HTTP_METHODS].join(', ')}`);
    if (!PATH.test(route.path)) fail('routes', route, 'a path of /segments, each literal or {param}');
    if (!FUNCTION_NAMES.includes(route.function)) fail('routes', route, `a function among ${FUNCTION_NAMES.join(', ')}`);
    if (keys.has(routeKey(route))) fail('routes', route, 'each method and path once');
    keys.add(routeKey(route));
  }
  for (const name of FUNCTION_NAMES) {
    if (!routes.some((r) => r.function === name)) fail('routes', routes.map(routeKey), `at least one route served by the ${name} function`);
  }
}

/**
 * Checks every prop and applies the defaults. Throws on the first bad value, quoting it.
 * Tokens (values known only at deploy time) are not accepted for numbers checked here.
 */
export function resolveClusterProps(props: SluiceClusterProps, defaultNamePrefix: string): ResolvedClusterProps {
  const namePrefix = props.namePrefix ?? defaultNamePrefix;
  if (!NAME_PREFIX.test(namePrefix)) fail('namePrefix', namePrefix, `a name matching ${NAME_PREFIX.source}`);

  const removalPolicy = props.removalPolicy ?? CLUSTER_DEFAULTS.removalPolicy;
  const destroy = removalPolicy === RemovalPolicy.DESTROY;
  const deletionProtection = props.deletionProtection ?? !destroy;
  if (destroy && deletionProtection) fail('deletionProtection', deletionProtection, 'false with removalPolicy DESTROY (a protected table cannot be deleted)');

  const authorization = props.authorization ?? SluiceAuthorization.iam();
  if (!(authorization instanceof SluiceAuthorization)) fail('authorization', authorization, 'SluiceAuthorization.iam(), .jwt({ issuer, audience }) or .none({ acknowledgeUnauthenticated: true })');

  const memorySizeMb = {
    admin: props.adminMemorySizeMb ?? CLUSTER_DEFAULTS.memorySizeMb.admin,
    produce: props.produceMemorySizeMb ?? CLUSTER_DEFAULTS.memorySizeMb.produce,
    fetch: props.fetchMemorySizeMb ?? CLUSTER_DEFAULTS.memorySizeMb.fetch,
    groups: props.groupsMemorySizeMb ?? CLUSTER_DEFAULTS.memorySizeMb.groups,
    compact: props.compactMemorySizeMb ?? CLUSTER_DEFAULTS.memorySizeMb.compact,
  };
  // Lambda's memory range.
  for (const name of CLUSTER_FUNCTION_NAMES) integerIn(`${name}MemorySizeMb`, memorySizeMb[name], 128, 10_240);

  const reservedConcurrency = {
    admin: props.adminReservedConcurrency,
    produce: props.produceReservedConcurrency,
    fetch: props.fetchReservedConcurrency,
    groups: props.groupsReservedConcurrency,
    compact: props.compactReservedConcurrency,
  };
  // 0 would stop the function from running at all; the upper bound is Lambda's largest account quota.
  for (const name of CLUSTER_FUNCTION_NAMES) integerIn(`${name}ReservedConcurrency`, reservedConcurrency[name], 1, 100_000);

  const compaction = props.compaction ?? CLUSTER_DEFAULTS.compaction;
  const compactionInterval = props.compactionInterval ?? CLUSTER_DEFAULTS.compactionInterval;
  checkCompactionInterval(compactionInterval, 'SluiceClusterProps.compactionInterval');
  const compactProps = (['compactionInterval', 'compactMemorySizeMb', 'compactReservedConcurrency'] as const).filter((p) => props[p] !== undefined);
  if (!compaction && compactProps.length > 0) fail('compaction', compaction, `true (the default) when ${compactProps.join(' or ')} is set: they configure the cluster's own compact function`);

  const throttleRateLimit = props.throttleRateLimit ?? CLUSTER_DEFAULTS.throttleRateLimit;
  if (!(Number.isFinite(throttleRateLimit) && throttleRateLimit > 0)) fail('throttleRateLimit', throttleRateLimit, 'a positive number of requests per second');
  const throttleBurstLimit = props.throttleBurstLimit ?? CLUSTER_DEFAULTS.throttleBurstLimit;
  integerIn('throttleBurstLimit', throttleBurstLimit, 1, 1_000_000);

  const routes = props.routes ?? ROUTES;
  validateRoutes(routes);
  const routeThrottles = props.routeThrottles ?? {};
  const operations = new Set(routes.map((r) => r.operation));
  for (const [operation, throttle] of Object.entries(routeThrottles)) {
    if (!operations.has(operation)) fail('routeThrottles', operation, `an operation id among ${[...operations].join(', ')}`);
    if (!(Number.isFinite(throttle.rateLimit) && throttle.rateLimit > 0)) fail(`routeThrottles.${operation}.rateLimit`, throttle.rateLimit, 'a positive number of requests per second');
    integerIn(`routeThrottles.${operation}.burstLimit`, throttle.burstLimit, 1, 1_000_000);
  }
  integerIn('maxTableReadRequestUnits', props.maxTableReadRequestUnits, 1, 40_000_000);
  integerIn('maxTableWriteRequestUnits', props.maxTableWriteRequestUnits, 1, 40_000_000);

  return {
    namePrefix,
    removalPolicy,
    deletionProtection,
    logRetention: props.logRetention ?? CLUSTER_DEFAULTS.logRetention,
    authorization,
    memorySizeMb,
    reservedConcurrency,
    throttleRateLimit,
    throttleBurstLimit,
    routeThrottles,
    tracing: props.tracing ?? false,
    encryptionKey: props.encryptionKey,
    serverAccessLogsBucket: props.serverAccessLogsBucket,
    maxTableReadRequestUnits: props.maxTableReadRequestUnits,
    maxTableWriteRequestUnits: props.maxTableWriteRequestUnits,
    alarmTopic: props.alarmTopic,
    retentionBackstop: props.retentionBackstop ?? CLUSTER_DEFAULTS.retentionBackstop,
    compaction,
    compactionInterval,
    routes,
  };
}
