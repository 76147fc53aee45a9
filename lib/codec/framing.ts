/**
 * `application/vnd.sluice.batches`: the binary body of produce requests and fetch
 * responses. A sequence of frames, each
 *
 *   Frame => partition:int32 length:int32 batch:bytes[length]
 *
 * (big-endian, as Kafka's protocol) where `batch` is exactly one RecordBatch v2. The
 * server stores batch bytes as sent and returns them the same way, base offsets filled in.
 */
import { SluiceError } from '../errors.ts';

export const BATCHES_MEDIA_TYPE = 'application/vnd.sluice.batches';

export interface Frame {
  partition: number;
  batch: Buffer;
}

const FRAME_HEADER_BYTES = 8;

/** Encodes frames into one body. */
export function encodeFrames(frames: readonly Frame[]): Buffer {
  const size = frames.reduce((n, f) => n + FRAME_HEADER_BYTES + f.batch.length, 0);
  const out = Buffer.allocUnsafe(size);
  let position = 0;
  for (const frame of frames) {
    out.writeInt32BE(frame.partition, position);
    out.writeInt32BE(frame.batch.length, position + 4);
    frame.batch.copy(out, position + FRAME_HEADER_BYTES);
    position += FRAME_HEADER_BYTES + frame.batch.length;
  }
  return out;
}

/** Splits a body into frames (views, not copies); CORRUPT_MESSAGE on any framing error. */
export function decodeFrames(body: Buffer): Frame[] {
  const frames: Frame[] = [];
  let position = 0;
  while (position < body.length) {
    if (body.length - position < FRAME_HEADER_BYTES) {
      throw new SluiceError('CORRUPT_MESSAGE', `Frame ${frames.length} at byte ${position} is truncated: ${body.length - position} bytes left, a frame header needs ${FRAME_HEADER_BYTES}`);
    }
    const partition = body.readInt32BE(position);
    const length = body.readInt32BE(position + 4);
    const start = position + FRAME_HEADER_BYTES;
    if (length <= 0 || start + length > body.length) {
      throw new SluiceError('CORRUPT_MESSAGE', `Frame ${frames.length} at byte ${position} declares ${length} bytes but ${body.length - start} remain`);
    }
    frames.push({ partition, batch: body.subarray(start, start + length) });
    position = start + length;
  }
  return frames;
}
