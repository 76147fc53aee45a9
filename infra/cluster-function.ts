/**
 * One of a cluster's Lambda functions, built the same way for every handler under
 * functions/: its own log group, its own role holding FUNCTION_ACCESS's statements and
 * nothing else, Node.js 22 on arm64, JSON logs, the shared esbuild bundling.
 */
import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
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
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly bucket: IBucket;
  readonly table: ITable;
  readonly bundling: BundlingOptions;
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
  const fn = new NodejsFunction(scope, `${label}Function`, {
    description: options.description,
    entry: functionEntry(name),
    handler: 'handler',
    runtime: Runtime.NODEJS_22_X,
    architecture: Architecture.ARM_64,
    memorySize: options.memorySizeMb,
    timeout: options.timeout,
    reservedConcurrentExecutions: options.reservedConcurrency,
    ...(options.retryAttempts === undefined ? {} : { retryAttempts: options.retryAttempts }),
    role,
    logGroup,
    loggingFormat: LoggingFormat.JSON,
    environment: {
      SLUICE_TABLE: options.table.tableName,
      SLUICE_BUCKET: options.bucket.bucketName,
      NODE_OPTIONS: '--enable-source-maps',
    },
    bundling: options.bundling,
  });
  // The policy must exist before the function can be invoked, not just before it is created.
  fn.node.addDependency(role);
  return fn;
}
