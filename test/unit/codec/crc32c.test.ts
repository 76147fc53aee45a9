import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CRC32C_IMPLEMENTATION, crc32c, portableCrc32c } from '../../../lib/codec/crc32c.ts';

const require = createRequire(import.meta.url);
// kafkajs's own CRC-32C, used for its RecordBatch v2 encoder.
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (data: Buffer) => number;

/** Bit-at-a-time CRC-32C, straight from the definition. */
function referenceCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// RFC 3720 (iSCSI), appendix B.4.
const RFC_3720_VECTORS: Array<[string, Buffer, number]> = [
  ['32 zero bytes', Buffer.alloc(32, 0), 0x8a9136aa],
  ['32 0xFF bytes', Buffer.alloc(32, 0xff), 0x62a8ab43],
  ['bytes 0..31 ascending', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
  ['bytes 31..0 descending', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
];

/** `bytes` copied into a larger buffer at `offset`, with other bytes around them. */
function embedded(bytes: Uint8Array, offset: number): Buffer {
  const buf = Buffer.alloc(offset + bytes.length + 7, 0xa5);
  buf.set(bytes, offset);
  return buf;
}

describe.each([
  ['crc32c', crc32c],
  ['portableCrc32c', portableCrc32c],
])('%s', (_name, crc) => {
  it('finds each known vector at every offset 0..7 of a larger buffer', () => {
    const vectors: Array<[Buffer, number]> = [[Buffer.from('123456789'), 0xe3069283], ...RFC_3720_VECTORS.map(([, data, expected]) => [data, expected] as [Buffer, number])];
    for (const [data, expected] of vectors) {
      for (let offset = 0; offset < 8; offset++) {
        expect(crc(embedded(data, offset), offset, offset + data.length)).toBe(expected);
        // The same bytes seen through an unaligned view rather than a range.
        expect(crc(embedded(data, offset).subarray(offset, offset + data.length))).toBe(expected);
      }
    }
  });

  it('matches the bitwise definition for lengths around the word-loop and native thresholds at every alignment', () => {
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
    for (const length of [63, 64, 65, 79, 80, 255, 256, 257, 1023, 1024, 1041, 4096, 4099]) {
      for (let start = 0; start < 8; start++) {
        expect(crc(data, start, start + length)).toBe(referenceCrc32c(data.subarray(start, start + length)));
      }
    }
  });

  it('continues a checksum across pieces on either side of the native threshold', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.nat(), fc.nat(7), (bytes, cut, shift) => {
        const data = embedded(bytes, shift);
        const split = shift + (cut % bytes.length);
        const first = crc(data, shift, split);
        expect(crc(data, split, shift + bytes.length, first)).toBe(referenceCrc32c(bytes));
      }),
      { numRuns: 200 },
    );
  });
});

describe('crc32c', () => {
  it('agrees with the portable implementation on random ranges of inputs up to 8 KiB', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8192 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (bytes.length === start ? 0 : b % (bytes.length - start + 1));
        expect(crc32c(bytes, start, end)).toBe(portableCrc32c(bytes, start, end));
      }),
      { numRuns: 300 },
    );
  });

  it('uses the native addon when its binary for this platform is installed', () => {
    let installed = true;
    try {
      require.resolve('@node-rs/crc32');
      require('@node-rs/crc32');
    } catch {
      installed = false;
    }
    expect(CRC32C_IMPLEMENTATION).toBe(installed && process.env.SLUICE_CRC32C !== 'portable' ? 'native' : 'portable');
  });

  it('matches the standard check value CRC-32C("123456789") = 0xE3069283', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('is 0 for empty input', () => {
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it.each(RFC_3720_VECTORS)('matches the RFC 3720 vector for %s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
  });

  it('matches the bitwise definition for every length and alignment', () => {
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff));
    for (let start = 0; start < 8; start++) {
      for (let end = start; end <= data.length; end += 1) {
        expect(crc32c(data, start, end)).toBe(referenceCrc32c(data.subarray(start, end)));
      }
    }
  });

  it('agrees with kafkajs on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const data = Buffer.from(bytes);
        expect(crc32c(data)).toBe(kafkajsCrc32c(data));
      }),
    );
  });

  it('continues a checksum across pieces when given the previous result', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), fc.nat(), (bytes, cut) => {
        const split = bytes.length === 0 ? 0 : cut % bytes.length;
        const first = crc32c(bytes, 0, split);
        expect(crc32c(bytes, split, bytes.length, first)).toBe(crc32c(bytes));
      }),
    );
  });

  it('reads views of a larger buffer at unaligned offsets correctly', () => {
    const backing = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff));
    for (const offset of [1, 2, 3, 5, 13]) {
      const view = backing.subarray(offset, offset + 1000);
      expect(crc32c(view)).toBe(referenceCrc32c(view));
    }
  });

  it('throws RangeError for a range outside the input', () => {
    expect(() => crc32c(Buffer.alloc(4), 0, 5)).toThrow(RangeError);
    expect(() => crc32c(Buffer.alloc(4), 3, 2)).toThrow(RangeError);
    expect(() => crc32c(Buffer.alloc(4096), 0, 4097)).toThrow(RangeError);
    expect(() => portableCrc32c(Buffer.alloc(4), 0, 5)).toThrow(RangeError);
  });
});
