/**
 * The compression codecs of a RecordBatch (attributes bits 0-2), producing and accepting
 * the exact framings Apache Kafka's Java client uses:
 *
 *   1 gzip    RFC 1952 (java.util.zip.GZIPOutputStream), via node:zlib
 *   2 snappy  xerial framing (snappy-java's SnappyOutputStream):
 *               magic "\x82SNAPPY\0"  version:int32BE  compatVersion:int32BE
 *               then blocks of  length:int32BE  rawSnappy[length]  (32 KiB of input each)
 *             raw snappy without the framing is accepted too, as some clients write it
 *   3 lz4     LZ4 frame format (KIP-57), as KafkaLZ4BlockOutputStream writes it:
 *               magic:uint32LE=0x184D2204  FLG  BD  [contentSize:uint64LE]  HC
 *               then blocks of  size:uint32LE (high bit = stored uncompressed)  data  [xxh32]
 *               then endMark:uint32LE=0  [contentChecksum:xxh32]
 *             Kafka rejects frames without the block-independence flag, so we always set it
 *             (lz4js's own frame writer does not) and use 64 KiB blocks like Kafka.
 *   4 zstd    one zstd frame, via @bokuweb/zstd-wasm (Node 20 has no zstd in zlib)
 *
 * Decompression is bounded by MAX_DECOMPRESSED_BYTES per batch, and by the caller's
 * DecodeBudget per call, so a small hostile payload cannot expand without limit. Every
 * failure becomes CORRUPT_MESSAGE, except a spent budget (MESSAGE_TOO_LARGE).
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
// @ts-expect-error snappyjs ships no type declarations; SnappyJs below types what we use.
import snappyUntyped from 'snappyjs';
import { SluiceError } from '../errors.ts';
import type { DecodeBudget } from './decode-budget.ts';
import { asBuffer, corrupt, InflateLimitError, MAX_DECOMPRESSED_BYTES, tooLarge } from './decompression-limits.ts';
import { compressLz4Frame, decompressLz4Frame } from './lz4-frame.ts';
import { uncompressSnappyBlock } from './snappy-block.ts';

/** A RecordBatch compression codec. */
export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export { MAX_DECOMPRESSED_BYTES };

interface SnappyJs {
  compress(input: Uint8Array): Uint8Array;
}
const snappy = snappyUntyped as SnappyJs;

const CODECS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** The codec for attribute bits 0-2. Throws UNSUPPORTED_COMPRESSION_TYPE for ids 5-7. */
export function compressionFromId(id: number): Compression {
  const codec = CODECS[id];
  if (codec === undefined) throw new SluiceError('UNSUPPORTED_COMPRESSION_TYPE', `unknown compression codec id ${id}`);
  return codec;
}

/** The attribute bits 0-2 value for `codec`. */
export function compressionId(codec: Compression): number {
  return CODECS.indexOf(codec);
}

/** Compresses `data` with `codec` in the framing Kafka's Java client writes. */
export async function compress(codec: Compression, data: Uint8Array): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return asBuffer(data);
    case 'gzip':
      return gzip(data);
    case 'snappy':
      return compressXerialSnappy(data);
    case 'lz4':
      return compressLz4Frame(data);
    case 'zstd': {
      const zstd = await loadZstd();
      // Level 3 is Kafka's default (compression.zstd.level).
      return asBuffer(zstd.compress(data, 3));
    }
  }
}

/**
 * Decompresses `data`; throws CORRUPT_MESSAGE if it is malformed or expands past
 * MAX_DECOMPRESSED_BYTES, and the budget's MESSAGE_TOO_LARGE if it expands past what
 * `budget` has left (which it is then charged).
 */
export async function decompress(codec: Compression, data: Uint8Array, budget?: DecodeBudget): Promise<Buffer> {
  const limit = budget === undefined ? MAX_DECOMPRESSED_BYTES : Math.max(0, Math.min(MAX_DECOMPRESSED_BYTES, budget.inflatedBytesLeft));
  let out: Buffer;
  try {
    out = await decompressWithin(codec, data, limit, budget);
  } catch (error) {
    if (error instanceof InflateLimitError && budget !== undefined && limit < MAX_DECOMPRESSED_BYTES) throw budget.exceeded('inflatedBytes');
    if (error instanceof SluiceError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new SluiceError('CORRUPT_MESSAGE', `${codec} decompression failed: ${reason}`, { cause: error });
  }
  if (codec !== 'none') budget?.takeInflated(out.length);
  return out;
}

async function decompressWithin(codec: Compression, data: Uint8Array, limit: number, budget: DecodeBudget | undefined): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return asBuffer(data);
    case 'gzip':
      try {
        // node:zlib inflates on the libuv thread pool: the event loop stays free meanwhile.
        // Its default 16 KiB chunks cost a pool round trip each (64 MiB took 4x longer).
        return await gunzip(data, { maxOutputLength: Math.max(1, limit), chunkSize: GUNZIP_CHUNK_BYTES });
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('gzip', limit);
        throw error;
      }
    case 'snappy':
      return decompressSnappy(data, limit, budget);
    case 'lz4':
      return decompressLz4Frame(data, limit);
    case 'zstd':
      return await decompressZstd(data, limit);
  }
}

const gzip = promisify(gzipCallback);
const gunzip = promisify(gunzipCallback);
const GUNZIP_CHUNK_BYTES = 256 * 1024;


// --- snappy (xerial framing) ---

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
const XERIAL_VERSION = 1;
// snappy-java's SnappyOutputStream default block size.
const XERIAL_BLOCK_BYTES = 32 * 1024;

function compressXerialSnappy(data: Uint8Array): Buffer {
  const input = asBuffer(data);
  const blocks: Uint8Array[] = [];
  let total = XERIAL_HEADER_BYTES;
  for (let start = 0; start < input.length; start += XERIAL_BLOCK_BYTES) {
    const block = snappy.compress(input.subarray(start, start + XERIAL_BLOCK_BYTES));
    blocks.push(block);
    total += 4 + block.length;
  }
  const out = Buffer.allocUnsafe(total);
  XERIAL_MAGIC.copy(out, 0);
  out.writeInt32BE(XERIAL_VERSION, 8);
  out.writeInt32BE(XERIAL_VERSION, 12);
  let pos = XERIAL_HEADER_BYTES;
  for (const block of blocks) {
    out.writeInt32BE(block.length, pos);
    out.set(block, pos + 4);
    pos += 4 + block.length;
  }
  return out;
}

async function decompressSnappy(input: Uint8Array, limit: number, budget: DecodeBudget | undefined): Promise<Buffer> {
  const data = asBuffer(input);
  const isXerial = data.length >= XERIAL_MAGIC.length && XERIAL_MAGIC.equals(data.subarray(0, XERIAL_MAGIC.length));
  if (!isXerial) return asBuffer(uncompressSnappyBlock(data, limit));
  if (data.length < XERIAL_HEADER_BYTES) throw corrupt('snappy: truncated xerial header');
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt(`snappy: truncated xerial block length at byte ${pos}`);
    const length = data.readInt32BE(pos);
    pos += 4;
    if (length < 0 || length > data.length - pos) throw corrupt(`snappy: xerial block of ${length} bytes overruns the input`);
    const part = uncompressSnappyBlock(data.subarray(pos, pos + length), limit - total);
    parts.push(part);
    total += part.length;
    pos += length;
    // Blocks are small (32 KiB of input each): a slice boundary between them keeps the event loop free.
    await budget?.maybeYield();
  }
  return Buffer.concat(parts, total);
}

// --- zstd ---

type ZstdWasm = typeof import('@bokuweb/zstd-wasm');
let zstdWasm: Promise<ZstdWasm> | undefined;

/**
 * Loads and initialises the zstd wasm module once; a failed load is retried on the next call.
 * IMPORTANT: zstd-wasm's init() re-instantiates the module, wiping its heap, when called a
 * second time, so nothing else in the process may call it: go through this module instead.
 */
function loadZstd(): Promise<ZstdWasm> {
  zstdWasm ??= import('@bokuweb/zstd-wasm').then(
    async (module) => {
      if (!isZstdReady(module)) await module.init();
      return module;
    },
    (error: unknown) => {
      zstdWasm = undefined;
      throw error;
    },
  );
  return zstdWasm;
}

/** True if someone already initialised the module (its functions throw TypeError until then). */
function isZstdReady(module: ZstdWasm): boolean {
  try {
    module.compress(new Uint8Array(0));
    return true;
  } catch {
    return false;
  }
}

const ZSTD_MAGIC = 0xfd2fb528;
// ZSTD_WINDOWLOG_MAX for a 32-bit (wasm32) build.
const ZSTD_MAX_WINDOW_LOG = 30;
const ZSTD_MIN_GUESS_BYTES = 64 * 1024;

/**
 * One zstd frame of at most `limit` bytes. zstd-wasm decodes synchronously, so one call
 * blocks the event loop for up to one batch's 64 MiB (tens of milliseconds); the caller's
 * budget bounds how many such calls one request makes.
 */
async function decompressZstd(input: Uint8Array, limit: number): Promise<Buffer> {
  const data = asBuffer(input);
  const contentSize = zstdContentSize(data);
  const zstd = await loadZstd();
  if (contentSize !== null) {
    if (contentSize > limit) throw tooLarge('zstd', limit, ` (the frame declares ${contentSize} bytes)`);
    return asBuffer(zstd.decompress(data));
  }
  // Streaming writers (zstd-jni, Kafka's Java client) omit the content size: guess, then grow.
  let capacity = Math.min(limit, Math.max(ZSTD_MIN_GUESS_BYTES, data.length * 8));
  for (;;) {
    try {
      return asBuffer(zstd.decompress(data, { defaultHeapSize: capacity }));
    } catch (error) {
      if (capacity >= limit) throw error;
      capacity = Math.min(limit, capacity * 4);
    }
  }
}

/**
 * The frame content size from a zstd frame header, or null when absent. Validates the header
 * exactly as ZSTD_getFrameContentSize does, because zstd-wasm passes that function's error
 * code straight to malloc: an invalid header must never reach it.
 */
function zstdContentSize(data: Buffer): number | null {
  if (data.length < 5 || data.readUInt32LE(0) !== ZSTD_MAGIC) throw corrupt('zstd: not a zstd frame');
  const descriptor = data[4]!;
  if ((descriptor & 0x08) !== 0) throw corrupt('zstd: reserved frame header bit set');
  const singleSegment = (descriptor & 0x20) !== 0;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 0x03]!;
  const sizeFlag = descriptor >>> 6;
  const sizeBytes = sizeFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][sizeFlag]!;
  let pos = 5;
  if (data.length < pos + (singleSegment ? 0 : 1) + dictionaryBytes + sizeBytes) throw corrupt('zstd: truncated frame header');
  if (!singleSegment) {
    const windowLog = 10 + (data[pos++]! >>> 3);
    if (windowLog > ZSTD_MAX_WINDOW_LOG) throw corrupt(`zstd: window log ${windowLog} is too large`);
  }
  pos += dictionaryBytes;
  switch (sizeBytes) {
    case 1:
      return data[pos]!;
    case 2:
      return data.readUInt16LE(pos) + 256;
    case 4:
      return data.readUInt32LE(pos);
    case 8:
      return data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 2 ** 32;
    default:
      return null;
  }
}
