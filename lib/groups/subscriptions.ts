/**
 * What a group consumes: each member's explicit topics plus the existing topics its
 * `subscribedTopicRegex` matches (topic-regex.ts), and the group's topic table built from them.
 */
import { topicMatches } from './topic-regex.ts';
import type { GroupTopic, Member } from './schema.ts';

/** Same topics, incarnations and partition counts, in the same (name) order. */
export function sameTopics(a: readonly GroupTopic[], b: readonly GroupTopic[]): boolean {
  return a.length === b.length && a.every((t, i) => t.name === b[i]?.name && t.topicId === b[i]?.topicId && t.partitions === b[i]?.partitions);
}

/** The topics a member consumes: its explicit subscription and the existing topics its regex matches. */
export function effectiveSubscription(member: Pick<Member, 'subscribedTopics' | 'subscribedRegex'>, topics: ReadonlyMap<string, GroupTopic>): string[] {
  const regex = member.subscribedRegex;
  if (regex === undefined) return member.subscribedTopics;
  return [...new Set([...member.subscribedTopics, ...[...topics.keys()].filter((name) => topicMatches(regex, name))])].sort();
}

/** The group's topics as they exist now, sorted by name: what its target is computed for. */
export function topicsOf(live: readonly Member[], topics: ReadonlyMap<string, GroupTopic>): GroupTopic[] {
  return [...new Set(live.flatMap((m) => effectiveSubscription(m, topics)))].sort().flatMap((name) => topics.get(name) ?? []);
}

