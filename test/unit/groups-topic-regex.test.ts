import { describe, expect, it } from 'vitest';
import { checkTopicRegex, topicMatches } from '../../lib/groups/topic-regex.ts';

describe('checkTopicRegex', () => {
  it.each(['orders-.*', '(eu|us)-[0-9]+', '.*(?:^crx-).*|.*(?:audit).*', 'a{2,3}b', '[a-z]+\\.events'])('accepts %j', (pattern) => {
    expect(() => checkTopicRegex(pattern)).not.toThrow();
  });

  it.each(['(a+)+', '(a*)*b', '(x|y+){2,}', '(?:a|aa)+?c*)', '(a)\\1', '(?=a)a', '(?<!b)a', 'a'.repeat(256), '('])('refuses %j with INVALID_REGULAR_EXPRESSION', (pattern) => {
    expect(() => checkTopicRegex(pattern)).toThrow(expect.objectContaining({ code: 'INVALID_REGULAR_EXPRESSION' }));
  });
});

describe('topicMatches', () => {
  it('matches whole names only, as Kafka matches a subscription regex', () => {
    expect(topicMatches('orders-.*', 'orders-eu')).toBe(true);
    expect(topicMatches('orders-.*', 'old-orders-eu')).toBe(false);
    expect(topicMatches('eu|us', 'eu')).toBe(true);
    expect(topicMatches('eu|us', 'eu-orders')).toBe(false);
  });
});
