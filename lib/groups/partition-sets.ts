/**
 * Compact storage of partition sets, so that group items stay far below DynamoDB's 400 KB
 * item limit: a topic name is written once per set, and its partitions as ranges.
 *
 *   set    := "" | topic ":" ranges (";" topic ":" ranges)*
 *   ranges := range ("," range)*        range := n | n "-" m   (n < m, ascending)
 *
 * `topic` is a name (member items) or an index into the group's topic table (META), so the
 * 1000 partitions of a 249-character topic take about 260 bytes, not 252 KB. Topic names
 * hold only [a-zA-Z0-9._-], so ':' ';' ',' '-' in a range cannot be confused with a name.
 */
import { parseTpKey, tpKey, type TopicPartitionKey } from './assignors.ts';

function rangesOf(partitions: number[]): string {
  const sorted = [...new Set(partitions)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Encodes `topic:partition` keys; `topicRef` maps a name to what is written for it. */
export function encodePartitions(keys: Iterable<TopicPartitionKey>, topicRef: (topic: string) => string = (t) => t): string {
  const byTopic = new Map<string, number[]>();
  for (const key of keys) {
    const { topic, partition } = parseTpKey(key);
    const list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, [partition]);
    else list.push(partition);
  }
  return [...byTopic]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([topic, partitions]) => `${topicRef(topic)}:${rangesOf(partitions)}`)
    .join(';');
}

/** Decodes what encodePartitions wrote; `topicOf` maps a written reference back to a name. */
export function decodePartitions(encoded: string, topicOf: (ref: string) => string = (r) => r): TopicPartitionKey[] {
  if (encoded === '') return [];
  const keys: TopicPartitionKey[] = [];
  for (const entry of encoded.split(';')) {
    const at = entry.lastIndexOf(':');
    const topic = topicOf(entry.slice(0, at));
    for (const range of entry.slice(at + 1).split(',')) {
      const [from, to] = range.split('-').map(Number) as [number, number | undefined];
      for (let p = from; p <= (to ?? from); p++) keys.push(tpKey(topic, p));
    }
  }
  return keys;
}
