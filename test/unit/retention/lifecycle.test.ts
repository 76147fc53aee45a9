import { describe, expect, it } from 'vitest';
import { EXPIRY_LADDER_DAYS, expiryDaysFor, expiryTagging, needsRetag } from '../../../lib/retention/lifecycle.ts';
import { topicConfigsFrom } from '../../../lib/log/topic-config.ts';

const DAY = 86_400_000;

describe('expiryDaysFor', () => {
  it.each([
    [1, 2],
    [DAY, 2],
    [DAY + 1, 3],
    [7 * DAY, 14],
    [6 * DAY, 7],
    [90 * DAY, 180],
    [364 * DAY, 365],
  ])('tags retention.ms %i with the rung %i: at least one day past retention', (retentionMs, days) => {
    expect(expiryDaysFor(topicConfigsFrom({ 'retention.ms': retentionMs }))).toBe(days);
  });

  it('never tags topics that keep records forever, longer than the ladder, or by key', () => {
    expect(expiryDaysFor(topicConfigsFrom({ 'retention.ms': -1 }))).toBe(0);
    expect(expiryDaysFor(topicConfigsFrom({ 'retention.ms': 365 * DAY }))).toBe(0);
    expect(expiryDaysFor(topicConfigsFrom({ 'cleanup.policy': 'compact' }))).toBe(0);
    expect(expiryDaysFor(topicConfigsFrom({ 'cleanup.policy': 'compact,delete', 'retention.ms': DAY }))).toBe(2);
  });

  it('never lets lifecycle expire an object before retention.ms allows', () => {
    for (let ms = 0; ms < 400 * DAY; ms += DAY / 3) {
      const days = expiryDaysFor(topicConfigsFrom({ 'retention.ms': ms }));
      if (days !== 0) expect(days * DAY).toBeGreaterThan(ms);
      if (days !== 0) expect(EXPIRY_LADDER_DAYS).toContain(days);
    }
  });
});

describe('expiryTagging and needsRetag', () => {
  it('renders the tag as a PutObject Tagging query string, and nothing for 0', () => {
    expect(expiryTagging(7)).toBe('sluice-expire-days=7');
    expect(expiryTagging(0)).toBeUndefined();
  });

  it('re-tags only objects whose tag could expire them sooner than the new retention', () => {
    expect(needsRetag(7, 14)).toBe(true);
    expect(needsRetag(7, 0)).toBe(true);
    expect(needsRetag(14, 7)).toBe(false);
    expect(needsRetag(0, 7)).toBe(false);
  });
});
