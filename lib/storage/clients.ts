import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { readEnv, type SluiceEnv } from '../config/env.ts';

/** The AWS clients and names one process uses; built once and shared by every request. */
export interface Storage {
  readonly env: SluiceEnv;
  readonly s3: S3Client;
  readonly ddb: DynamoDBDocumentClient;
}

/** Builds S3 and DynamoDB clients for `env`. */
export function createStorage(env: SluiceEnv = readEnv()): Storage {
  const s3 = new S3Client({
    region: env.region,
    forcePathStyle: env.s3ForcePathStyle,
    ...(env.s3Endpoint === undefined ? {} : { endpoint: env.s3Endpoint }),
  });
  const dynamo = new DynamoDBClient({
    region: env.region,
    ...(env.dynamoEndpoint === undefined ? {} : { endpoint: env.dynamoEndpoint }),
  });
  const ddb = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  return { env, s3, ddb };
}

let shared: Storage | undefined;

/** The process-wide storage, created on first use (a Lambda cold start). */
export function sharedStorage(): Storage {
  shared ??= createStorage();
  return shared;
}
