/**
 * Named condition fragments for DynamoDB conditional writes, and the one question every
 * conditional write asks of a failure: did a condition (or a concurrent transaction) lose
 * a race, or did something else go wrong?
 */
export const itemDoesNotExist = 'attribute_not_exists(pk)';
export const itemExists = 'attribute_exists(pk)';

interface AwsLikeError {
  name?: unknown;
  CancellationReasons?: unknown;
}

export interface CancellationReason {
  Code?: string;
  Item?: Record<string, unknown>;
}

function asAws(error: unknown): AwsLikeError {
  return typeof error === 'object' && error !== null ? (error as AwsLikeError) : {};
}

/** True for a failed single-item condition. */
export function isConditionFailure(error: unknown): boolean {
  return asAws(error).name === 'ConditionalCheckFailedException';
}

/** The per-item reasons of a cancelled transaction, or undefined for any other error. */
export function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  const aws = asAws(error);
  if (aws.name !== 'TransactionCanceledException') return undefined;
  return Array.isArray(aws.CancellationReasons) ? (aws.CancellationReasons as CancellationReason[]) : [];
}

/** True when AWS is asking us to slow down (DynamoDB or S3). */
export function isThrottle(error: unknown): boolean {
  const name = asAws(error).name;
  return (
    name === 'ProvisionedThroughputExceededException' ||
    name === 'ThrottlingException' ||
    name === 'RequestLimitExceeded' ||
    name === 'SlowDown' ||
    name === 'TooManyRequestsException'
  );
}
