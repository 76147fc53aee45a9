/**
 * The S3 lifecycle backstop. Lifecycle rules work in whole days and know nothing of
 * topics, so each object carries a tag naming the day count after which lifecycle may
 * expire it, and the bucket has one rule per rung of a fixed ladder (infra/ declares the
 * same ladder). The tag is the smallest rung at or above the topic's retention.ms rounded
 * up to days, plus one day of margin, so lifecycle never removes what retention keeps; the
 * compact function remains the precise mechanism, lifecycle only catches what it missed.
 * Topics that keep records forever, beyond the ladder, or by key (cleanup.policy=compact)
 * get no tag and are never expired by lifecycle. When retention.ms grows, the compact
 * function re-tags older objects (retagEntries) before their old tag can expire them.
 */
import type { TopicConfigs } from '../log/topic-config.ts';

/** Object tag read by the bucket's lifecycle rules. */
export const EXPIRY_TAG = 'sluice-expire-days';

/** Day counts with a lifecycle rule each. */
export const EXPIRY_LADDER_DAYS = [1, 2, 3, 7, 14, 30, 60, 90, 180, 365] as const;

const DAY_MS = 86_400_000;

/** The rung for a topic's objects, or 0 when lifecycle must never expire them. */
export function expiryDaysFor(configs: TopicConfigs): number {
  const retentionMs = configs['retention.ms'];
  if (retentionMs < 0 || configs['cleanup.policy'] === 'compact') return 0;
  const needed = Math.ceil(retentionMs / DAY_MS) + 1;
  return EXPIRY_LADDER_DAYS.find((days) => days >= needed) ?? 0;
}

/** The `Tagging` parameter of a PutObject for `days` (undefined: no tag). */
export function expiryTagging(days: number): string | undefined {
  return days === 0 ? undefined : `${EXPIRY_TAG}=${days}`;
}

/** True when an object tagged `currentDays` could expire before `desiredDays` allows. */
export function needsRetag(currentDays: number, desiredDays: number): boolean {
  if (currentDays === 0) return false;
  return desiredDays === 0 || desiredDays > currentDays;
}

/**
 * When the object behind `objectKey` was written: segment keys begin with the write time
 * (lib/storage/segment-objects.ts). Lifecycle counts its days from the object's creation,
 * which is no earlier. Keys of another shape fall back to `fallbackMs`.
 */
export function writtenAtMs(objectKey: string, fallbackMs: number): number {
  const match = /\/(\d{15})-[a-z]+-[^/]*$/.exec(objectKey);
  return match === null ? fallbackMs : Number(match[1]);
}

/** The earliest time lifecycle may expire an object written at `writtenMs` and tagged `days` (0: never). */
export function earliestExpiryMs(writtenMs: number, days: number): number {
  return days === 0 ? Number.POSITIVE_INFINITY : writtenMs + days * DAY_MS;
}

/**
 * The tag an indexed object needs so that lifecycle cannot remove it while the index still
 * names it, or undefined when its tag is safe until `horizonMs` (the next time this is
 * checked). `releasedAtMs` is when retention frees the entry (Infinity for the newest entry,
 * which retention always keeps, and for topics that keep records forever); `marginMs`
 * covers a late run. The new tag is the smallest rung that outlives the entry, else none.
 */
export function safeExpiryDays(currentDays: number, writtenMs: number, releasedAtMs: number, horizonMs: number, marginMs: number): number | undefined {
  const expiresAtMs = earliestExpiryMs(writtenMs, currentDays);
  if (expiresAtMs > horizonMs + marginMs || expiresAtMs > releasedAtMs + marginMs) return undefined;
  return EXPIRY_LADDER_DAYS.find((days) => days > currentDays && earliestExpiryMs(writtenMs, days) > Math.max(releasedAtMs, horizonMs) + marginMs) ?? 0;
}
