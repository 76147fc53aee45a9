/**
 * How a request's partitions are packed into DynamoDB transactions. TransactWriteItems
 * holds at most 100 items (an AWS limit); a commit spends, per partition, one item on the
 * head and one on the index entry, plus one on the producer state for an idempotent
 * producer; and, per transaction, one check that the topic incarnation is still live and
 * one that the producer ids met at sequence 0 were issued.
 */

/** DynamoDB's cap on items in one TransactWriteItems. */
export const MAX_TRANSACTION_ITEMS = 100;

/** What the packing needs to know of a draft. */
export interface CommitCost {
  /** Set for an idempotent producer's batches. */
  producer?: { firstSequence: number };
}

/** Items a draft spends in a transaction, beside the per-transaction checks. */
export function itemsOf(draft: CommitCost): number {
  return draft.producer === undefined ? 2 : 3;
}

/** Per-transaction items: the topic check, and the issued check when a producer starts at sequence 0. */
export function overheadOf(drafts: readonly CommitCost[]): number {
  return drafts.some((d) => d.producer?.firstSequence === 0) ? 2 : 1;
}

/**
 * Splits drafts, in order, into as few consecutive groups as fit one transaction each.
 * Returns index ranges [start, end). A request with one group commits atomically.
 */
export function planCommitGroups(drafts: readonly CommitCost[]): Array<[number, number]> {
  const groups: Array<[number, number]> = [];
  let start = 0;
  while (start < drafts.length) {
    let end = start + 1;
    while (end < drafts.length && fits(drafts.slice(start, end + 1))) end++;
    groups.push([start, end]);
    start = end;
  }
  return groups;
}

function fits(drafts: readonly CommitCost[]): boolean {
  return overheadOf(drafts) + drafts.reduce((n, d) => n + itemsOf(d), 0) <= MAX_TRANSACTION_ITEMS;
}
