/**
 * What the two consume modes (assigned partitions, a group) share: where each partition's
 * consumption ends and how much the progress bar counts. Its own module: consume.ts imports
 * both modes, so they cannot import values from it at load time.
 */
import type { ConsumeOptions } from './consume.ts';

/** A partition's key in the maps the consume commands keep. */
export const partitionKey = (topic: string, partition: number): string => `${topic}/${partition}`;

/**
 * Where each partition's consumption ends (its high watermark now, unless following; and
 * --until's offset), and how many records the progress bar counts from `startOf`.
 */
export function consumeBounds<P extends { topic: string; partition: number; highWatermark: number }>(
  partitions: readonly P[],
  startOf: (p: P) => number,
  options: Pick<ConsumeOptions, 'follow' | 'until' | 'maxMessages'>,
): { ends: Map<string, number>; total: number } {
  const follow = options.follow === true;
  const untilOffset = options.until?.kind === 'offset' ? options.until.offset : Number.POSITIVE_INFINITY;
  const ends = new Map(partitions.map((p) => [partitionKey(p.topic, p.partition), Math.min(follow ? Number.POSITIVE_INFINITY : p.highWatermark, untilOffset)]));
  const backlog = partitions.reduce((n, p) => n + Math.max(0, Math.min(p.highWatermark, untilOffset) - startOf(p)), 0);
  const total = options.maxMessages === undefined ? (follow ? 0 : backlog) : follow ? options.maxMessages : Math.min(options.maxMessages, backlog);
  return { ends, total };
}
