/**
 * The LZ4 frame format (KIP-57) as Kafka's Java client writes and reads it:
 *
 *   magic:uint32LE=0x184D2204  FLG  BD  [contentSize:uint64LE]  HC
 *   then blocks of  size:uint32LE (high bit = stored uncompressed)  data  [xxh32]
 *   then endMark:uint32LE=0  [contentChecksum:xxh32]
 *
 * Kafka rejects frames without the block-independence flag, which lz4js's own frame
 * writer leaves unset, so frames are written here with lz4js's block compressor only; the
 * block decoder is our own because lz4js's does not check bounds.
 */
// @ts-expect-error lz4js ships no type declarations; Lz4Js below types what we use.
import lz4Untyped from 'lz4js';
// @ts-expect-error lz4js ships no type declarations; Xxh32 below types what we use.
import xxh32Untyped from 'lz4js/xxh32.js';
import { asBuffer, corrupt, MAX_DECOMPRESSED_BYTES, tooLarge } from './decompression-limits.ts';

interface Lz4Js {
  compressBound(inputBytes: number): number;
  compressBlock(src: Uint8Array, dst: Uint8Array, srcStart: number, srcLength: number, hashTable: Uint32Array): number;
}
interface Xxh32 {
  hash(seed: number, data: Uint8Array, start: number, length: number): number;
}
const lz4 = lz4Untyped as Lz4Js;
const xxh32 = xxh32Untyped as Xxh32;

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

/** Compresses into one LZ4 frame as Kafka's KafkaLZ4BlockOutputStream writes it. */
export function compressLz4Frame(data: Uint8Array): Buffer {
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

/** Decompresses an LZ4 frame (independent or dependent blocks, optional checksums) of at most `limit` bytes. */
export function decompressLz4Frame(input: Uint8Array, limit = MAX_DECOMPRESSED_BYTES): Buffer {
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
    if (bound > limit && (contentSize < 0 || contentSize > limit)) throw tooLarge('lz4', limit);
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

