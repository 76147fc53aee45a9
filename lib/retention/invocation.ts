import { z } from 'zod';

/**
 * The compact function's input: the EventBridge schedule (any event without a partition:
 * a pass over everything) or the asynchronous trigger from produce (one partition).
 */
export const compactionRequestSchema = z.object({
  topic: z.string().min(1),
  partition: z.number().int().min(0),
});

export type CompactionRequest = z.infer<typeof compactionRequestSchema>;

/** The partition named by `event`, or undefined for a full pass. */
export function partitionRequested(event: unknown): CompactionRequest | undefined {
  const parsed = compactionRequestSchema.safeParse(event);
  return parsed.success ? parsed.data : undefined;
}
