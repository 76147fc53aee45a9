/**
 * SluiceCluster's template: storage settings and the lifecycle ladder, least-privilege
 * roles, functions, API authorization and throttling, alarms, grants, the compact function
 * and its schedule, and prop validation. Routes and their wiring are in route-table.test.ts; the real bundles in
 * bundle.test.ts.
 */
import { Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMPACTION } from '../../lib/config/defaults.ts';
import { ROUTES, routeKey } from '../../lib/http/routes.ts';
import { EXPIRY_LADDER_DAYS, EXPIRY_TAG } from '../../lib/retention/lifecycle.ts';
import { CLUSTER_FUNCTION_NAMES, COMPACT_FUNCTION_TIMEOUT, FUNCTION_NAMES, FUNCTION_TIMEOUT, type ClusterFunctionName } from '../../infra/cluster-props.ts';
import { JWT_SCOPES, SluiceAuthorization, SluiceCluster, type SluiceClusterProps } from '../../infra/sluice-cluster.ts';
import { familyIncludes } from '../../infra/route-access.ts';
import { flatten, logicalId, resourcesOf, synthCustom, synthStack, warnings, type Synthesized } from './synth.ts';

let base: Synthesized;
beforeAll(() => {
  // GIVEN a stack with the default cluster
  base = synthStack();
});

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Sid?: string; Condition?: unknown };

function actions(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/** Every statement in the policies attached to `roleId`, with resources flattened; `condition` only when there is one. */
function roleStatements(s: Pick<Synthesized, 'template'>, roleId: string): Array<{ actions: string[]; resources: string[]; condition?: unknown }> {
  return Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties?.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties?.PolicyDocument.Statement as Statement[])
    .map((st) => {
      expect(st.Effect).toBe('Allow');
      const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
      return { actions: actions(st).sort(), resources: resources.map(flatten), ...(st.Condition === undefined ? {} : { condition: st.Condition }) };
    });
}

/** Any of the cluster's functions, compact included. */
function clusterFunction(cluster: SluiceCluster, name: ClusterFunctionName): LambdaFunction {
  const fn = name === 'compact' ? cluster.compactFunction : cluster.functions[name];
  if (fn === undefined) throw new Error(`the cluster has no ${name} function`);
  return fn;
}

function functionRoleId(s: Synthesized, name: ClusterFunctionName): string {
  const fn = resourcesOf(s.template, 'AWS::Lambda::Function')[logicalId(s.stack, clusterFunction(s.stack.cluster, name))];
  return (fn?.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

type Rule = { Id: string; Status: string; Prefix?: string; TagFilters?: unknown; ExpirationInDays?: number; AbortIncompleteMultipartUpload?: unknown };

function lifecycle(s: Pick<Synthesized, 'template'>): Rule[] {
  return Object.values(resourcesOf(s.template, 'AWS::S3::Bucket'))[0]?.Properties?.LifecycleConfiguration?.Rules as Rule[];
}

describe('SluiceCluster storage', () => {
  it('encrypts the bucket, blocks public access and retains it by default', () => {
    base.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      }),
    });
  });

  it('denies every request to the bucket that is not TLS 1.2 or later', () => {
    const policy = Object.values(resourcesOf(base.template, 'AWS::S3::BucketPolicy'))[0]?.Properties?.PolicyDocument.Statement as Statement[];
    expect(policy).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
      ]),
    );
  });

  it('aborts incomplete multipart uploads after a day', () => {
    expect(lifecycle(base)).toContainEqual({ Id: 'AbortIncompleteMultipartUploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' });
  });

  it.each(EXPIRY_LADDER_DAYS.map((days) => [days]))('expires data/ objects tagged %i days after that many days', (days) => {
    expect(lifecycle(base)).toContainEqual({
      Id: `ExpireTagged${days}Days`,
      Prefix: 'data/',
      TagFilters: [{ Key: EXPIRY_TAG, Value: String(days) }],
      ExpirationInDays: days,
      Status: 'Enabled',
    });
  });

  it('never expires an untagged object: every expiring rule filters on the expiry tag, and none covers the whole of data/', () => {
    const expiring = lifecycle(base).filter((r) => r.ExpirationInDays !== undefined);
    expect(expiring).toHaveLength(EXPIRY_LADDER_DAYS.length);
    for (const rule of expiring) expect(rule.TagFilters, rule.Id).toEqual([{ Key: EXPIRY_TAG, Value: String(rule.ExpirationInDays) }]);
    expect(lifecycle(base).map((r) => r.Id)).not.toContain('RetentionBackstop');
  });

  it('drops the ladder with retentionBackstop false, keeping the multipart rule', () => {
    expect(lifecycle(synthStack({ retentionBackstop: false })).map((r) => r.Id)).toEqual(['AbortIncompleteMultipartUploads']);
  });

  it('keys the table by pk/sk strings, on demand, with PITR, TTL on expiresAt and deletion protection', () => {
    base.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      }),
    });
  });

  it('encrypts bucket and table with a customer-managed key, logs bucket access and caps table throughput when asked', () => {
    let keyId = '';
    let logsId = '';
    const { template } = synthCustom((stack) => {
      const encryptionKey = new Key(stack, 'Key', { enableKeyRotation: true });
      const serverAccessLogsBucket = new Bucket(stack, 'AccessLogs');
      keyId = logicalId(stack, encryptionKey);
      logsId = logicalId(stack, serverAccessLogsBucket);
      new SluiceCluster(stack, 'Cluster', { encryptionKey, serverAccessLogsBucket, maxTableReadRequestUnits: 4000, maxTableWriteRequestUnits: 2000 });
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } }, BucketKeyEnabled: true }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'sluice-data/' },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
      OnDemandThroughput: { MaxReadRequestUnits: 4000, MaxWriteRequestUnits: 2000 },
    });
    // Every function may use the key, with exact actions.
    const kmsStatements = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .flatMap((p) => p.Properties?.PolicyDocument.Statement as Statement[])
      .filter((st) => actions(st).some((a) => a.startsWith('kms:')));
    expect(kmsStatements).toHaveLength(5);
    for (const st of kmsStatements) expect(actions(st).sort()).toEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
  });

  it('with RemovalPolicy.DESTROY deletes the bucket (emptying it first) and the unprotected table', () => {
    const { template } = synthStack({ removalPolicy: RemovalPolicy.DESTROY });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: false }) });
  });
});

/** The cluster's name prefix, as the API's name carries it. */
const prefixOf = (s: { template: Synthesized['template'] }) => String(Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Api'))[0]?.Properties?.Name);

describe('SluiceCluster functions', () => {
  it.each([
    ['admin', 256, 29],
    ['produce', 1024, 29],
    ['fetch', 1024, 29],
    ['groups', 512, 29],
    ['compact', 512, 600],
  ] as const)('runs %s on nodejs24.x, arm64, JSON logs at system level WARN, no tracing, with its memory default (%i MiB) and a %i s timeout', (name, memory, timeoutSeconds) => {
    const fn = resourcesOf(base.template, 'AWS::Lambda::Function')[logicalId(base.stack, clusterFunction(base.stack.cluster, name))];
    expect(fn?.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: memory,
      Timeout: timeoutSeconds,
      LoggingConfig: { LogFormat: 'JSON', SystemLogLevel: 'WARN' },
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_SERVICE_NAME: prefixOf(base) } },
    });
    const env = fn?.Properties?.Environment.Variables as Record<string, unknown>;
    expect(flatten(env.SLUICE_TABLE)).toBe(`\${${logicalId(base.stack, base.stack.cluster.table)}}`);
    expect(flatten(env.SLUICE_BUCKET)).toBe(`\${${logicalId(base.stack, base.stack.cluster.bucket)}}`);
    expect(fn?.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    expect(fn?.Properties?.TracingConfig ?? { Mode: 'PassThrough' }).toEqual({ Mode: 'PassThrough' });
  });

  it('sends traces to X-Ray from every function with tracing: true', () => {
    const { template } = synthStack({ tracing: true });
    const fns = Object.values(resourcesOf(template, 'AWS::Lambda::Function')).filter((f) => String(f.Properties?.Description).startsWith('Sluice'));
    expect(fns).toHaveLength(5);
    for (const fn of fns) expect(fn.Properties?.TracingConfig).toEqual({ Mode: 'Active' });
  });

  it('drops queued compaction requests after 15 minutes, when scheduled passes have covered them', () => {
    base.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(base.stack, clusterFunction(base.stack.cluster, 'compact')) },
      MaximumEventAgeInSeconds: 900,
      MaximumRetryAttempts: 0,
    });
  });

  it('applies memory and reserved concurrency props per function', () => {
    const s = synthStack({ produceMemorySizeMb: 2048, fetchReservedConcurrency: 50, groupsMemorySizeMb: 768, groupsReservedConcurrency: 10, compactMemorySizeMb: 1024, compactReservedConcurrency: 4 });
    const fns = resourcesOf(s.template, 'AWS::Lambda::Function');
    expect(fns[logicalId(s.stack, s.stack.cluster.functions.produce)]?.Properties?.MemorySize).toBe(2048);
    expect(fns[logicalId(s.stack, s.stack.cluster.functions.fetch)]?.Properties?.ReservedConcurrentExecutions).toBe(50);
    expect(fns[logicalId(s.stack, s.stack.cluster.functions.groups)]?.Properties).toMatchObject({ MemorySize: 768, ReservedConcurrentExecutions: 10 });
    expect(fns[logicalId(s.stack, clusterFunction(s.stack.cluster, 'compact'))]?.Properties).toMatchObject({ MemorySize: 1024, ReservedConcurrentExecutions: 4 });
  });

  it('keeps function logs for a month by default', () => {
    // One log group per function, and the API's access logs.
    base.template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, CLUSTER_FUNCTION_NAMES.length + 1);
  });

  it('keeps the orphan grace period longer than any function runs, so no writer loses an object it has yet to commit', () => {
    expect(COMPACT_FUNCTION_TIMEOUT.toMilliseconds()).toBeLessThan(COMPACTION.orphanGraceMs);
    expect(FUNCTION_TIMEOUT.toMilliseconds()).toBeLessThan(COMPACTION.orphanGraceMs);
    // And the compact function stays within Lambda's 15-minute maximum.
    expect(COMPACT_FUNCTION_TIMEOUT.toMinutes()).toBeLessThan(15);
  });
});

describe('SluiceCluster IAM', () => {
  const table = (s: Synthesized) => `\${${logicalId(s.stack, s.stack.cluster.table)}.Arn}`;
  const bucket = (s: Synthesized) => `\${${logicalId(s.stack, s.stack.cluster.bucket)}.Arn}`;
  /** What scheduleCompaction grants the functions that queue one-partition runs. */
  const invokeCompact = (s: Synthesized) => {
    const compact = `\${${logicalId(s.stack, clusterFunction(s.stack.cluster, 'compact'))}.Arn}`;
    return { actions: ['lambda:InvokeFunction'], resources: [compact, `${compact}:*`] };
  };
  const expected: Record<ClusterFunctionName, (s: Synthesized) => Array<{ actions: string[]; resources: string[]; condition?: unknown }>> = {
    admin: (s) => [
      {
        actions: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        resources: [table(s)],
      },
      { actions: ['s3:ListBucket'], resources: [bucket(s)] },
      { actions: ['s3:DeleteObject'], resources: [`${bucket(s)}/data/*`] },
      { actions: ['s3:DeleteObject'], resources: [`${bucket(s)}/blobs/*`] },
      invokeCompact(s),
    ],
    produce: (s) => [
      {
        actions: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        resources: [table(s)],
      },
      // Unconditional, like fetch's: a claim tells a blob never uploaded by its 404.
      { actions: ['s3:ListBucket'], resources: [bucket(s)] },
      { actions: ['s3:DeleteObject', 's3:PutObject', 's3:PutObjectTagging'], resources: [`${bucket(s)}/data/*`] },
      { actions: ['s3:GetObject', 's3:PutObject'], resources: [`${bucket(s)}/blobs/*`] },
      invokeCompact(s),
    ],
    fetch: (s) => [
      { actions: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'], resources: [table(s)] },
      { actions: ['s3:ListBucket'], resources: [bucket(s)] },
      { actions: ['s3:GetObject'], resources: [`${bucket(s)}/data/*`] },
      { actions: ['s3:GetObject'], resources: [`${bucket(s)}/blobs/*`] },
    ],
    groups: (s) => [
      {
        actions: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        resources: [table(s)],
      },
      // Unconditional, like fetch's: a reset to a timestamp tells a removed object by its 404.
      { actions: ['s3:ListBucket'], resources: [bucket(s)] },
      { actions: ['s3:GetObject'], resources: [`${bucket(s)}/data/*`] },
    ],
    compact: (s) => [
      { actions: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], resources: [table(s)] },
      { actions: ['s3:ListBucket'], resources: [bucket(s)], condition: { StringLike: { 's3:prefix': ['data/*'] } } },
      { actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject', 's3:PutObjectTagging'], resources: [`${bucket(s)}/data/*`] },
      { actions: ['s3:AbortMultipartUpload', 's3:DeleteObject'], resources: [`${bucket(s)}/blobs/*`] },
    ],
  };

  it.each(CLUSTER_FUNCTION_NAMES)('gives %s exactly the actions its code calls, on the table, the bucket, data/*, blobs/* and the compact function', (name) => {
    const roleId = functionRoleId(base, name);
    const logs = `\${${logicalId(base.stack, base.stack.cluster.node.findChild(`${name.charAt(0).toUpperCase()}${name.slice(1)}Logs`))}.Arn}`;
    expect(roleStatements(base, roleId)).toEqual(
      expect.arrayContaining([...expected[name](base), { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logs] }]),
    );
    expect(roleStatements(base, roleId)).toHaveLength(expected[name](base).length + 1);
  });

  it('attaches no managed policy: AWSLambdaBasicExecutionRole would allow writing to every log group', () => {
    for (const role of Object.values(resourcesOf(base.template, 'AWS::IAM::Role'))) expect(role.Properties).not.toHaveProperty('ManagedPolicyArns');
  });

  it('has no wildcard action and no wildcard resource in any identity policy', () => {
    for (const policy of Object.values(resourcesOf(base.template, 'AWS::IAM::Policy'))) {
      for (const st of policy.Properties?.PolicyDocument.Statement as Statement[]) {
        for (const action of actions(st)) expect(action).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
        const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
        for (const resource of resources) expect(flatten(resource)).not.toBe('*');
      }
    }
  });
});

describe('SluiceCluster API', () => {
  it('authorizes every route with IAM (SigV4) by default', () => {
    const routes = Object.values(resourcesOf(base.template, 'AWS::ApiGatewayV2::Route'));
    expect(routes.map((r) => r.Properties?.AuthorizationType)).toEqual(ROUTES.map(() => 'AWS_IAM'));
    base.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
  });

  it('authorizes every route with a JWT authorizer when asked', () => {
    const { template } = synthStack({ authorization: SluiceAuthorization.jwt({ issuer: 'https://issuer.example.com', audience: ['sluice'] }) });
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['sluice'] },
    });
    const routes = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route'));
    expect(new Set(routes.map((r) => r.Properties?.AuthorizationType))).toEqual(new Set(['JWT']));
  });

  it('scopes each JWT route to the families that may call it, as the IAM grants do', () => {
    const { template } = synthStack({ authorization: SluiceAuthorization.jwt({ issuer: 'https://issuer.example.com', audience: ['sluice'] }) });
    const scopes = new Map(Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route')).map((r) => [String(r.Properties?.RouteKey), r.Properties?.AuthorizationScopes as string[]]));
    for (const route of ROUTES) {
      const want = (['produce', 'consume', 'admin'] as const).filter((f) => familyIncludes(f, route)).map((f) => JWT_SCOPES[f]);
      expect(scopes.get(routeKey(route)), routeKey(route)).toEqual(want);
    }
    // A consumer's token cannot delete a topic or reset offsets; a producer's cannot read.
    expect(scopes.get('DELETE /v1/topics/{topic}')).toEqual(['sluice/admin']);
    expect(scopes.get('POST /v1/groups/{group}/offsets/reset')).toEqual(['sluice/admin']);
    expect(scopes.get('GET /v1/topics/{topic}/partitions/{partition}/records')).toEqual(['sluice/consume']);
    expect(scopes.get('POST /v1/topics/{topic}/records')).toEqual(['sluice/produce']);
  });

  it("leaves routes open with SluiceAuthorization.none and says so at synth", () => {
    const s = synthStack({ authorization: SluiceAuthorization.none({ acknowledgeUnauthenticated: true }) });
    const routes = Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Route'));
    expect(new Set(routes.map((r) => r.Properties?.AuthorizationType ?? 'NONE'))).toEqual(new Set(['NONE']));
    expect(warnings(s.stack).join('\n')).toMatch(/The API has no authorization/);
  });

  it('fails if SluiceAuthorization.none is not acknowledged', () => {
    expect(() => SluiceAuthorization.none({ acknowledgeUnauthenticated: false })).toThrow(/requires \{ acknowledgeUnauthenticated: true \}/);
  });

  it('throttles the routes named in routeThrottles with their own limits', () => {
    const { template } = synthStack({ routeThrottles: { heartbeat: { rateLimit: 5000, burstLimit: 6000 } } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      RouteSettings: { 'POST /v1/groups/{group}/heartbeat': { ThrottlingRateLimit: 5000, ThrottlingBurstLimit: 6000 } },
    });
  });

  it('throttles the auto-deployed $default stage and writes JSON access logs', () => {
    base.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: { Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
    });
    synthStack({ throttleRateLimit: 50, throttleBurstLimit: 100 }).template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  it('outputs the API URL, the bucket name and the table name', () => {
    const outputs = base.template.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(['ApiUrl', 'BucketName', 'TableName']);
    expect(flatten(outputs.ApiUrl?.Value)).toBe(`https://\${${logicalId(base.stack, base.stack.cluster.api)}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/`);
  });
});

describe('SluiceCluster grants', () => {
  type GrantMethod = 'grantProduce' | 'grantConsume' | 'grantAdmin';
  const grantCache = new Map<GrantMethod, string[]>();

  /** The execute-api ARN paths `grant` gives a role, `METHOD/path`, sorted. */
  function granted(grant: GrantMethod): string[] {
    const cached = grantCache.get(grant);
    if (cached !== undefined) return cached;
    let roleId = '';
    const s = synthStack({}, {}, (stack) => {
      const role = new Role(stack, 'Client', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
      stack.cluster[grant](role);
      roleId = logicalId(stack, role);
    });
    const statements = roleStatements(s, roleId);
    expect(statements.flatMap((st) => st.actions)).toEqual(['execute-api:Invoke']);
    const prefix = `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${${logicalId(s.stack, s.stack.cluster.api)}}/$default/`;
    const paths = statements.flatMap((st) => st.resources).map((r) => (r.startsWith(prefix) ? r.slice(prefix.length) : r)).sort();
    grantCache.set(grant, paths);
    return paths;
  }

  type TableRoute = (typeof ROUTES)[number];
  /** The ARN path IAM sees for a route: `{param}` becomes `*`. */
  const arnPaths = (include: (r: TableRoute) => boolean) =>
    ROUTES.filter(include)
      .map((r) => `${r.method}${r.path.replace(/\{[^}]+\}/g, '*')}`)
      .sort();
  /** What IAM matches for a request to `route`: `METHOD/path` with each `{param}` filled in. */
  const requestPath = (route: TableRoute) => `${route.method}${route.path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'partition' ? '0' : `${name}-value`))}`;
  /** IAM's string match: `*` is any run of characters, `/` included; `?` is one character. */
  const iamMatches = (pattern: string, path: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(path);
  const allows = (grant: GrantMethod, route: TableRoute) => granted(grant).some((pattern) => iamMatches(pattern, requestPath(route)));
  const operation = (name: TableRoute['operation']) => ROUTES.find((r) => r.operation === name) as TableRoute;

  it("grantProduce allows the produce function's routes, the topic metadata a producer partitions with, and the health check", () => {
    expect(granted('grantProduce')).toEqual(arnPaths((r) => r.function === 'produce' || ['health', 'listTopics', 'describeTopic'].includes(r.operation)));
    expect(granted('grantProduce')).toEqual(expect.arrayContaining(['GET/v1/health', 'GET/v1/topics/*', 'POST/v1/producers', 'POST/v1/topics/*/records']));
  });

  it("grantConsume allows the fetch function's routes, the metadata reads and every group route a consumer needs", () => {
    const want = arnPaths((r) => r.function === 'fetch' || ['health', 'listTopics', 'describeTopic'].includes(r.operation) || (r.function === 'groups' && !['resetOffsets', 'deleteGroup', 'deleteOffsets'].includes(r.operation)));
    expect(granted('grantConsume')).toEqual(want);
    expect(want).toEqual(
      expect.arrayContaining([
        'GET/v1/topics',
        'GET/v1/topics/*',
        'GET/v1/topics/*/partitions/*/records',
        // Group coordination: join and heartbeat, commit and fetch offsets, list and describe.
        'POST/v1/groups/*/heartbeat',
        'POST/v1/groups/*/offsets',
        'GET/v1/groups/*/offsets',
        'GET/v1/groups',
        'GET/v1/groups/*',
      ]),
    );
    expect(want).not.toContain('POST/v1/topics/*/records');
  });

  it("grantAdmin allows every admin route, and resetting or deleting a group's offsets or the group, with the group reads that go with it", () => {
    expect(granted('grantAdmin')).toEqual(arnPaths((r) => r.function === 'admin' || ['resetOffsets', 'deleteGroup', 'deleteOffsets', 'listGroups', 'describeGroup', 'fetchOffsets'].includes(r.operation)));
    expect(granted('grantAdmin')).toEqual(
      expect.arrayContaining(['POST/v1/topics', 'DELETE/v1/topics/*', 'PATCH/v1/topics/*', 'POST/v1/groups/*/offsets/reset', 'DELETE/v1/groups/*', 'DELETE/v1/groups/*/offsets', 'GET/v1/groups', 'GET/v1/groups/*']),
    );
  });

  it.each(['resetOffsets', 'deleteGroup', 'deleteOffsets'] as const)("reserves %s to grantAdmin: no other grant's ARN pattern matches it, wildcards included", (name) => {
    // WHEN a request resets or deletes, THEN only grantAdmin's policy admits it.
    const call = operation(name);
    expect(allows('grantAdmin', call)).toBe(true);
    expect(allows('grantConsume', call)).toBe(false);
    expect(allows('grantProduce', call)).toBe(false);
  });

  it("leaves a group member's heartbeats and commits to grantConsume", () => {
    for (const name of ['heartbeat', 'commitOffsets'] as const) {
      expect(allows('grantConsume', operation(name)), name).toBe(true);
      expect(allows('grantAdmin', operation(name)), name).toBe(false);
      expect(allows('grantProduce', operation(name)), name).toBe(false);
    }
  });

  /** The ARN paths a role gets from `grant` on a cluster imported or created in `build`. */
  function grantedOn(build: (stack: Stack, role: Role) => void): string[] {
    let roleId = '';
    const s = synthCustom((stack) => {
      const role = new Role(stack, 'Client', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
      build(stack, role);
      roleId = logicalId(stack, role);
    });
    return roleStatements(s, roleId)
      .flatMap((st) => st.resources)
      .map((r) => r.replace(/^arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:/, ''))
      .sort();
  }

  it('names exact paths for the topics given: a scoped grantAdmin admits no fetch, and other topics are out', () => {
    const paths = grantedOn((stack, role) => new SluiceCluster(stack, 'Cluster').grantAdmin(role, { topics: ['orders', 'payments'] }));
    const patterns = paths.map((p) => p.slice(p.indexOf('/$default/') + '/$default/'.length));
    expect(patterns).toEqual(expect.arrayContaining(['GET/v1/topics/orders', 'DELETE/v1/topics/payments', 'POST/v1/topics/orders/partitions/*/delete-records', 'GET/v1/topics', 'GET/v1/health']));
    for (const path of ['GET/v1/topics/orders/partitions/0/records', 'GET/v1/topics/other', 'DELETE/v1/topics/other', 'POST/v1/topics/orders/records']) {
      expect(patterns.some((pattern) => iamMatches(pattern, path)), path).toBe(false);
    }
  });

  it('fails if a grant names an illegal topic, which could widen the ARN pattern', () => {
    expect(() => grantedOn((stack, role) => new SluiceCluster(stack, 'Cluster').grantProduce(role, { topics: ['orders*'] }))).toThrow(/Invalid grant topics: .*"orders\*" is illegal/);
    expect(() => grantedOn((stack, role) => new SluiceCluster(stack, 'Cluster').grantProduce(role, { topics: [] }))).toThrow(/at least one topic/);
  });

  it('grants on a cluster imported by its API id name the same routes as on the cluster itself', () => {
    const imported = grantedOn((stack, role) => SluiceCluster.fromClusterAttributes(stack, 'Events', { apiId: 'abc123' }).grantConsume(role, { topics: ['orders'] }));
    expect(imported).toContain('abc123/$default/GET/v1/topics/orders/partitions/*/records');
    expect(imported).toContain('abc123/$default/POST/v1/groups/*/heartbeat');
    expect(imported.every((p) => p.startsWith('abc123/$default/'))).toBe(true);
    const own = grantedOn((stack, role) => new SluiceCluster(stack, 'Cluster').grantConsume(role, { topics: ['orders'] }));
    expect(imported.map((p) => p.slice('abc123'.length))).toEqual(own.map((p) => p.slice(p.indexOf('/$default/'))));
  });

  it('gives an imported cluster the URL its API id implies', () => {
    synthCustom((stack) => {
      const cluster = SluiceCluster.fromClusterAttributes(stack, 'Events', { apiId: 'abc123' });
      expect(stack.resolve(cluster.url)).toEqual({ 'Fn::Join': ['', ['https://abc123.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/']] });
    });
  });

  it('warns at synth that a grant has no effect when the API does not use IAM', () => {
    const jwt = synthStack({ authorization: SluiceAuthorization.jwt({ issuer: 'https://issuer.example.com', audience: ['a'] }) }, {}, (stack) => {
      stack.cluster.grantProduce(new Role(stack, 'Client', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') }));
    });
    expect(warnings(jwt.stack).join('\n')).toMatch(/grantProduce has no effect: the API uses jwt authorization.*sluice\/produce scope/);
    expect(warnings(base.stack)).toEqual([]);
  });

  it.each(ROUTES.map((r) => [routeKey(r)] as const))('allows %s through at least one grant', (key) => {
    // A route no grant allows could only be called with a policy written by hand.
    const route = ROUTES.find((r) => routeKey(r) === key) as TableRoute;
    expect((['grantProduce', 'grantConsume', 'grantAdmin'] as const).filter((g) => allows(g, route))).not.toEqual([]);
  });
});

describe('SluiceCluster monitoring', () => {
  const prefix = (s: { template: Synthesized['template'] }) => String(Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Api'))[0]?.Properties?.Name);

  it('alarms on errors, throttles and p99 duration of each function, compact included, API 5xx and table throttling', () => {
    const names = Object.values(resourcesOf(base.template, 'AWS::CloudWatch::Alarm')).map((a) => String(a.Properties?.AlarmName));
    const suffixes = [...['Admin', 'Produce', 'Fetch', 'Groups', 'Compact'].flatMap((f) => [`${f}Errors`, `${f}Throttles`, `${f}DurationP99`]), 'CompactAsyncEventsDropped', 'CompactionBehind', 'Throttled', 'Api5xx', 'TableThrottles'];
    expect(names.sort()).toEqual(suffixes.map((s) => `${prefix(base)}-${s}`).sort());
    base.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: { 'Fn::Join': ['', [`${prefix(base)}-`, { Ref: 'AWS::Region' }]] } });
    // No topic given: the alarms notify no one.
    for (const alarm of Object.values(resourcesOf(base.template, 'AWS::CloudWatch::Alarm'))) expect(alarm.Properties).not.toHaveProperty('AlarmActions');
  });

  it('derives a default name prefix from the construct path', () => {
    expect(prefix(base)).toMatch(/^Test-Cluster-[A-Z0-9]{8}$/);
  });

  it('fires the p99 duration alarm at 85% of the 29 s timeout, above the 20 s long poll', () => {
    base.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: Match.stringLikeRegexp('FetchDurationP99$'), Threshold: 24_650, ExtendedStatistic: 'p99' });
  });

  it('fires the p99 duration alarm of functions that answer in milliseconds at 5 s, not near their timeout', () => {
    for (const name of ['Admin', 'Produce', 'Groups']) {
      base.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: Match.stringLikeRegexp(`${name}DurationP99$`), Threshold: 5_000, ExtendedStatistic: 'p99' });
    }
  });

  it('alarms on a sustained stream of 429 answers, from the functions\' Throttled metric', () => {
    base.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-Throttled$'),
      Namespace: 'Sluice',
      MetricName: 'Throttled',
      Dimensions: [{ Name: 'service', Value: prefix(base) }],
      Threshold: 300,
      EvaluationPeriods: 3,
    });
  });

  it('offers its application metrics cluster-wide and per topic, under its name prefix', () => {
    synthCustom((stack) => {
      const cluster = new SluiceCluster(stack, 'Cluster', { namePrefix: 'orders-events' });
      const bytesIn = stack.resolve(cluster.metricBytesIn({ topic: 'orders' }).toMetricConfig().metricStat);
      expect(bytesIn).toMatchObject({ namespace: 'Sluice', metricName: 'BytesIn', statistic: 'Sum' });
      expect(bytesIn.dimensions).toEqual(expect.arrayContaining([{ name: 'service', value: 'orders-events' }, { name: 'Topic', value: 'orders' }]));
      expect(bytesIn.dimensions).toHaveLength(2);
      expect(stack.resolve(cluster.metricRecordsOut().toMetricConfig().metricStat).dimensions).toEqual([{ name: 'service', value: 'orders-events' }]);
      const imported = SluiceCluster.fromClusterAttributes(stack, 'Imported', { apiId: 'abc123', namePrefix: 'orders-events' });
      expect(stack.resolve(imported.metricThrottled().toMetricConfig().metricStat).dimensions).toEqual([{ name: 'service', value: 'orders-events' }]);
      expect(() => SluiceCluster.fromClusterAttributes(stack, 'NoPrefix', { apiId: 'x' }).metricBytesIn()).toThrow(/needs the cluster's namePrefix/);
    });
  });

  it('alarms when compaction is an hour behind or has stopped reporting (missing data breaches)', () => {
    base.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: `${prefix(base)}-CompactionBehind`,
      Namespace: 'Sluice',
      MetricName: 'OldestUncompactedSeconds',
      Dimensions: [{ Name: 'service', Value: prefix(base) }],
      Statistic: 'Maximum',
      // Two periods of twice the default 5-minute interval.
      Period: 600,
      EvaluationPeriods: 2,
      Threshold: 3600,
      TreatMissingData: 'breaching',
    });
  });

  it('scales the compaction alarm with a long compaction interval, and alarms for a compact function scheduled after construction', () => {
    const { template } = synthCustom((stack) => {
      const cluster = new SluiceCluster(stack, 'Cluster', { namePrefix: 'slow', compaction: false });
      cluster.scheduleCompaction(new LambdaFunction(stack, 'OwnCompact', { runtime: Runtime.NODEJS_24_X, handler: 'index.handler', code: Code.fromInline('exports.handler = async () => {}') }), Duration.hours(2));
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'slow-CompactionBehind', Period: 4 * 3600, Threshold: 3 * 2 * 3600, EvaluationPeriods: 2 });
  });

  it('offers consumer lag per group (and topic), rebalances and compaction metrics, and alarmOnConsumerLag', () => {
    const { template } = synthCustom((stack) => {
      const cluster = new SluiceCluster(stack, 'Cluster', { namePrefix: 'orders-events' });
      const lag = stack.resolve(cluster.metricConsumerLag('billing', { topic: 'orders' }).toMetricConfig().metricStat);
      expect(lag).toMatchObject({ metricName: 'ConsumerLagRecords', statistic: 'Maximum' });
      expect(lag.dimensions).toEqual(expect.arrayContaining([{ name: 'service', value: 'orders-events' }, { name: 'Group', value: 'billing' }, { name: 'Topic', value: 'orders' }]));
      expect(stack.resolve(cluster.metricConsumerLag('billing').toMetricConfig().metricStat).dimensions).toHaveLength(2);
      expect(stack.resolve(cluster.metricRebalances({ group: 'billing' }).toMetricConfig().metricStat)).toMatchObject({ metricName: 'Rebalances', statistic: 'Sum' });
      for (const metric of [cluster.metricAppendConflicts(), cluster.metricSegmentsMerged(), cluster.metricBytesReclaimed(), cluster.metricOldestUncompactedSeconds()]) {
        expect(stack.resolve(metric.toMetricConfig().metricStat).dimensions).toEqual([{ name: 'service', value: 'orders-events' }]);
      }
      const alarmTopic = new Topic(stack, 'Pager');
      cluster.alarmOnConsumerLag('billing', { thresholdRecords: 10_000, topic: 'orders', alarmTopic });
      expect(() => cluster.alarmOnConsumerLag('billing', { thresholdRecords: 0 })).toThrow(/thresholdRecords/);
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ConsumerLagRecords',
      Dimensions: Match.arrayWith([{ Name: 'Group', Value: 'billing' }, { Name: 'Topic', Value: 'orders' }]),
      Statistic: 'Maximum',
      Threshold: 10_000,
      EvaluationPeriods: 3,
      AlarmActions: Match.anyValue(),
    });
  });

  it('graphs throughput per topic and lag per group with SEARCH, so topics and groups created later appear without a deploy', () => {
    const dashboard = Object.values(resourcesOf(base.template, 'AWS::CloudWatch::Dashboard'))[0];
    // The body is an Fn::Join of JSON text and references (region, function names): put a placeholder for each reference.
    const parts = (dashboard?.Properties?.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const body = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'ref')).join('')) as { widgets: Array<{ properties: { metrics: unknown[][] } }> };
    const expressions = body.widgets.flatMap((w) => w.properties.metrics.flat()).flatMap((m) => (typeof m === 'object' && m !== null && 'expression' in m ? [String(m.expression)] : []));
    for (const [name, schema, statistic] of [['BytesIn', 'Sluice,service,Topic', 'Sum'], ['BytesOut', 'Sluice,service,Topic', 'Sum'], ['ConsumerLagRecords', 'Sluice,service,Group,Topic', 'Maximum'], ['Rebalances', 'Sluice,service,Group', 'Sum']]) {
      expect(expressions).toContain(`SEARCH('{${schema}} MetricName="${name}" service="${prefix(base)}"', '${statistic}', 300)`);
    }
  });

  it('alarms when queued compaction requests are dropped for 15 minutes', () => {
    base.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('CompactAsyncEventsDropped$'),
      MetricName: 'AsyncEventsDropped',
      Namespace: 'AWS/Lambda',
      EvaluationPeriods: 3,
    });
  });

  it("fires the compact function's p99 duration alarm at 85% of its own 10-minute timeout", () => {
    base.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: Match.stringLikeRegexp('CompactDurationP99$'), Threshold: 510_000, ExtendedStatistic: 'p99' });
  });

  it('has no compact alarms without the compact function', () => {
    const names = Object.values(resourcesOf(synthStack({ compaction: false }).template, 'AWS::CloudWatch::Alarm')).map((a) => String(a.Properties?.AlarmName));
    // Three per API function (admin, produce, fetch, groups), 429s, API 5xx, table throttles.
    expect(names).toHaveLength(15);
    expect(names.filter((n) => n.includes('Compact'))).toEqual([]);
  });

  it('sends every alarm to alarmTopic when given', () => {
    let topicId = '';
    const { template } = synthCustom((stack) => {
      const alarmTopic = new Topic(stack, 'Alarms');
      topicId = logicalId(stack, alarmTopic);
      new SluiceCluster(stack, 'Cluster', { alarmTopic, namePrefix: 'prod' });
    });
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(20);
    for (const alarm of alarms) {
      expect(alarm.Properties?.AlarmName).toMatch(/^prod-/);
      expect(alarm.Properties?.AlarmActions).toEqual([{ Ref: topicId }]);
    }
  });
});

describe('SluiceCluster compact function', () => {
  const compactId = (s: Synthesized) => logicalId(s.stack, clusterFunction(s.stack.cluster, 'compact'));

  it('bundles functions/compact/handler.ts, serves no route and requests no compaction itself', () => {
    const fn = resourcesOf(base.template, 'AWS::Lambda::Function')[compactId(base)];
    expect(fn?.Properties?.Description).toMatch(/^Sluice compact: /);
    expect(fn?.Properties?.Environment.Variables).not.toHaveProperty('SLUICE_COMPACT_FUNCTION');
    for (const integration of Object.values(resourcesOf(base.template, 'AWS::ApiGatewayV2::Integration'))) {
      expect((integration.Properties?.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]).not.toBe(compactId(base));
    }
  });

  it('runs every 5 minutes by default, with no retry: the next run redoes a failed one', () => {
    base.template.resourceCountIs('AWS::Events::Rule', 1);
    base.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [compactId(base), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
    base.template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': [compactId(base), 'Arn'] } });
    // The asynchronous triggers from produce and admin are not retried either.
    base.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: compactId(base) }, MaximumRetryAttempts: 0 });
  });

  it('runs at compactionInterval when given', () => {
    synthStack({ compactionInterval: Duration.minutes(30) }).template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(30 minutes)' });
  });

  it('lets produce and admin queue one-partition runs: the env var names it, and they may invoke it', () => {
    const fns = resourcesOf(base.template, 'AWS::Lambda::Function');
    for (const name of FUNCTION_NAMES) {
      const fn = fns[logicalId(base.stack, base.stack.cluster.functions[name])];
      const invokes = roleStatements(base, functionRoleId(base, name)).filter((st) => st.actions.includes('lambda:InvokeFunction'));
      if (name !== 'admin' && name !== 'produce') {
        expect(fn?.Properties?.Environment.Variables).not.toHaveProperty('SLUICE_COMPACT_FUNCTION');
        expect(invokes).toEqual([]);
      } else {
        expect(fn?.Properties?.Environment.Variables.SLUICE_COMPACT_FUNCTION).toEqual({ Ref: compactId(base) });
        expect(invokes).toEqual([{ actions: ['lambda:InvokeFunction'], resources: [`\${${compactId(base)}.Arn}`, `\${${compactId(base)}.Arn}:*`] }]);
      }
    }
  });

  it('fails if scheduleCompaction is called on a cluster that schedules its own, naming the opt-out', () => {
    expect(() => synthStack({}, {}, (stack) => stack.cluster.scheduleCompaction(clusterFunction(stack.cluster, 'compact')))).toThrow(/already called on this cluster: .*compaction: false/);
  });
});

describe('SluiceCluster with compaction: false', () => {
  function compactFunction(stack: Stack): LambdaFunction {
    // A stand-in: the schedule only needs an IFunction.
    return new LambdaFunction(stack, 'Compact', { runtime: Runtime.NODEJS_22_X, handler: 'index.handler', code: Code.fromInline('export const handler = async () => {};') });
  }

  it('creates no compact function, no schedule and no trigger wiring until asked', () => {
    const s = synthStack({ compaction: false });
    expect(s.stack.cluster.compactFunction).toBeUndefined();
    s.template.resourceCountIs('AWS::Lambda::Function', FUNCTION_NAMES.length);
    s.template.resourceCountIs('AWS::Events::Rule', 0);
    for (const fn of Object.values(resourcesOf(s.template, 'AWS::Lambda::Function'))) expect(fn.Properties?.Environment.Variables).not.toHaveProperty('SLUICE_COMPACT_FUNCTION');
  });

  it('schedules a function of your own every 5 minutes by default, or at the interval given', () => {
    let fnId = '';
    const { template } = synthCustom((stack) => {
      const cluster = new SluiceCluster(stack, 'Cluster', { compaction: false });
      const fn = compactFunction(stack);
      fnId = logicalId(stack, fn);
      cluster.scheduleCompaction(fn);
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
    synthCustom((stack) => new SluiceCluster(stack, 'Cluster', { compaction: false }).scheduleCompaction(compactFunction(stack), Duration.hours(1))).template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
    });
  });

  it('wires a function of your own into produce and admin like its own', () => {
    let cluster!: SluiceCluster;
    let fnId = '';
    const s = synthCustom((stack) => {
      cluster = new SluiceCluster(stack, 'Cluster', { compaction: false });
      const fn = compactFunction(stack);
      fnId = logicalId(stack, fn);
      cluster.scheduleCompaction(fn);
    });
    const fns = resourcesOf(s.template, 'AWS::Lambda::Function');
    for (const name of ['admin', 'produce'] as const) {
      const fn = fns[logicalId(s.stack, cluster.functions[name])];
      const roleId = (fn?.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      expect(fn?.Properties?.Environment.Variables.SLUICE_COMPACT_FUNCTION).toEqual({ Ref: fnId });
      expect(roleStatements(s, roleId).filter((st) => st.actions.includes('lambda:InvokeFunction'))).toEqual([
        { actions: ['lambda:InvokeFunction'], resources: [`\${${fnId}.Arn}`, `\${${fnId}.Arn}:*`] },
      ]);
    }
  });

  it('fails if the interval is not a whole number of minutes', () => {
    const cluster = (stack: Stack) => new SluiceCluster(stack, 'Cluster', { compaction: false });
    expect(() => synthCustom((stack) => cluster(stack).scheduleCompaction(compactFunction(stack), Duration.seconds(90)))).toThrow(/whole number of minutes, at least 1, got 1 minute 30 seconds/);
    expect(() => synthCustom((stack) => cluster(stack).scheduleCompaction(compactFunction(stack), Duration.millis(1500)))).toThrow(/got 1 second 500 millis/);
  });

  it('fails if scheduleCompaction is called twice', () => {
    expect(() =>
      synthCustom((stack) => {
        const cluster = new SluiceCluster(stack, 'Cluster', { compaction: false });
        const fn = compactFunction(stack);
        cluster.scheduleCompaction(fn);
        cluster.scheduleCompaction(fn);
      }),
    ).toThrow(/already called/);
  });
});

describe('SluiceCluster props validation', () => {
  it.each<[string, SluiceClusterProps, RegExp]>([
    ['namePrefix has a space', { namePrefix: 'my sluice' }, /namePrefix: expected a name matching .*, got "my sluice"/],
    ['namePrefix is longer than 40 characters', { namePrefix: 'a'.repeat(41) }, /namePrefix: .*got "a{41}"/],
    ['authorization is a string from an older version', { authorization: 'none' as unknown as SluiceAuthorization }, /authorization: expected SluiceAuthorization.iam\(\), .*got "none"/],
    ['a route throttle names no operation', { routeThrottles: { hearbeat: { rateLimit: 1, burstLimit: 1 } } }, /routeThrottles: expected an operation id among .*heartbeat.*, got "hearbeat"/],
    ['a route throttle rate is not positive', { routeThrottles: { produce: { rateLimit: 0, burstLimit: 1 } } }, /routeThrottles.produce.rateLimit: .*got 0/],
    ['a table read ceiling is fractional', { maxTableReadRequestUnits: 1.5 }, /maxTableReadRequestUnits: .*got 1.5/],
    ['memory is below Lambda’s minimum', { adminMemorySizeMb: 64 }, /adminMemorySizeMb: expected an integer from 128 to 10240, got 64/],
    ['memory is fractional', { fetchMemorySizeMb: 1024.5 }, /fetchMemorySizeMb: .*got 1024.5/],
    ['reserved concurrency is 0, which would disable the function', { produceReservedConcurrency: 0 }, /produceReservedConcurrency: expected an integer from 1 to 100000, got 0/],
    ['the throttle rate is not positive', { throttleRateLimit: -5 }, /throttleRateLimit: expected a positive number of requests per second, got -5/],
    ['the burst is fractional', { throttleBurstLimit: 1.5 }, /throttleBurstLimit: .*got 1.5/],
    ['groups memory is below Lambda’s minimum', { groupsMemorySizeMb: 100 }, /groupsMemorySizeMb: expected an integer from 128 to 10240, got 100/],
    ['groups reserved concurrency is 0, which would stop heartbeats', { groupsReservedConcurrency: 0 }, /groupsReservedConcurrency: expected an integer from 1 to 100000, got 0/],
    ['compact memory is above Lambda’s maximum', { compactMemorySizeMb: 20_480 }, /compactMemorySizeMb: expected an integer from 128 to 10240, got 20480/],
    ['compact reserved concurrency is 0', { compactReservedConcurrency: 0 }, /compactReservedConcurrency: .*got 0/],
    ['compactionInterval is not a whole number of minutes', { compactionInterval: Duration.seconds(90) }, /compactionInterval: expected a whole number of minutes, at least 1, got 1 minute 30 seconds/],
    ['compactionInterval is under a minute', { compactionInterval: Duration.seconds(30) }, /compactionInterval: .*got 30 seconds/],
    ['compact function settings come with compaction false', { compaction: false, compactionInterval: Duration.minutes(10) }, /compaction: expected true \(the default\) when compactionInterval is set/],
    ['DESTROY meets deletion protection', { removalPolicy: RemovalPolicy.DESTROY, deletionProtection: true }, /deletionProtection: expected false with removalPolicy DESTROY .*, got true/],
    ['a route repeats', { routes: [...ROUTES, ROUTES[0]] }, /routes: expected each method and path once, got .*"\/v1\/health"/],
    ['a route has a bad path', { routes: [...ROUTES, { method: 'GET', path: 'v1/x', function: 'admin', operation: 'x' }] }, /routes: expected a path of \/segments.*got .*"v1\/x"/],
    ['a function serves no route', { routes: ROUTES.filter((r) => r.function !== 'fetch') }, /routes: expected at least one route served by the fetch function/],
    ['the groups function serves no route', { routes: ROUTES.filter((r) => r.function !== 'groups') }, /routes: expected at least one route served by the groups function/],
  ])('fails if %s', (_why, props, message) => {
    expect(() => synthStack(props)).toThrow(message);
  });

  it.each([
    ['the jwt issuer is not https', () => SluiceAuthorization.jwt({ issuer: 'http://issuer', audience: ['a'] }), /issuer: expected an https:\/\/ URL, got "http:\/\/issuer"/],
    ['jwt has no audience', () => SluiceAuthorization.jwt({ issuer: 'https://issuer', audience: [] }), /audience: expected one or more non-empty values, got \[\]/],
  ])('fails if %s', (_why, make, message) => {
    expect(make).toThrow(message);
  });
});
