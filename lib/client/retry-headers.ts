/**
 * The `sluice.`-prefixed headers a forwarded record carries through the retry topics and
 * into the dead-letter topic (consumer.run({ retry }), retry-router.ts), and their reading
 * back (`sluice dlq inspect|replay`). Values are UTF-8 strings; numbers are decimal.
 *
 *   sluice.original.topic / .partition / .offset / .timestamp   where the record was first consumed
 *   sluice.attempt          how many times handling it has failed so far (1 in `<topic>.retry.1`)
 *   sluice.error.name / .message                                the last failure
 *   sluice.retry.due-at     ms since the epoch when the next attempt is due (retry topics only)
 *   sluice.dead-letter.reason   `exhausted` (after the last delay) or `not-retriable` (dead-letter topic only)
 */
import type { ConsumedHeaders, ConsumedMessage, MessageHeaders } from './types.ts';

export const RETRY_HEADERS = {
  originalTopic: 'sluice.original.topic',
  originalPartition: 'sluice.original.partition',
  originalOffset: 'sluice.original.offset',
  originalTimestamp: 'sluice.original.timestamp',
  attempt: 'sluice.attempt',
  errorName: 'sluice.error.name',
  errorMessage: 'sluice.error.message',
  dueAt: 'sluice.retry.due-at',
  deadLetterReason: 'sluice.dead-letter.reason',
} as const;

const OWN_HEADERS: ReadonlySet<string> = new Set(Object.values(RETRY_HEADERS));

/** A header value as a string, or undefined when absent or null (the first of a repeated key). */
export function headerString(headers: ConsumedHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === null || first === undefined ? undefined : first.toString('utf8');
}

function headerNumber(headers: ConsumedHeaders, name: string): number | undefined {
  const text = headerString(headers, name);
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/** Where a record was first consumed. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
}

/** Where a consumed record came from: its own coordinates, unless it carries an origin already (a retry topic's record). */
export function originOf(topic: string, partition: number, message: ConsumedMessage): RecordOrigin {
  const h = message.headers;
  const originalTopic = headerString(h, RETRY_HEADERS.originalTopic);
  const originalPartition = headerNumber(h, RETRY_HEADERS.originalPartition);
  const originalOffset = headerNumber(h, RETRY_HEADERS.originalOffset);
  if (originalTopic === undefined || originalPartition === undefined || originalOffset === undefined) return { topic, partition, offset: message.offset, timestampMs: message.timestamp };
  return { topic: originalTopic, partition: originalPartition, offset: originalOffset, timestampMs: headerNumber(h, RETRY_HEADERS.originalTimestamp) ?? message.timestamp };
}

/** How many attempts have failed so far: 0 for a record never forwarded. */
export function attemptOf(message: ConsumedMessage): number {
  return headerNumber(message.headers, RETRY_HEADERS.attempt) ?? 0;
}

/** When a retry topic's record may be handled; undefined (due now) when it carries no due time. */
export function dueAtOf(message: ConsumedMessage): number | undefined {
  return headerNumber(message.headers, RETRY_HEADERS.dueAt);
}

/** The record's own headers, without the ones this module sets (other `sluice.` headers, e.g. a claim-check, stay). */
export function userHeaders(headers: ConsumedHeaders): MessageHeaders {
  const kept: MessageHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!OWN_HEADERS.has(name)) kept[name] = value;
  return kept;
}

/** Header values are bounded so a huge error message cannot make the forward too large to produce. */
const MAX_ERROR_MESSAGE_CHARS = 2048;

/** The failure as the headers carry it: the error's name and message. */
export function describeError(error: unknown): { name: string; message: string } {
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  return { name, message: message.length > MAX_ERROR_MESSAGE_CHARS ? `${message.slice(0, MAX_ERROR_MESSAGE_CHARS)}…` : message };
}

/** The headers of a forward: the record's own, its origin, the attempt that failed and why, and the next due time or the dead-letter reason. */
export function forwardHeaders(
  headers: ConsumedHeaders,
  origin: RecordOrigin,
  attempt: number,
  error: unknown,
  next: { dueAtMs: number } | { deadLetterReason: 'exhausted' | 'not-retriable' },
): MessageHeaders {
  const { name, message } = describeError(error);
  return {
    ...userHeaders(headers),
    [RETRY_HEADERS.originalTopic]: origin.topic,
    [RETRY_HEADERS.originalPartition]: String(origin.partition),
    [RETRY_HEADERS.originalOffset]: String(origin.offset),
    [RETRY_HEADERS.originalTimestamp]: String(origin.timestampMs),
    [RETRY_HEADERS.attempt]: String(attempt),
    [RETRY_HEADERS.errorName]: name,
    [RETRY_HEADERS.errorMessage]: message,
    ...('dueAtMs' in next ? { [RETRY_HEADERS.dueAt]: String(next.dueAtMs) } : { [RETRY_HEADERS.deadLetterReason]: next.deadLetterReason }),
  };
}
