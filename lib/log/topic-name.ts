import { LIMITS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';

const LEGAL = /^[a-zA-Z0-9._-]+$/;

/** Kafka's topic name rule (Topic.validate): [a-zA-Z0-9._-], 1–249 chars, not "." or "..". */
export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new SluiceError('INVALID_TOPIC_EXCEPTION', 'Topic name must be a non-empty string');
  }
  if (name === '.' || name === '..') {
    throw new SluiceError('INVALID_TOPIC_EXCEPTION', `Topic name cannot be "${name}"`);
  }
  if (name.length > LIMITS.maxTopicNameLength) {
    throw new SluiceError('INVALID_TOPIC_EXCEPTION', `Topic name is ${name.length} characters; the limit is ${LIMITS.maxTopicNameLength}`);
  }
  if (!LEGAL.test(name)) {
    throw new SluiceError('INVALID_TOPIC_EXCEPTION', `Topic name ${JSON.stringify(name)} is illegal: it may contain only ASCII letters, digits, '.', '_' and '-'`);
  }
  return name;
}

/** A partition count for create or alter: an integer in 1..LIMITS.maxPartitions. */
export function validatePartitionCount(partitions: unknown): number {
  if (typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 1 || partitions > LIMITS.maxPartitions) {
    throw new SluiceError('INVALID_PARTITIONS', `partitions must be an integer from 1 to ${LIMITS.maxPartitions}, got ${JSON.stringify(partitions)}`);
  }
  return partitions;
}
