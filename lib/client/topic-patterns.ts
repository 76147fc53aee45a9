/**
 * RegExp subscriptions, sent to the group as one KIP-848 `subscribedTopicRegex`. A RegExp
 * here matches as `RegExp.test` does (anywhere in the name, as kafkajs matches), while the
 * server matches whole names (as Kafka's RE2/J `matches()`), so each is wrapped in `.*(?:…).*`.
 * The server refuses patterns that could backtrack badly (lib/groups/topic-regex.ts).
 */
import { SluiceError } from '../errors.ts';

/** One server-side regex for `patterns`, or undefined when there are none. */
export function topicRegexOf(patterns: readonly RegExp[]): string | undefined {
  if (patterns.length === 0) return undefined;
  for (const p of patterns) {
    const unsupported = p.flags.replace(/[gyud]/g, '');
    if (unsupported !== '') throw new SluiceError('INVALID_REQUEST', `subscribe() cannot send the RegExp flags ${JSON.stringify(unsupported)} of ${String(p)} to the group; write the pattern without them`);
  }
  return patterns.map((p) => `.*(?:${p.source}).*`).join('|');
}

/** True when `topic` is matched by one of `patterns` (as the server will match it). */
export function matchesAny(patterns: readonly RegExp[], topic: string): boolean {
  return patterns.some((p) => new RegExp(p.source, p.flags.replace(/[gy]/g, '')).test(topic));
}
