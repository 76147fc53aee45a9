/**
 * The hold a DeleteGroups puts on a group's META while it removes the group's items
 * (delete-group.ts): until `deletingUntilMs`, every write that would make the group
 * non-empty or give it offsets (a join's META write, a standalone commit or reset) fails
 * its condition and is retried, so a join that lands during a deletion waits for it rather
 * than leaving a half-deleted group. A join's Put of META drops the attribute, so an expired
 * hold (a crashed deletion) frees the group by itself.
 */

/** META attribute: epoch ms until which the group is being deleted. */
export const DELETE_HOLD_ATTRIBUTE = 'deletingUntilMs';

/** Condition fragment: no live deletion holds META. Needs `:now` (epoch ms). */
export const notBeingDeleted = `(attribute_not_exists(${DELETE_HOLD_ATTRIBUTE}) OR ${DELETE_HOLD_ATTRIBUTE} < :now)`;
