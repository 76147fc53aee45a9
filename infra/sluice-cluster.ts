/**
 * SluiceCluster: one Sluice deployment. An S3 bucket of segment objects, a DynamoDB table
 * of topics, heads, the index, consumer groups and their committed offsets, one Lambda
 * function per function named in the route
 * table, and an HTTP API whose routes are generated from that same table (the one the
 * local server dispatches with), so the deployed API and the local one cannot drift. Plus
 * the compact function (retention, merging, garbage collection), run on a schedule and on
 * request by produce and admin.
 */
import { Annotations, Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnStage, HttpApi, HttpMethod, type HttpStage, type IHttpRouteAuthorizer, LogGroupLogDestination, PayloadFormatVersion } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { BundlingOptions, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { ROUTES, routeKey, type FunctionName, type RouteSpec } from '../lib/http/routes.ts';
import { TTL_ATTRIBUTE } from '../lib/storage/provision.ts';
import { SluiceAuthorization, type AuthorizationMode } from './authorization.ts';
import { lifecycleRules } from './bucket-lifecycle.ts';
import { SluiceClusterBase, type ISluiceCluster } from './cluster-base.ts';
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
  type RouteThrottle,
  type SluiceClusterProps,
} from './cluster-props.ts';
import { COMPACT_FUNCTION_ENV, COMPACTION_TRIGGERS } from './function-access.ts';
import { bundlingOptions } from './function-bundling.ts';
import { jwtScopesFor } from './route-access.ts';
import { acknowledgeRules, acknowledgeScheduleRules } from './rule-acknowledgements.ts';

export type { RouteThrottle, SluiceClusterProps } from './cluster-props.ts';
export { SluiceAuthorization, JWT_SCOPES } from './authorization.ts';
export type { ISluiceCluster, SluiceMetricOptions } from './cluster-base.ts';
export type { GrantOptions } from './route-access.ts';

/** How long a queued one-partition compaction request may wait for the compact function. */
export const COMPACT_MAX_EVENT_AGE = Duration.minutes(15);
export { DEFAULT_COMPACTION_INTERVAL } from './cluster-props.ts';

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

/** What `SluiceCluster.fromClusterAttributes` needs to know of a cluster deployed elsewhere. */
export interface SluiceClusterAttributes {
  /** The HTTP API's id (the `ApiUrl` output's host starts with it). */
  readonly apiId: string;
  /**
   * The API's base URL, ending in `/`.
   * @default - `https://<apiId>.execute-api.<region>.<urlSuffix>/`
   */
  readonly url?: string;
  /**
   * How the cluster authorizes callers; grants warn unless it is IAM.
   * @default SluiceAuthorization.iam()
   */
  readonly authorization?: SluiceAuthorization;
  /**
   * The cluster's name prefix, which its metrics carry as the `service` dimension.
   * @default - none: the metric methods throw
   */
  readonly namePrefix?: string;
}

class ImportedSluiceCluster extends SluiceClusterBase {
  readonly apiId: string;
  readonly url: string;
  protected readonly stageName = '$default';
  protected readonly routes = ROUTES;
  protected readonly authorizationMode: AuthorizationMode;
  protected readonly metricsService: string | undefined;

  constructor(scope: Construct, id: string, attrs: SluiceClusterAttributes) {
    super(scope, id);
    this.apiId = attrs.apiId;
    this.metricsService = attrs.namePrefix;
    const stack = Stack.of(this);
    this.url = attrs.url ?? `https://${attrs.apiId}.execute-api.${stack.region}.${stack.urlSuffix}/`;
    this.authorizationMode = (attrs.authorization ?? SluiceAuthorization.iam()).mode;
  }
}

export class SluiceCluster extends SluiceClusterBase {
  /**
   * A cluster deployed by another stack or app, by its API id, so that this stack can grant
   * its own roles access to it (`grantProduce`, `grantConsume`, `grantAdmin`).
   */
  static fromClusterAttributes(scope: Construct, id: string, attrs: SluiceClusterAttributes): ISluiceCluster {
    return new ImportedSluiceCluster(scope, id, attrs);
  }

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
  readonly apiId: string;
  protected readonly stageName: string;
  protected readonly routes: readonly RouteSpec[];
  protected readonly authorizationMode: AuthorizationMode;
  protected readonly metricsService: string;
  private readonly settings: ResolvedClusterProps;
  /** The compaction schedule's interval, until the monitoring exists to alarm on it. */
  private compactionInterval: Duration | undefined;

  constructor(scope: Construct, id: string, props: SluiceClusterProps = {}) {
    super(scope, id);
    const settings = resolveClusterProps(props, Names.uniqueResourceName(this, { maxLength: 40, separator: '-' }));
    this.settings = settings;
    this.routes = settings.routes;
    this.authorizationMode = settings.authorization.mode;
    this.metricsService = settings.namePrefix;
    this.bucket = this.createBucket(settings);
    this.table = this.createTable(settings);
    const bundling = bundlingOptions();
    this.functions = this.createFunctions(settings, bundling);
    const { api, stage } = this.createApi(settings);
    this.api = api;
    this.stage = stage;
    this.url = stage.url;
    this.apiId = api.apiId;
    this.stageName = stage.stageName;
    const monitored: MonitoredFunction[] = (Object.entries(this.functions) as [FunctionName, NodejsFunction][]).map(([name, fn]) => ({ name, fn, timeout: FUNCTION_TIMEOUT }));
    if (settings.compaction) {
      this.compactFunction = createClusterFunction(this, {
        ...this.functionOptions(settings, bundling, 'compact'),
        description: 'Sluice compact: retention, merging and garbage collection',
        timeout: COMPACT_FUNCTION_TIMEOUT,
        // The schedule redoes whatever a failed run left, within compactionInterval; a retry
        // would only contend for the same leases.
        retryAttempts: 0,
        // Queued one-partition runs older than this are dropped (AsyncEventsDropped, which
        // alarms): by then scheduled passes have visited the partition anyway.
        maxEventAge: COMPACT_MAX_EVENT_AGE,
      });
      this.scheduleCompaction(this.compactFunction, settings.compactionInterval);
      monitored.push({ name: 'compact', fn: this.compactFunction, timeout: COMPACT_FUNCTION_TIMEOUT });
    }
    acknowledgeRules({
      bucket: this.bucket,
      functions: monitored.map(({ fn }) => ({ fn, role: fn.role })),
      compactFunction: this.compactFunction,
      api,
      authorization: settings.authorization.mode,
      tracing: settings.tracing,
      serverAccessLogs: settings.serverAccessLogsBucket !== undefined,
    });
    this.monitoring = new ClusterMonitoring(this, 'Monitoring', {
      namePrefix: settings.namePrefix,
      functions: monitored,
      api,
      table: this.table,
      alarmTopic: settings.alarmTopic,
      throttled: this.metricThrottled(),
      metricsService: settings.namePrefix,
    });
    if (this.compactionInterval !== undefined) this.monitoring.alarmOnCompaction(this.compactionInterval, this.metricOldestUncompactedSeconds());
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
    const rule = new Rule(this, 'CompactionSchedule', {
      description: `Runs Sluice compaction and retention every ${every.toHumanString()}`,
      schedule: Schedule.rate(every),
      // A missed run is harmless: the next one does the same work.
      targets: [new LambdaFunction(fn, { retryAttempts: 0 })],
    });
    acknowledgeScheduleRules(rule);
    // Called from the constructor, before the monitoring exists; it then adds the alarm itself.
    const monitoring = this.monitoring as ClusterMonitoring | undefined;
    if (monitoring === undefined) this.compactionInterval = every;
    else monitoring.alarmOnCompaction(every, this.metricOldestUncompactedSeconds());
    return rule;
  }

  private createBucket(settings: ResolvedClusterProps): Bucket {
    const destroy = settings.removalPolicy === RemovalPolicy.DESTROY;
    return new Bucket(this, 'Bucket', {
      ...(settings.encryptionKey === undefined
        ? { encryption: BucketEncryption.S3_MANAGED }
        : { encryption: BucketEncryption.KMS, encryptionKey: settings.encryptionKey, bucketKeyEnabled: true }),
      ...(settings.serverAccessLogsBucket === undefined ? {} : { serverAccessLogsBucket: settings.serverAccessLogsBucket, serverAccessLogsPrefix: 'sluice-data/' }),
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
      ...(settings.encryptionKey === undefined
        ? { encryption: TableEncryption.AWS_MANAGED }
        : { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: settings.encryptionKey }),
      ...(settings.maxTableReadRequestUnits === undefined ? {} : { maxReadRequestUnits: settings.maxTableReadRequestUnits }),
      ...(settings.maxTableWriteRequestUnits === undefined ? {} : { maxWriteRequestUnits: settings.maxTableWriteRequestUnits }),
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
      tracing: settings.tracing,
      encryptionKey: settings.encryptionKey,
      serviceName: settings.namePrefix,
      bucket: this.bucket,
      table: this.table,
      bundling,
    };
  }

  private createApi(settings: ResolvedClusterProps): { api: HttpApi; stage: HttpStage } {
    const { authorization } = settings;
    let authorizer: IHttpRouteAuthorizer | undefined;
    if (authorization.mode === 'iam') authorizer = new HttpIamAuthorizer();
    if (authorization.jwt !== undefined) {
      authorizer = new HttpJwtAuthorizer('JwtAuthorizer', authorization.jwt.issuer, { jwtAudience: [...authorization.jwt.audience] });
    }
    if (authorization.mode === 'none') {
      Annotations.of(this).addWarningV2('sluice:unauthenticated-api', 'The API has no authorization: anyone who reaches its URL can produce, consume, delete topics and reset offsets');
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
      api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrations.get(route.function) as HttpLambdaIntegration,
        // A token needs the scope of a family that may call the route (the grants' families).
        ...(authorization.mode === 'jwt' ? { authorizationScopes: jwtScopesFor(route) } : {}),
      });
    }
    const routeSettings = Object.fromEntries(
      settings.routes
        .filter((r) => settings.routeThrottles[r.operation] !== undefined)
        .map((r) => {
          const throttle = settings.routeThrottles[r.operation] as RouteThrottle;
          // RouteSettings is untyped JSON to CDK: CloudFormation's own key names.
          return [routeKey(r), { ThrottlingRateLimit: throttle.rateLimit, ThrottlingBurstLimit: throttle.burstLimit }];
        }),
    );
    if (Object.keys(routeSettings).length > 0) (stage.node.defaultChild as CfnStage).routeSettings = routeSettings;
    return { api, stage };
  }
}
