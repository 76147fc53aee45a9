/**
 * SluiceCluster: one Sluice deployment. An S3 bucket of segment objects, a DynamoDB table
 * of topics, heads, the index, consumer groups and their committed offsets, one Lambda
 * function per function named in the route
 * table, and an HTTP API whose routes are generated from that same table (the one the
 * local server dispatches with), so the deployed API and the local one cannot drift. Plus
 * the compact function (retention, merging, garbage collection), run on a schedule and on
 * request by produce and admin.
 */
import { Duration, Names, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, type HttpStage, type IHttpRouteAuthorizer, LogGroupLogDestination, PayloadFormatVersion } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { BundlingOptions, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { FunctionName, OperationOf, RouteSpec } from '../lib/http/routes.ts';
import { TTL_ATTRIBUTE } from '../lib/storage/provision.ts';
import { lifecycleRules } from './bucket-lifecycle.ts';
import { capitalized, createClusterFunction } from './cluster-function.ts';
import { ClusterMonitoring, type MonitoredFunction } from './cluster-monitoring.ts';
import {
  checkCompactionInterval,
  COMPACT_FUNCTION_TIMEOUT,
  DEFAULT_COMPACTION_INTERVAL,
  FUNCTION_NAMES,
  FUNCTION_TIMEOUT,
  resolveClusterProps,
  type ClusterFunctionName,
  type ResolvedClusterProps,
  type SluiceClusterProps,
} from './cluster-props.ts';
import { COMPACT_FUNCTION_ENV, COMPACTION_TRIGGERS } from './function-access.ts';
import { bundlingOptions } from './function-bundling.ts';

export type { SluiceAuthorization, SluiceClusterProps } from './cluster-props.ts';
export { DEFAULT_COMPACTION_INTERVAL } from './cluster-props.ts';

/**
 * Operations a producer may call besides its function's routes: the health check, and the
 * topic metadata (partition count, max.message.bytes) a client needs to partition and batch.
 */
const PRODUCER_OPERATIONS: ReadonlySet<string> = new Set(['health', 'listTopics', 'describeTopic']);

/**
 * The group operations a consumer calls, as a Kafka consumer in a group does: join and stay
 * in it (heartbeat, KIP-848's ConsumerGroupHeartbeat), commit and fetch its offsets
 * (OffsetCommit, OffsetFetch), and list and describe groups. resetOffsets is not among them:
 * see ADMIN_GROUP_OPERATIONS. Listed one by one, not as "the groups function's routes", so
 * a new group route is granted to no one until it is placed here or there.
 */
const CONSUMER_GROUP_OPERATIONS = ['heartbeat', 'commitOffsets', 'fetchOffsets', 'listGroups', 'describeGroup'] as const satisfies readonly OperationOf<'groups'>[];

/**
 * The group operations an administrator calls. resetOffsets is Kafka's
 * `kafka-consumer-groups --reset-offsets` (Admin API AlterConsumerGroupOffsets): an
 * operator's tool, run while the group is empty, never part of a consumer's poll loop; so
 * it is grantAdmin's alone. With it come the reads the same tool makes (`--list`,
 * `--describe`, the offsets), since whoever resets must first see that the group is empty.
 */
const ADMIN_GROUP_OPERATIONS = ['resetOffsets', 'listGroups', 'describeGroup', 'fetchOffsets'] as const satisfies readonly OperationOf<'groups'>[];

/** Operations a consumer may call besides the fetch function's routes: the metadata it needs, and its group's coordination and offsets. */
const CONSUMER_OPERATIONS: ReadonlySet<string> = new Set(['health', 'listTopics', 'describeTopic', ...CONSUMER_GROUP_OPERATIONS]);
/** Operations an administrator may call besides the admin function's routes. */
const ADMIN_OPERATIONS: ReadonlySet<string> = new Set(ADMIN_GROUP_OPERATIONS);

/** One JSON line per request, from HTTP API context variables; `caller` is the SigV4 principal. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  integrationLatencyMs: '$context.integration.latency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
};

/**
 * The path part of an execute-api ARN for `route`: each `{param}` becomes `*`. IAM's `*`
 * also matches `/`, so `GET /v1/topics/*` admits every GET below /v1/topics/ too.
 */
export function executeApiPath(route: RouteSpec): string {
  return route.path.replace(/\{[^}]+\}/g, '*');
}

export class SluiceCluster extends Construct {
  /** Segment objects, under `data/`. */
  readonly bucket: Bucket;
  /** Topics, partition heads, the segment index, consumer groups and committed offsets (keys pk/sk, see lib/storage/schema.ts and lib/groups/schema.ts). */
  readonly table: Table;
  readonly api: HttpApi;
  /** The API's `$default` stage, throttled; `api.url` is undefined because the stage is not the API's built-in one. */
  readonly stage: HttpStage;
  /** The API's base URL, ending in `/`. */
  readonly url: string;
  /** The Lambda functions behind the API (admin, produce, fetch, groups), by the name the route table uses. */
  readonly functions: Readonly<Record<FunctionName, NodejsFunction>>;
  /** The compact function the cluster schedules; undefined with `compaction: false`. */
  readonly compactFunction: NodejsFunction | undefined;
  readonly monitoring: ClusterMonitoring;
  private readonly settings: ResolvedClusterProps;

  constructor(scope: Construct, id: string, props: SluiceClusterProps = {}) {
    super(scope, id);
    const settings = resolveClusterProps(props, Names.uniqueResourceName(this, { maxLength: 40, separator: '-' }));
    this.settings = settings;
    this.bucket = this.createBucket(settings);
    this.table = this.createTable(settings);
    const bundling = bundlingOptions();
    this.functions = this.createFunctions(settings, bundling);
    const { api, stage } = this.createApi(settings);
    this.api = api;
    this.stage = stage;
    this.url = stage.url;
    const monitored: MonitoredFunction[] = (Object.entries(this.functions) as [FunctionName, NodejsFunction][]).map(([name, fn]) => ({ name, fn, timeout: FUNCTION_TIMEOUT }));
    if (settings.compaction) {
      this.compactFunction = createClusterFunction(this, {
        ...this.functionOptions(settings, bundling, 'compact'),
        description: 'Sluice compact: retention, merging and garbage collection',
        timeout: COMPACT_FUNCTION_TIMEOUT,
        // The schedule redoes whatever a failed run left, within compactionInterval; a retry
        // would only contend for the same leases.
        retryAttempts: 0,
      });
      this.scheduleCompaction(this.compactFunction, settings.compactionInterval);
      monitored.push({ name: 'compact', fn: this.compactFunction, timeout: COMPACT_FUNCTION_TIMEOUT });
    }
    this.monitoring = new ClusterMonitoring(this, 'Monitoring', {
      namePrefix: settings.namePrefix,
      functions: monitored,
      api,
      table: this.table,
      alarmTopic: settings.alarmTopic,
    });
  }

  /**
   * Lets `grantee` produce: the produce function's routes (records, producer ids), the
   * topic metadata a client partitions with, and the health check. Grants
   * are `execute-api:Invoke` permissions, so they matter with `iam` authorization only.
   */
  grantProduce(grantee: IGrantable): Grant {
    return this.grantInvoke(grantee, (r) => r.function === 'produce' || PRODUCER_OPERATIONS.has(r.operation));
  }

  /**
   * Lets `grantee` consume as a member of a consumer group: the fetch function's routes, the
   * metadata a consumer reads (list and describe topics, health), and the group routes a
   * Kafka consumer needs for group coordination: heartbeat (join, leave, assignment),
   * commit and fetch offsets, list and describe groups. Not resetting a group's offsets,
   * which is an administrator's operation (grantAdmin). IAM's wildcards do not let it in:
   * no consumer route's ARN pattern matches a path ending in `/offsets/reset`.
   */
  grantConsume(grantee: IGrantable): Grant {
    return this.grantInvoke(grantee, (r) => r.function === 'fetch' || CONSUMER_OPERATIONS.has(r.operation));
  }

  /**
   * Lets `grantee` administer the cluster: every admin route (create, list, describe,
   * alter, delete topics, delete records, health), and resetting a consumer group's
   * offsets, which only this grant allows (Kafka's `kafka-consumer-groups --reset-offsets`
   * is an Admin API operation, not a consumer's), with the group reads that go with it:
   * list and describe groups, fetch their offsets. Not heartbeats or commits, which are a
   * group member's. Because `GET /v1/topics/{topic}` becomes `GET /v1/topics/*` in IAM,
   * and IAM's `*` spans `/`, this also admits fetch's
   * `GET /v1/topics/{topic}/partitions/{partition}/records`.
   */
  grantAdmin(grantee: IGrantable): Grant {
    return this.grantInvoke(grantee, (r) => r.function === 'admin' || ADMIN_OPERATIONS.has(r.operation));
  }

  /**
   * Connects a compact function (retention, merging, garbage collection): runs `fn` every
   * `every` with the scheduled event (a pass over every partition), and lets the functions
   * that request one-partition runs (COMPACTION_TRIGGERS) invoke it asynchronously, by
   * setting SLUICE_COMPACT_FUNCTION on them and granting lambda:InvokeFunction on `fn`.
   *
   * IMPORTANT: the cluster already calls this for its own compact function unless created
   * with `compaction: false`, and a cluster has one schedule: a second call throws. Call it
   * yourself only with `compaction: false`, for a function of your own, which needs
   * SLUICE_TABLE / SLUICE_BUCKET and its access to the table and bucket
   * (`grantFunctionAccess(fn, 'compact', cluster.bucket, cluster.table)`).
   * @param every a whole number of minutes, at least one; @default DEFAULT_COMPACTION_INTERVAL
   */
  scheduleCompaction(fn: IFunction, every: Duration = DEFAULT_COMPACTION_INTERVAL): Rule {
    checkCompactionInterval(every, 'compaction interval');
    if (this.node.tryFindChild('CompactionSchedule') !== undefined) {
      const own = this.settings.compaction ? ': the cluster schedules its own compact function unless created with compaction: false' : '';
      throw new Error(`scheduleCompaction was already called on this cluster${own}; one compaction schedule per cluster`);
    }
    for (const name of COMPACTION_TRIGGERS) {
      const trigger = this.functions[name];
      trigger.addEnvironment(COMPACT_FUNCTION_ENV, fn.functionName);
      fn.grantInvoke(trigger);
    }
    return new Rule(this, 'CompactionSchedule', {
      description: `Runs Sluice compaction and retention every ${every.toHumanString()}`,
      schedule: Schedule.rate(every),
      // A missed run is harmless: the next one does the same work.
      targets: [new LambdaFunction(fn, { retryAttempts: 0 })],
    });
  }

  private grantInvoke(grantee: IGrantable, include: (route: RouteSpec) => boolean): Grant {
    const resourceArns = [...new Set(this.settings.routes.filter(include).map((r) => this.api.arnForExecuteApi(r.method, executeApiPath(r), this.stage.stageName)))];
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
  }

  private createBucket(settings: ResolvedClusterProps): Bucket {
    const destroy = settings.removalPolicy === RemovalPolicy.DESTROY;
    return new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Objects are written once and never overwritten; versions would only keep deleted data.
      versioned: false,
      lifecycleRules: lifecycleRules(settings.retentionBackstop),
      removalPolicy: settings.removalPolicy,
      autoDeleteObjects: destroy,
    });
  }

  private createTable(settings: ResolvedClusterProps): Table {
    // The same layout provision.ts creates for the emulators. `Table` rather than `TableV2`:
    // AWS::DynamoDB::Table is what LocalStack supports best.
    return new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: settings.deletionProtection,
      removalPolicy: settings.removalPolicy,
    });
  }

  private createFunctions(settings: ResolvedClusterProps, bundling: BundlingOptions): Record<FunctionName, NodejsFunction> {
    const used = new Set(settings.routes.map((r) => r.function));
    const functions: Partial<Record<FunctionName, NodejsFunction>> = {};
    for (const name of FUNCTION_NAMES.filter((n) => used.has(n))) {
      functions[name] = createClusterFunction(this, {
        ...this.functionOptions(settings, bundling, name),
        description: `Sluice ${name}: ${settings.routes.filter((r) => r.function === name).map((r) => r.operation).join(', ')}`,
        timeout: FUNCTION_TIMEOUT,
      });
    }
    return functions as Record<FunctionName, NodejsFunction>;
  }

  /** What every function shares, and `name`'s memory and concurrency. */
  private functionOptions(settings: ResolvedClusterProps, bundling: BundlingOptions, name: ClusterFunctionName) {
    return {
      name,
      memorySizeMb: settings.memorySizeMb[name],
      reservedConcurrency: settings.reservedConcurrency[name],
      logRetention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
      bucket: this.bucket,
      table: this.table,
      bundling,
    };
  }

  private createApi(settings: ResolvedClusterProps): { api: HttpApi; stage: HttpStage } {
    let authorizer: IHttpRouteAuthorizer | undefined;
    if (settings.authorization === 'iam') authorizer = new HttpIamAuthorizer();
    if (settings.authorization === 'jwt') {
      authorizer = new HttpJwtAuthorizer('JwtAuthorizer', settings.jwtIssuer as string, { jwtAudience: [...settings.jwtAudience] });
    }
    const api = new HttpApi(this, 'Api', {
      apiName: settings.namePrefix,
      description: 'Sluice: a Kafka-style event log over HTTP',
      // The stage below replaces the built-in one, which cannot be throttled or logged.
      createDefaultStage: false,
      ...(authorizer === undefined ? {} : { defaultAuthorizer: authorizer }),
    });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: settings.logRetention, removalPolicy: settings.removalPolicy });
    const stage = api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: settings.throttleRateLimit, burstLimit: settings.throttleBurstLimit },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)) },
    });
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    for (const [name, fn] of Object.entries(this.functions) as [FunctionName, NodejsFunction][]) {
      integrations.set(name, new HttpLambdaIntegration(`${capitalized(name)}Integration`, fn, { payloadFormatVersion: PayloadFormatVersion.VERSION_2_0 }));
    }
    for (const route of settings.routes) {
      api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration: integrations.get(route.function) as HttpLambdaIntegration });
    }
    return { api, stage };
  }
}
