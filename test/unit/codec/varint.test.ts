import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../../lib/errors.ts';
import { type Cursor, readVarint, readVarlong, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../../../lib/codec/varint.ts';

// kafkajs's Encoder is an independent implementation of Kafka's varints to compare against.
interface KafkaJsEncoder {
  writeVarInt(value: number): KafkaJsEncoder;
  writeVarLong(value: number): KafkaJsEncoder;
  buffer: Buffer;
}
const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkaJsEncoder;

/** Reference zigzag varlong encoder over bigint, straight from the definition. */
function referenceVarlong(value: bigint): Buffer {
  let v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

function encodeVarint(value: number): Buffer {
  const buf = Buffer.alloc(5);
  return buf.subarray(0, writeVarint(buf, 0, value));
}

function encodeVarlong(value: number): Buffer {
  const buf = Buffer.alloc(10);
  return buf.subarray(0, writeVarlong(buf, 0, value));
}

function cursorOver(buf: Uint8Array): Cursor {
  return { pos: 0, end: buf.length };
}

function expectCorrupt(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SluiceError);
    expect((error as SluiceError).code).toBe('CORRUPT_MESSAGE');
    return error as SluiceError;
  }
  throw new Error('expected a CORRUPT_MESSAGE SluiceError');
}

describe('varint', () => {
  it.each([
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [63, '7e'],
    [-64, '7f'],
    [64, '8001'],
    [300, 'd804'],
    [2147483647, 'feffffff0f'],
    [-2147483648, 'ffffffff0f'],
  ])('encodes %d as the bytes Kafka writes (%s)', (value, hex) => {
    expect(encodeVarint(value).toString('hex')).toBe(hex);
    expect(sizeOfVarint(value)).toBe(hex.length / 2);
    expect(readVarint(Buffer.from(hex, 'hex'), cursorOver(Buffer.from(hex, 'hex')))).toBe(value);
  });

  it('round-trips every int32 and agrees with kafkajs byte for byte', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (value) => {
        const bytes = encodeVarint(value);
        expect(bytes.equals(new Encoder().writeVarInt(value).buffer)).toBe(true);
        expect(bytes.length).toBe(sizeOfVarint(value));
        const cursor = cursorOver(bytes);
        expect(readVarint(bytes, cursor)).toBe(value);
        expect(cursor.pos).toBe(bytes.length);
      }),
    );
  });

  it('drops the overflowing bits of a fifth byte, as Java does', () => {
    const bytes = Buffer.from('ffffffff7f', 'hex');
    expect(readVarint(bytes, cursorOver(bytes))).toBe(-2147483648);
  });

  it('rejects a varint longer than five bytes', () => {
    const bytes = Buffer.from('ffffffffff01', 'hex');
    expect(expectCorrupt(() => readVarint(bytes, cursorOver(bytes))).message).toMatch(/longer than 5 bytes/);
  });

  it('rejects a varint cut off by the end of its range', () => {
    const bytes = Buffer.from('8080', 'hex');
    expectCorrupt(() => readVarint(bytes, cursorOver(bytes)));
    expectCorrupt(() => readVarint(Buffer.from('00', 'hex'), { pos: 0, end: 0 }));
  });
});

describe('varlong', () => {
  it.each([0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 1700000000000, -1700000000000, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER])(
    'encodes %d exactly as the int64 zigzag definition',
    (value) => {
      const bytes = encodeVarlong(value);
      expect(bytes.toString('hex')).toBe(referenceVarlong(BigInt(value)).toString('hex'));
      expect(sizeOfVarlong(value)).toBe(bytes.length);
      expect(readVarlong(bytes, cursorOver(bytes))).toBe(value);
    },
  );

  it('round-trips every safe integer and agrees with kafkajs byte for byte', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })), (value) => {
        const bytes = encodeVarlong(value);
        expect(bytes.equals(new Encoder().writeVarLong(value).buffer)).toBe(true);
        expect(bytes.length).toBe(sizeOfVarlong(value));
        const cursor = cursorOver(bytes);
        expect(readVarlong(bytes, cursor)).toBe(value);
        expect(cursor.pos).toBe(bytes.length);
      }),
    );
  });

  it('rejects a varlong beyond the safe integer range instead of rounding it', () => {
    for (const value of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      const bytes = referenceVarlong(value);
      expect(expectCorrupt(() => readVarlong(bytes, cursorOver(bytes))).message).toMatch(/safe integer/);
    }
  });

  it('rejects a varlong longer than ten bytes and one cut off by the end of its range', () => {
    const tooLong = Buffer.from('ffffffffffffffffff8001', 'hex');
    expect(expectCorrupt(() => readVarlong(tooLong, cursorOver(tooLong))).message).toMatch(/longer than 10 bytes/);
    const cut = Buffer.from('ff80', 'hex');
    expectCorrupt(() => readVarlong(cut, cursorOver(cut)));
  });

  it('never throws anything but CORRUPT_MESSAGE on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        for (const read of [readVarint, readVarlong]) {
          try {
            read(bytes, cursorOver(bytes));
          } catch (error) {
            expect(error).toBeInstanceOf(SluiceError);
          }
        }
      }),
    );
  });
});
