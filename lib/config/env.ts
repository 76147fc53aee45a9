/**
 * The environment, read once per cold start. Endpoints follow the AWS SDK's own
 * conventions (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`) so the
 * same code targets AWS, LocalStack or the local emulators without a code change.
 */

export interface SluiceEnv {
  /** DynamoDB table holding topics, partition heads and the segment index. */
  readonly tableName: string;
  /** S3 bucket holding segment objects under `data/`. */
  readonly bucketName: string;
  readonly region: string;
  /** Custom S3 endpoint (emulators, LocalStack); undefined on AWS. */
  readonly s3Endpoint: string | undefined;
  /** Custom DynamoDB endpoint; undefined on AWS. */
  readonly dynamoEndpoint: string | undefined;
  /** Path-style S3 addressing, required by s3rver and usual with LocalStack. */
  readonly s3ForcePathStyle: boolean;
}

function optional(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function required(name: string, env: NodeJS.ProcessEnv): string {
  const value = optional(name, env);
  if (value === undefined) throw new Error(`Environment variable ${name} is not set`);
  return value;
}

/** Reads Sluice's settings from `env`; throws naming the first missing variable. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): SluiceEnv {
  const s3Endpoint = optional('AWS_ENDPOINT_URL_S3', env) ?? optional('AWS_ENDPOINT_URL', env);
  const forcePathStyle = optional('SLUICE_S3_FORCE_PATH_STYLE', env);
  return {
    tableName: required('SLUICE_TABLE', env),
    bucketName: required('SLUICE_BUCKET', env),
    region: optional('AWS_REGION', env) ?? optional('AWS_DEFAULT_REGION', env) ?? 'us-east-1',
    s3Endpoint,
    dynamoEndpoint: optional('AWS_ENDPOINT_URL_DYNAMODB', env) ?? optional('AWS_ENDPOINT_URL', env),
    s3ForcePathStyle: forcePathStyle === undefined ? s3Endpoint !== undefined : forcePathStyle === 'true',
  };
}

/** A duration in ms from `env[name]` (a non-negative integer), else `fallbackMs`; for settings tests shorten. */
export function durationFromEnv(name: string, fallbackMs: number, env: NodeJS.ProcessEnv = process.env): number {
  const text = optional(name, env);
  const value = text === undefined ? Number.NaN : Number(text);
  return Number.isSafeInteger(value) && value >= 0 ? value : fallbackMs;
}
