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
 * Decompression is bounded by MAX_DECOMPRESSED_BYTES so a small hostile payload cannot
 * expand without limit, and every failure becomes CORRUPT_MESSAGE.
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
// @ts-expect-error snappyjs ships no type declarations; SnappyJs below types what we use.
import snappyUntyped from 'snappyjs';
// @ts-expect-error lz4js ships no type declarations; Lz4Js below types what we use.
import lz4Untyped from 'lz4js';
// @ts-expect-error lz4js ships no type declarations; Xxh32 below types what we use.
import xxh32Untyped from 'lz4js/xxh32.js';
import { SluiceError } from '../errors.ts';

/** A RecordBatch compression codec. */
export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** Upper bound on the decompressed size of one batch's records: 64 MiB. */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

interface SnappyJs {
  compress(input: Uint8Array): Uint8Array;
  uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
interface Lz4Js {
  compressBound(inputBytes: number): number;
  compressBlock(src: Uint8Array, dst: Uint8Array, srcStart: number, srcLength: number, hashTable: Uint32Array): number;
}
interface Xxh32 {
  hash(seed: number, data: Uint8Array, start: number, length: number): number;
}
const snappy = snappyUntyped as SnappyJs;
const lz4 = lz4Untyped as Lz4Js;
const xxh32 = xxh32Untyped as Xxh32;

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

/** Decompresses `data`; throws CORRUPT_MESSAGE if it is malformed or expands past MAX_DECOMPRESSED_BYTES. */
export async function decompress(codec: Compression, data: Uint8Array): Promise<Buffer> {
  try {
    switch (codec) {
      case 'none':
        return asBuffer(data);
      case 'gzip':
        return await gunzip(data, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
      case 'snappy':
        return decompressSnappy(data);
      case 'lz4':
        return decompressLz4Frame(data);
      case 'zstd':
        return await decompressZstd(data);
    }
  } catch (error) {
    if (error instanceof SluiceError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new SluiceError('CORRUPT_MESSAGE', `${codec} decompression failed: ${reason}`, { cause: error });
  }
}

const gzip = promisify(gzipCallback);
const gunzip = promisify(gunzipCallback);

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function corrupt(message: string): SluiceError {
  return new SluiceError('CORRUPT_MESSAGE', message);
}

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

function decompressSnappy(input: Uint8Array): Buffer {
  const data = asBuffer(input);
  const isXerial = data.length >= XERIAL_MAGIC.length && XERIAL_MAGIC.equals(data.subarray(0, XERIAL_MAGIC.length));
  if (!isXerial) return asBuffer(snappy.uncompress(data, MAX_DECOMPRESSED_BYTES));
  if (data.length < XERIAL_HEADER_BYTES) throw corrupt('snappy: truncated xerial header');
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt(`snappy: truncated xerial block length at byte ${pos}`);
    const length = data.readInt32BE(pos);
    pos += 4;
    if (length < 0 || length > data.length - pos) throw corrupt(`snappy: xerial block of ${length} bytes overruns the input`);
    const part = snappy.uncompress(data.subarray(pos, pos + length), MAX_DECOMPRESSED_BYTES - total);
    parts.push(part);
    total += part.length;
    pos += length;
  }
  return Buffer.concat(parts, total);
}

// --- lz4 (frame format) ---

const LZ4_MAGIC = 0x184d2204;
const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_1 = 0x40;
const FLG_BLOCK_INDEPENDENCE = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
// Bit 0 is a dictionary id in newer frame specs; Kafka treats bits 0-1 as reserved.
const FLG_RESERVED = 0x03;
const BD_64_KIB = 4 << 4;
const LZ4_BLOCK_BYTES = 64 * 1024;
const BLOCK_UNCOMPRESSED = 0x80000000;
// One input byte of an LZ4 block expands to at most 255 output bytes.
const LZ4_MAX_EXPANSION = 255;

const lz4HashTable = new Uint32Array(1 << 16);
const lz4Scratch = new Uint8Array(lz4.compressBound(LZ4_BLOCK_BYTES));

function compressLz4Frame(data: Uint8Array): Buffer {
  const blockCount = Math.ceil(data.length / LZ4_BLOCK_BYTES);
  // Blocks that do not shrink are stored raw, so the frame never exceeds this.
  const out = Buffer.allocUnsafe(7 + blockCount * 4 + data.length + 4);
  out.writeUInt32LE(LZ4_MAGIC, 0);
  out[4] = FLG_VERSION_1 | FLG_BLOCK_INDEPENDENCE;
  out[5] = BD_64_KIB;
  out[6] = (xxh32.hash(0, out, 4, 2) >>> 8) & 0xff;
  let pos = 7;
  for (let start = 0; start < data.length; start += LZ4_BLOCK_BYTES) {
    // A fresh view and hash table per block keep matches inside it: blocks stay independent.
    const block = data.subarray(start, start + LZ4_BLOCK_BYTES);
    lz4HashTable.fill(0);
    const size = lz4.compressBlock(block, lz4Scratch, 0, block.length, lz4HashTable);
    if (size === 0 || size >= block.length) {
      out.writeUInt32LE((BLOCK_UNCOMPRESSED | block.length) >>> 0, pos);
      out.set(block, pos + 4);
      pos += 4 + block.length;
    } else {
      out.writeUInt32LE(size, pos);
      out.set(lz4Scratch.subarray(0, size), pos + 4);
      pos += 4 + size;
    }
  }
  out.writeUInt32LE(0, pos);
  return out.subarray(0, pos + 4);
}

function decompressLz4Frame(input: Uint8Array): Buffer {
  const data = asBuffer(input);
  if (data.length < 7 || data.readUInt32LE(0) !== LZ4_MAGIC) throw corrupt('lz4: not an LZ4 frame');
  const flg = data[4]!;
  const bd = data[5]!;
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_1 || (flg & FLG_RESERVED) !== 0) throw corrupt(`lz4: unsupported frame flags 0x${flg.toString(16)}`);
  const blockSizeId = (bd >>> 4) & 7;
  if ((bd & 0x8f) !== 0 || blockSizeId < 4) throw corrupt(`lz4: invalid block descriptor 0x${bd.toString(16)}`);
  const maxBlockBytes = 1 << (2 * blockSizeId + 8);
  const blockChecksums = (flg & FLG_BLOCK_CHECKSUM) !== 0;
  let pos = 6;
  let contentSize = -1;
  if ((flg & FLG_CONTENT_SIZE) !== 0) {
    if (data.length < pos + 9) throw corrupt('lz4: truncated frame descriptor');
    contentSize = data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 2 ** 32;
    pos += 8;
  }
  if (data[pos] !== ((xxh32.hash(0, data, 4, pos - 4) >>> 8) & 0xff)) throw corrupt('lz4: frame descriptor checksum mismatch');
  pos++;

  // First pass: validate the block layout and bound the output, before allocating it.
  const firstBlock = pos;
  let bound = 0;
  for (;;) {
    if (data.length - pos < 4) throw corrupt('lz4: truncated block header');
    const word = data.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const size = word & ~BLOCK_UNCOMPRESSED;
    if (size > maxBlockBytes) throw corrupt(`lz4: block of ${size} bytes exceeds the frame's ${maxBlockBytes}-byte maximum`);
    pos += size + (blockChecksums ? 4 : 0);
    if (pos > data.length) throw corrupt('lz4: truncated block');
    bound += word & BLOCK_UNCOMPRESSED ? size : Math.min(maxBlockBytes, size * LZ4_MAX_EXPANSION);
    if (bound > MAX_DECOMPRESSED_BYTES && (contentSize < 0 || contentSize > MAX_DECOMPRESSED_BYTES)) {
      throw corrupt(`lz4: content exceeds ${MAX_DECOMPRESSED_BYTES} bytes`);
    }
  }
  const contentChecksumAt = pos;
  if ((flg & FLG_CONTENT_CHECKSUM) !== 0) pos += 4;
  if (pos !== data.length) throw corrupt(`lz4: ${data.length - pos} unexpected bytes after the end mark`);

  const out = Buffer.allocUnsafe(contentSize >= 0 ? Math.min(contentSize, bound) : bound);
  // Dependent blocks (allowed by the frame spec, refused by Kafka) may reach back into earlier output.
  const independent = (flg & FLG_BLOCK_INDEPENDENCE) !== 0;
  let outPos = 0;
  pos = firstBlock;
  for (;;) {
    const word = data.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const size = word & ~BLOCK_UNCOMPRESSED;
    if (blockChecksums && xxh32.hash(0, data, pos, size) !== data.readUInt32LE(pos + size)) {
      throw corrupt('lz4: block checksum mismatch');
    }
    if (word & BLOCK_UNCOMPRESSED) {
      if (size > out.length - outPos) throw corrupt('lz4: content larger than its declared size');
      data.copy(out, outPos, pos, pos + size);
      outPos += size;
    } else {
      outPos = decodeLz4Block(data, pos, pos + size, out, outPos, independent ? outPos : 0);
    }
    pos += size + (blockChecksums ? 4 : 0);
  }
  if (contentSize >= 0 && outPos !== contentSize) throw corrupt(`lz4: content is ${outPos} bytes, frame declares ${contentSize}`);
  if ((flg & FLG_CONTENT_CHECKSUM) !== 0 && xxh32.hash(0, out, 0, outPos) !== data.readUInt32LE(contentChecksumAt)) {
    throw corrupt('lz4: content checksum mismatch');
  }
  return out.subarray(0, outPos);
}

/**
 * Decodes one LZ4 block (a sequence of literal runs and back-references) from src[sPos, sEnd)
 * into dst at dPos; returns the new output position. Written here rather than taken from
 * lz4js because lz4js's decoder does no bounds checks: a hostile block would silently
 * read outside its input and produce garbage instead of failing.
 */
function decodeLz4Block(src: Uint8Array, sPos: number, sEnd: number, dst: Uint8Array, dPos: number, windowStart: number): number {
  const dEnd = dst.length;
  for (;;) {
    if (sPos >= sEnd) throw corrupt('lz4: block ends inside a sequence');
    const token = src[sPos++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (sPos >= sEnd) throw corrupt('lz4: truncated literal length');
        b = src[sPos++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > sEnd - sPos || literals > dEnd - dPos) throw corrupt('lz4: literal run overruns the block');
    if (literals < 32) {
      for (let i = 0; i < literals; i++) dst[dPos + i] = src[sPos + i]!;
    } else {
      dst.set(src.subarray(sPos, sPos + literals), dPos);
    }
    sPos += literals;
    dPos += literals;
    // The last sequence of a block is literals only.
    if (sPos === sEnd) return dPos;
    if (sEnd - sPos < 2) throw corrupt('lz4: truncated match offset');
    const offset = src[sPos]! | (src[sPos + 1]! << 8);
    sPos += 2;
    if (offset === 0 || offset > dPos - windowStart) throw corrupt('lz4: match offset points outside the window');
    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (sPos >= sEnd) throw corrupt('lz4: truncated match length');
        b = src[sPos++]!;
        length += b;
      } while (b === 255);
    }
    length += 4;
    if (length > dEnd - dPos) throw corrupt('lz4: match overruns the output');
    const from = dPos - offset;
    if (offset >= length && length >= 32) {
      dst.copyWithin(dPos, from, from + length);
    } else {
      // Overlapping copies repeat the last `offset` bytes, so they must go byte by byte.
      for (let i = 0; i < length; i++) dst[dPos + i] = dst[from + i]!;
    }
    dPos += length;
  }
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

async function decompressZstd(input: Uint8Array): Promise<Buffer> {
  const data = asBuffer(input);
  const contentSize = zstdContentSize(data);
  const zstd = await loadZstd();
  if (contentSize !== null) {
    if (contentSize > MAX_DECOMPRESSED_BYTES) throw corrupt(`zstd: frame declares ${contentSize} bytes, over the ${MAX_DECOMPRESSED_BYTES}-byte limit`);
    return asBuffer(zstd.decompress(data));
  }
  // Streaming writers (zstd-jni, Kafka's Java client) omit the content size: guess, then grow.
  let capacity = Math.min(MAX_DECOMPRESSED_BYTES, Math.max(ZSTD_MIN_GUESS_BYTES, data.length * 8));
  for (;;) {
    try {
      return asBuffer(zstd.decompress(data, { defaultHeapSize: capacity }));
    } catch (error) {
      if (capacity >= MAX_DECOMPRESSED_BYTES) throw error;
      capacity = Math.min(MAX_DECOMPRESSED_BYTES, capacity * 4);
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
