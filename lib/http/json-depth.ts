/**
 * How deeply JSON text nests arrays and objects, measured on the bytes before parsing.
 * JSON.parse copes with any depth, but JSON.stringify and schema validation recurse and
 * overflow the stack at a few thousand levels (a 500), so every JSON route refuses deep
 * bodies up front, and fetch refuses to re-render a deep stored value.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** True if `text` (UTF-8 JSON) nests arrays and objects more than `maxDepth` levels; linear, no allocation. */
export function nestsDeeperThan(text: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
