/**
 * KIP-848 `subscribedTopicRegex`. Kafka compiles it with RE2/J, whose matching time is linear;
 * Sluice uses JavaScript's RegExp, which backtracks, so a pattern is accepted only when it
 * cannot backtrack badly: at most MAX_LENGTH characters, no backreferences or lookarounds,
 * and no quantified group that itself holds a quantifier (star height 1, the rule of the
 * safe-regex check). Topic names are at most 249 characters of [a-zA-Z0-9._-], so an
 * accepted pattern matches one name in microseconds. Like Kafka, the pattern must match the
 * whole name (RE2/J's `matches()`), so it is anchored here.
 */
import { SluiceError } from '../errors.ts';

export const MAX_TOPIC_REGEX_LENGTH = 255;

/** Quantifiers after a group that itself contains a quantifier: `(a+)+`, `(a|b*){2,}`. */
function hasNestedQuantifier(pattern: string): boolean {
  const stack: boolean[] = [];
  let quantifiedInside = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      // A class is one atom: skip to its closing bracket.
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      continue;
    }
    if (c === '(') {
      stack.push(quantifiedInside);
      quantifiedInside = false;
    } else if (c === ')') {
      const inner: boolean = quantifiedInside;
      quantifiedInside = (stack.pop() ?? false) || inner;
      const next = pattern[i + 1];
      if (inner && (next === '*' || next === '+' || next === '?' || next === '{')) return true;
    } else if (c === '*' || c === '+' || c === '{') {
      quantifiedInside = true;
    }
  }
  return false;
}

/** Throws INVALID_REGULAR_EXPRESSION unless `pattern` is a regex Sluice accepts (see above). */
export function checkTopicRegex(pattern: string): void {
  const refuse = (why: string) => new SluiceError('INVALID_REGULAR_EXPRESSION', `subscribedTopicRegex ${JSON.stringify(pattern.slice(0, 80))} ${why}`);
  if (pattern.length > MAX_TOPIC_REGEX_LENGTH) throw refuse(`is longer than ${MAX_TOPIC_REGEX_LENGTH} characters`);
  try {
    new RegExp(pattern, 'u');
  } catch (error) {
    throw refuse(`is not a valid regular expression: ${(error as Error).message}`);
  }
  if (/\\[1-9]|\\k<|\(\?<?[=!]/.test(pattern)) throw refuse('uses a backreference or lookaround, which Sluice does not accept');
  if (hasNestedQuantifier(pattern)) throw refuse('quantifies a group that holds a quantifier, which can backtrack exponentially; rewrite it without nesting');
}

const compiled = new Map<string, RegExp>();

/** True when `topic` matches `pattern` as a whole (Kafka's `matches()`). `pattern` was checked on the way in. */
export function topicMatches(pattern: string, topic: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^(?:${pattern})$`, 'u');
    if (compiled.size > 1_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(topic);
}
