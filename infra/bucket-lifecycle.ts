/**
 * The bucket's lifecycle rules. S3 lifecycle works in whole days from an object's creation
 * and knows nothing of topics, so retention's backstop is a ladder: each segment object is
 * tagged, when written, with the smallest rung at or above its topic's retention.ms in
 * days plus one (lib/retention/lifecycle.ts), and there is one rule per rung expiring the
 * objects tagged with it. Untagged objects are never expired by lifecycle. The ladder and
 * the tag name come from lib/retention/lifecycle.ts, the module that tags the objects, so
 * the rules and the tags cannot disagree.
 */
import { Duration } from 'aws-cdk-lib';
import type { LifecycleRule } from 'aws-cdk-lib/aws-s3';
import { EXPIRY_LADDER_DAYS, EXPIRY_TAG } from '../lib/retention/lifecycle.ts';
import { DATA_PREFIX } from '../lib/storage/schema.ts';

/** The id of the rule expiring objects tagged with `days`; part of the bucket's contract, like construct ids. */
export function expiryRuleId(days: number): string {
  return `ExpireTagged${days}Days`;
}

/** The rules: multipart clean-up always, and the expiry ladder when `retentionBackstop` is on. */
export function lifecycleRules(retentionBackstop: boolean): LifecycleRule[] {
  const rules: LifecycleRule[] = [
    // A PUT that dies mid-upload would otherwise be billed forever.
    { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
  ];
  if (!retentionBackstop) return rules;
  for (const days of EXPIRY_LADDER_DAYS) {
    rules.push({ id: expiryRuleId(days), prefix: DATA_PREFIX, tagFilters: { [EXPIRY_TAG]: String(days) }, expiration: Duration.days(days) });
  }
  return rules;
}
