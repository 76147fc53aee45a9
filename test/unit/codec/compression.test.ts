import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../../lib/errors.ts';
import {
  type Compression,
  compress,
  compressionFromId,
  compressionId,
  decompress,
  MAX_DECOMPRESSED_BYTES,
} from '../../../lib/codec/compression.ts';

// Independent implementations to check our framing against. zstd-wasm is the same instance
// our module initialises; it must never be init()ed twice.
const require = createRequire(import.meta.url);
const snappyjs = require('snappyjs') as { compress(data: Uint8Array): Uint8Array; uncompress(data: Uint8Array): Uint8Array };
const lz4js = require('lz4js') as { compress(data: Uint8Array): Uint8Array; decompress(data: Uint8Array): Uint8Array };
const xxh32 = require('lz4js/xxh32.js') as { hash(seed: number, data: Uint8Array, start: number, length: number): number };
const zstdWasm = require('@bokuweb/zstd-wasm') as { compress(data: Uint8Array, level?: number): Uint8Array; decompress(data: Uint8Array): Uint8Array };

const CODECS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const COMPRESSING: readonly Compression[] = ['gzip', 'snappy', 'lz4', 'zstd'];

function text(bytes: number): Buffer {
  const line = 'the quick brown fox jumps over the lazy dog 0123456789 ';
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

function noise(bytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function expectCorrupt(promise: Promise<unknown>): Promise<SluiceError> {
  const error: unknown = await promise.then(
    () => new Error('expected CORRUPT_MESSAGE, but it resolved'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SluiceError);
  expect((error as SluiceError).code).toBe('CORRUPT_MESSAGE');
  return error as SluiceError;
}

/** Parses the blocks of an LZ4 frame with a 7-byte descriptor and no checksums. */
function lz4Blocks(frame: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  let pos = 7;
  for (;;) {
    const word = frame.readUInt32LE(pos);
    if (word === 0) return blocks;
    const size = word & 0x7fffffff;
    blocks.push(frame.subarray(pos, pos + 4 + size));
    pos += 4 + size;
  }
}

/** Rewrites one of our frames with optional LZ4 frame features Kafka's writer never uses. */
function reframeLz4(frame: Buffer, content: Buffer, features: { blockChecksum?: boolean; contentChecksum?: boolean; contentSize?: boolean }): Buffer {
  const flg = 0x60 | (features.blockChecksum ? 0x10 : 0) | (features.contentSize ? 0x08 : 0) | (features.contentChecksum ? 0x04 : 0);
  const descriptor = Buffer.from([flg, 0x40]);
  const size = Buffer.alloc(features.contentSize ? 8 : 0);
  if (features.contentSize) size.writeUInt32LE(content.length, 0);
  const described = Buffer.concat([descriptor, size]);
  const parts: Buffer[] = [Buffer.from('04224d18', 'hex'), described, Buffer.from([(xxh32.hash(0, described, 0, described.length) >>> 8) & 0xff])];
  for (const block of lz4Blocks(frame)) {
    parts.push(block);
    if (features.blockChecksum) {
      const sum = Buffer.alloc(4);
      sum.writeUInt32LE(xxh32.hash(0, block, 4, block.length - 4));
      parts.push(sum);
    }
  }
  parts.push(Buffer.alloc(4));
  if (features.contentChecksum) {
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(xxh32.hash(0, content, 0, content.length));
    parts.push(sum);
  }
  return Buffer.concat(parts);
}

/** A zstd frame without a content size (as streaming writers such as zstd-jni emit), built from RLE blocks. */
function zstdRleFrame(blocks: number, byte: number, blockBytes = 128 * 1024): Buffer {
  // Frame header descriptor 0: no content size, not single-segment; window log 17 (128 KiB).
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3])];
  for (let i = 0; i < blocks; i++) {
    const header = (blockBytes << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    parts.push(Buffer.from([header & 0xff, (header >>> 8) & 0xff, (header >>> 16) & 0xff, byte]));
  }
  return Buffer.concat(parts);
}

describe('compression codec ids', () => {
  it('maps attribute bits 0-2 to codecs as Kafka numbers them', () => {
    expect(CODECS.map((codec) => compressionId(codec))).toEqual([0, 1, 2, 3, 4]);
    expect([0, 1, 2, 3, 4].map((id) => compressionFromId(id))).toEqual(CODECS);
  });

  it.each([5, 6, 7])('rejects codec id %d as UNSUPPORTED_COMPRESSION_TYPE', (id) => {
    expect(() => compressionFromId(id)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_COMPRESSION_TYPE' }));
  });
});

describe('compress and decompress', () => {
  it.each(COMPRESSING.flatMap((codec) => [
    [codec, 'empty input', Buffer.alloc(0)],
    [codec, 'one byte', Buffer.from([42])],
    [codec, '300 KiB of text', text(300 * 1024)],
    [codec, '200 KiB of noise', noise(200 * 1024)],
  ] as const))('round-trips %s with %s', async (codec, _name, data) => {
    const packed = await compress(codec, data);
    expect((await decompress(codec, packed)).equals(data)).toBe(true);
  });

  it('passes data through unchanged for none', async () => {
    const data = text(100);
    expect(await compress('none', data)).toBe(data);
    expect(await decompress('none', data)).toBe(data);
  });

  it('round-trips arbitrary bytes for every codec', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMPRESSING), fc.uint8Array({ maxLength: 5000 }), async (codec, bytes) => {
        const data = Buffer.from(bytes);
        expect((await decompress(codec, await compress(codec, data))).equals(data)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('snappy', () => {
  it('writes the xerial framing Kafka’s Java client writes, in 32 KiB blocks', async () => {
    const data = text(100 * 1024);
    const framed = await compress('snappy', data);
    expect(framed.subarray(0, 16).toString('hex')).toBe('82534e41505059000000000100000001');
    const blocks: Buffer[] = [];
    for (let pos = 16; pos < framed.length; ) {
      const length = framed.readInt32BE(pos);
      blocks.push(Buffer.from(snappyjs.uncompress(framed.subarray(pos + 4, pos + 4 + length))));
      pos += 4 + length;
    }
    expect(blocks.map((b) => b.length)).toEqual([32768, 32768, 32768, 4096]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);
  });

  it('reads raw snappy without the xerial framing', async () => {
    const data = text(5000);
    expect((await decompress('snappy', snappyjs.compress(data))).equals(data)).toBe(true);
  });

  it('rejects a raw snappy stream that claims to expand past the limit', async () => {
    const header = Buffer.from([0x80, 0x80, 0x80, 0x40]); // varint length 128 MiB
    expect((await expectCorrupt(decompress('snappy', Buffer.concat([header, Buffer.alloc(10)])))).message).toMatch(/over the \d+-byte limit/);
  });

  it('rejects quickly the corrupt block that kept snappyjs busy for seconds (a fuzzer find)', async () => {
    // 157 bytes declaring 298: snappyjs's uncompress took ~9 s to reject it.
    const block = Buffer.from(
      'aa029030000000012476c3a4726465203020e29c9320f09f9a80200082010003020a6b65792d31480d1f0031191f4612005c040a7472616365020110d0bad0bbd18ed18701a601000c04054304326c0d3100324243007212001155000219550c160008060554183301005e001808050c003411c200341960113cfc04101591147800140a01480d8b0035192b461200113d280510d0bad0bbd18ed1870d',
      'hex',
    );
    const started = performance.now();
    await expectCorrupt(decompress('snappy', block));
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('decodes random bytes as raw snappy in time linear in the input, failing only with CORRUPT_MESSAGE', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
        const started = performance.now();
        try {
          await decompress('snappy', bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(SluiceError);
        }
        expect(performance.now() - started).toBeLessThan(50);
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects an xerial block whose length overruns the input', async () => {
    const framed = await compress('snappy', text(1000));
    framed.writeInt32BE(framed.length, 16);
    await expectCorrupt(decompress('snappy', framed));
  });
});

describe('lz4', () => {
  it('writes a frame Kafka accepts: version 1, independent blocks, 64 KiB blocks, correct header checksum', async () => {
    const frame = await compress('lz4', text(200 * 1024));
    expect(frame.subarray(0, 7).toString('hex')).toBe('04224d18604082');
    expect(lz4Blocks(frame)).toHaveLength(4);
  });

  it('writes frames that an independent LZ4 implementation (lz4js) decodes', async () => {
    for (const data of [text(150 * 1024), noise(70 * 1024), Buffer.alloc(0)]) {
      expect(Buffer.from(lz4js.decompress(await compress('lz4', data))).equals(data)).toBe(true);
    }
  });

  it('reads lz4js frames, whose 4 MiB blocks are not flagged independent', async () => {
    const data = text(300 * 1024);
    const frame = Buffer.from(lz4js.compress(data));
    expect(frame[4]! & 0x20).toBe(0);
    expect((await decompress('lz4', frame)).equals(data)).toBe(true);
  });

  it('verifies block checksums, content checksum and content size when a frame has them', async () => {
    const data = text(140 * 1024);
    const frame = await compress('lz4', data);
    const full = reframeLz4(frame, data, { blockChecksum: true, contentChecksum: true, contentSize: true });
    expect((await decompress('lz4', full)).equals(data)).toBe(true);

    const badBlockSum = Buffer.from(full);
    badBlockSum[7 + 8 + 4 + 10]! ^= 0x01;
    expect((await expectCorrupt(decompress('lz4', badBlockSum))).message).toMatch(/checksum/);
    const badContentSum = Buffer.from(full);
    badContentSum[badContentSum.length - 1]! ^= 0x01;
    expect((await expectCorrupt(decompress('lz4', badContentSum))).message).toMatch(/content checksum/);
  });

  it('rejects a frame whose descriptor checksum is wrong', async () => {
    const frame = await compress('lz4', text(1000));
    frame[6]! ^= 0xff;
    expect((await expectCorrupt(decompress('lz4', frame))).message).toMatch(/descriptor checksum/);
  });

  it('rejects a match that points before the start of its block', async () => {
    // One block: token 0x10 (1 literal, match length 4), literal 'a', match offset 2 > 1 byte of history.
    const block = Buffer.from([0x10, 0x61, 0x02, 0x00, 0x00]);
    const frame = Buffer.concat([Buffer.from('04224d18604082', 'hex'), Buffer.from([block.length, 0, 0, 0]), block, Buffer.alloc(4)]);
    expect((await expectCorrupt(decompress('lz4', frame))).message).toMatch(/outside the window/);
  });

  it('rejects a frame whose blocks could expand past the limit, before decoding them', async () => {
    const blocks = Math.ceil(MAX_DECOMPRESSED_BYTES / 65536) + 1;
    const block = Buffer.concat([Buffer.from([300 & 0xff, 300 >> 8, 0, 0]), Buffer.alloc(300)]);
    const frame = Buffer.concat([Buffer.from('04224d18604082', 'hex'), ...Array.from({ length: blocks }, () => block), Buffer.alloc(4)]);
    expect((await expectCorrupt(decompress('lz4', frame))).message).toMatch(/exceeds/);
  });
});

describe('zstd', () => {
  it('writes frames the reference zstd decodes', async () => {
    // Initialised through our module: a second init() would wipe the wasm heap.
    await compress('zstd', Buffer.alloc(0));
    const data = text(100 * 1024);
    expect(Buffer.from(zstdWasm.decompress(await compress('zstd', data))).equals(data)).toBe(true);
  });

  it('reads frames without a content size, as streaming writers emit them', async () => {
    const frame = zstdRleFrame(20, 0x61);
    const out = await decompress('zstd', frame);
    expect(out.length).toBe(20 * 128 * 1024);
    expect(out.every((b) => b === 0x61)).toBe(true);
  });

  it('rejects a frame that expands past the limit without declaring its size', async () => {
    const frame = zstdRleFrame(MAX_DECOMPRESSED_BYTES / (128 * 1024) + 1, 0);
    await expectCorrupt(decompress('zstd', frame));
  });

  it('rejects a frame that declares a content size over the limit, before allocating', async () => {
    // Single-segment, 4-byte content size of 0xFFFFFFFF.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00]);
    expect((await expectCorrupt(decompress('zstd', frame))).message).toMatch(/over the/);
  });

  it.each([
    ['the reserved descriptor bit set', '28b52ffd08000000'],
    ['a window too large for wasm32 (log 41)', '28b52ffd00f80000'],
    ['only the magic number', '28b52ffd'],
    ['an 8-byte content size cut short', '28b52ffdc000010203'],
  ])('rejects a frame header with %s, so zstd’s error code never reaches its malloc', async (_name, hex) => {
    await expectCorrupt(decompress('zstd', Buffer.from(hex, 'hex')));
  });
});

describe('decompression of hostile input', () => {
  it('rejects a gzip bomb that expands past the limit', async () => {
    const bomb = gzipSync(Buffer.alloc(MAX_DECOMPRESSED_BYTES + 1024));
    await expectCorrupt(decompress('gzip', bomb));
  });

  it('never throws anything but CORRUPT_MESSAGE on random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMPRESSING), fc.uint8Array({ maxLength: 300 }), async (codec, bytes) => {
        await decompress(codec, bytes).catch((error: unknown) => {
          expect(error).toBeInstanceOf(SluiceError);
          expect((error as SluiceError).code).toBe('CORRUPT_MESSAGE');
        });
      }),
      { numRuns: 500 },
    );
  });

  it('never throws anything but CORRUPT_MESSAGE on mutated valid payloads', async () => {
    const samples = new Map<Compression, Buffer>();
    for (const codec of COMPRESSING) samples.set(codec, await compress(codec, text(3000)));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...COMPRESSING),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        async (codec, flips) => {
          const payload = Buffer.from(samples.get(codec)!);
          for (const [at, mask] of flips) payload[at % payload.length]! ^= mask;
          await decompress(codec, payload).catch((error: unknown) => {
            expect(error).toBeInstanceOf(SluiceError);
            expect((error as SluiceError).code).toBe('CORRUPT_MESSAGE');
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
