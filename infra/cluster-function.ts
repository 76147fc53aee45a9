/**
 * One of a cluster's Lambda functions, built the same way for every handler under
 * functions/: its own log group, its own role holding FUNCTION_ACCESS's statements and
 * nothing else, Node.js 24 on arm64, JSON logs, the shared esbuild bundling.
 */
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { NodejsFunction, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { ClusterFunctionName } from './cluster-props.ts';
import { grantFunctionAccess } from './function-access.ts';
import { functionEntry } from './function-bundling.ts';

export interface ClusterFunctionOptions {
  readonly name: ClusterFunctionName;
  readonly description: string;
  readonly memorySizeMb: number;
  readonly reservedConcurrency: number | undefined;
  readonly timeout: Duration;
  /**
   * Retries of a failed asynchronous invocation, 0-2.
   * @default - Lambda's: 2
   */
  readonly retryAttempts?: number;
  /**
   * How long an asynchronous invocation may wait in Lambda's queue, 1 minute to 6 hours.
   * @default - Lambda's: 6 hours
   */
  readonly maxEventAge?: Duration;
  /** Whether the function sends traces to X-Ray. */
  readonly tracing: boolean;
  /** A customer-managed key encrypting the bucket and table, which the function must be able to use. */
  readonly encryptionKey: IKey | undefined;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly bucket: IBucket;
  readonly table: ITable;
  readonly bundling: BundlingOptions;
  /** The `service` dimension of the function's metrics and logs: the cluster's name prefix. */
  readonly serviceName: string;
}

/** `compact` → `Compact`: how function names appear in construct ids and alarm names. */
export function capitalized(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** Creates `<Name>Logs`, `<Name>Role` and `<Name>Function` in `scope`; the ids are a contract. */
export function createClusterFunction(scope: Construct, options: ClusterFunctionOptions): NodejsFunction {
  const { name } = options;
  const label = capitalized(name);
  const logGroup = new LogGroup(scope, `${label}Logs`, { retention: options.logRetention, removalPolicy: options.removalPolicy });
  // An own role instead of the default one: AWSLambdaBasicExecutionRole allows writing to any log group.
  const role = new Role(scope, `${label}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com'), description: `Sluice ${name} function` });
  logGroup.grantWrite(role);
  grantFunctionAccess(role, name, options.bucket, options.table);
  // Exact actions, no wildcards: S3 (SSE-KMS) and DynamoDB need data keys and decryption.
  options.encryptionKey?.grant(role, 'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey');
  const fn = new NodejsFunction(scope, `${label}Function`, {
    description: options.description,
    entry: functionEntry(name),
    handler: 'handler',
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    memorySize: options.memorySizeMb,
    timeout: options.timeout,
    reservedConcurrentExecutions: options.reservedConcurrency,
    ...(options.retryAttempts === undefined ? {} : { retryAttempts: options.retryAttempts }),
    ...(options.maxEventAge === undefined ? {} : { maxEventAge: options.maxEventAge }),
    tracing: options.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
    role,
    logGroup,
    loggingFormat: LoggingFormat.JSON,
    // The platform's START/END/REPORT lines cost ingestion on every invocation; keep warnings.
    systemLogLevelV2: SystemLogLevel.WARN,
    environment: {
      SLUICE_TABLE: options.table.tableName,
      SLUICE_BUCKET: options.bucket.bucketName,
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: options.serviceName,
    },
    bundling: options.bundling,
  });
  // The policy must exist before the function can be invoked, not just before it is created.
  fn.node.addDependency(role);
  return fn;
}
