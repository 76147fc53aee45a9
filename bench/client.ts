/**
 * The TypeScript client's own speed, then end to end through it.
 *
 *   producer encode   `producer.send` of 1 KiB values, uncompressed, through the whole
 *                     client path (partitioning, accumulation, RecordBatch encoding,
 *                     framing) to a fetch stub that acknowledges at once: one core.
 *   consumer decode   a consumer reading 1 MiB batches from a fetch stub: framing, CRC,
 *                     record decoding and delivery to eachBatch: one core.
 *   end to end        the producer and a consumer against a running stack, counting HTTP
 *                     requests and stored objects (describe's `segments`) per MiB.
 *
 *   npx tsx bench/client.ts http://127.0.0.1:4100
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { BATCHES_MEDIA_TYPE, decodeFrames, encodeFrames } from '../lib/codec/framing.ts';
import { encodeRecordBatch, readBatchHeader, setBaseOffset } from '../lib/codec/record-batch.ts';
import { Sluice, type Message } from '../lib/client/index.ts';

const MiB = 1024 * 1024;
const VALUE_BYTES = 1024;
const PARTITIONS = 4;
/** MiB produced and consumed end to end. */
const END_TO_END_MIB = Number(process.env.BENCH_CLIENT_MIB ?? 32);

export interface Rate {
  records: number;
  mib: number;
  seconds: number;
  recordsPerSec: number;
  mibPerSec: number;
}

export interface ClientBenchResult {
  /** Target ≥ 150 MiB/s. */
  producerEncode: Rate;
  /** Target ≥ 300 MiB/s. */
  consumerDecode: Rate;
  endToEnd: {
    produce: Rate & { requests: number; requestsPerMiB: number; objects: number; objectsPerMiB: number };
    consume: Rate & { requests: number; requestsPerMiB: number };
  };
}

function rate(records: number, bytes: number, seconds: number): Rate {
  return { records, mib: bytes / MiB, seconds, recordsPerSec: records / seconds, mibPerSec: bytes / MiB / seconds };
}

function messages(count: number): Message[] {
  const value = randomBytes(VALUE_BYTES);
  return Array.from({ length: count }, (_, i) => ({ key: `user-${i % 97}`, value }));
}

const describeStub = (topic: string) =>
  new Response(JSON.stringify({ name: topic, topicId: 'bench', partitions: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, logStartOffset: 0, highWatermark: 0, bytes: 0, segments: 0 })), configs: { 'max.message.bytes': '1048588' } }), { status: 200 });

/** The whole producer path on one core: the stub acknowledges every frame at once. */
async function benchProducerEncode(totalMiB: number): Promise<Rate> {
  let bytes = 0;
  const offsets = new Array<number>(PARTITIONS).fill(0);
  const fetch: typeof globalThis.fetch = async (input, init) => {
    if (init?.method !== 'POST') return describeStub('encode');
    // The producer is idempotent by default: it asks for a producer id once.
    if (String(input).endsWith('/v1/producers')) return new Response(JSON.stringify({ producerId: 1, producerEpoch: 0 }), { status: 200 });
    const body = init.body as Buffer;
    bytes += body.length;
    const batches = decodeFrames(body).map((f) => {
      const base = offsets[f.partition] as number;
      offsets[f.partition] = base + readBatchHeader(f.batch).lastOffsetDelta + 1;
      return { partition: f.partition, baseOffset: base, lastOffset: (offsets[f.partition] as number) - 1 };
    });
    return new Response(JSON.stringify({ batches }), { status: 200 });
  };
  const producer = new Sluice({ url: 'http://bench.invalid', fetch }).producer();
  const chunk = messages(1000);
  const run = async (mib: number) => {
    const sends = [];
    for (let sent = 0; sent < mib * MiB; sent += chunk.length * VALUE_BYTES) sends.push(producer.send({ topic: 'encode', messages: chunk }));
    await Promise.all(sends);
    await producer.flush();
  };
  await run(16); // warm-up
  bytes = 0;
  const started = performance.now();
  await run(totalMiB);
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return rate(Math.round((totalMiB * MiB) / VALUE_BYTES), bytes, seconds);
}

/** A consumer reading 1,000-record batches of 1 KiB values that the stub serves from memory. */
async function benchConsumerDecode(totalMiB: number): Promise<Rate> {
  const recordsPerBatch = 1000;
  const batch = await encodeRecordBatch(messages(recordsPerBatch).map((m) => ({ key: Buffer.from(m.key as string), value: m.value as Buffer, headers: [], timestamp: Date.now() })));
  const batches = Math.ceil((totalMiB * MiB) / batch.length);
  const highWatermark = batches * recordsPerBatch;
  const fetch: typeof globalThis.fetch = async (input) => {
    const url = new URL(String(input));
    if (url.pathname.endsWith('/offsets')) return new Response(JSON.stringify({ offset: 0, timestamp: null, logStartOffset: 0, highWatermark }), { status: 200 });
    if (!url.pathname.endsWith('/records')) return describeStub('decode');
    const offset = Number(url.searchParams.get('offset'));
    const copy = Buffer.from(batch);
    setBaseOffset(copy, 0, offset - (offset % recordsPerBatch));
    const next = offset - (offset % recordsPerBatch) + recordsPerBatch;
    return new Response(encodeFrames([{ partition: 0, batch: copy }]), { status: 200, headers: { 'content-type': BATCHES_MEDIA_TYPE, 'x-sluice-next-offset': String(next), 'x-sluice-high-watermark': String(highWatermark), 'x-sluice-log-start-offset': '0' } });
  };
  const consumer = new Sluice({ url: 'http://bench.invalid', fetch }).consumer({ maxWaitMs: 0 });
  consumer.assign([{ topic: 'decode', partitions: [0], fromBeginning: true }]);
  let records = 0;
  let bytes = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const started = performance.now();
  await consumer.run({
    eachBatch: ({ batch: b }) => {
      records += b.messages.length;
      for (const m of b.messages) bytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
      if (records >= highWatermark) finish();
    },
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await consumer.stop();
  return rate(records, bytes, seconds);
}

/** Produces and consumes `mib` MiB through a running stack, counting requests. */
async function benchEndToEnd(url: string, mib: number): Promise<ClientBenchResult['endToEnd']> {
  const requests = { produce: 0, fetch: 0 };
  const fetch: typeof globalThis.fetch = (input, init) => {
    const path = new URL(String(input)).pathname;
    if (init?.method === 'POST' && path.endsWith('/records')) requests.produce++;
    if ((init?.method ?? 'GET') === 'GET' && path.endsWith('/records')) requests.fetch++;
    return globalThis.fetch(input, init);
  };
  const sluice = new Sluice({ url, fetch });
  const topic = `bench-client-${randomBytes(3).toString('hex')}`;
  const admin = sluice.admin();
  await admin.createTopic({ topic, partitions: PARTITIONS });
  try {
    const producer = sluice.producer();
    const chunk = messages(1000);
    const total = Math.round((mib * MiB) / VALUE_BYTES / chunk.length) * chunk.length;
    let started = performance.now();
    const sends = [];
    for (let sent = 0; sent < total; sent += chunk.length) sends.push(producer.send({ topic, messages: chunk }));
    await Promise.all(sends);
    await producer.disconnect();
    const produceSeconds = (performance.now() - started) / 1000;
    const described = await admin.describeTopic(topic);
    const objects = described.partitions.reduce((n, p) => n + p.segments, 0);
    const producedBytes = described.partitions.reduce((n, p) => n + p.bytes, 0);
    const producedMiB = producedBytes / MiB;

    const consumer = sluice.consumer();
    consumer.assign([{ topic, fromBeginning: true }]);
    let records = 0;
    let bytes = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    started = performance.now();
    await consumer.run({
      eachBatch: ({ batch }) => {
        records += batch.messages.length;
        for (const m of batch.messages) bytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
        if (records >= total) finish();
      },
    });
    await Promise.race([finished, consumer.done()]);
    const consumeSeconds = (performance.now() - started) / 1000;
    await consumer.stop();
    return {
      produce: { ...rate(total, producedBytes, produceSeconds), requests: requests.produce, requestsPerMiB: requests.produce / producedMiB, objects, objectsPerMiB: objects / producedMiB },
      consume: { ...rate(records, bytes, consumeSeconds), requests: requests.fetch, requestsPerMiB: requests.fetch / producedMiB },
    };
  } finally {
    await admin.deleteTopic(topic).catch(() => {});
  }
}

/** Runs the client benchmarks; `url` is a running stack for the end-to-end part. */
export async function benchClient(url: string): Promise<ClientBenchResult> {
  const producerEncode = await benchProducerEncode(128);
  const consumerDecode = await benchConsumerDecode(128);
  const endToEnd = await benchEndToEnd(url, END_TO_END_MIB);
  return { producerEncode, consumerDecode, endToEnd };
}

/** The results as an aligned table. */
export function formatClientBench(result: ClientBenchResult): string {
  const { produce, consume } = result.endToEnd;
  const rows = [
    ['client (1 KiB values)', 'MiB/s', 'records/s', 'requests/MiB', 'objects/MiB'],
    ['producer encode (stub server, one core)', result.producerEncode.mibPerSec.toFixed(0), Math.round(result.producerEncode.recordsPerSec).toLocaleString('en-US'), '', ''],
    ['consumer decode (stub server, one core)', result.consumerDecode.mibPerSec.toFixed(0), Math.round(result.consumerDecode.recordsPerSec).toLocaleString('en-US'), '', ''],
    [`produce end to end (${produce.mib.toFixed(0)} MiB, ${PARTITIONS} partitions)`, produce.mibPerSec.toFixed(1), Math.round(produce.recordsPerSec).toLocaleString('en-US'), produce.requestsPerMiB.toFixed(2), produce.objectsPerMiB.toFixed(2)],
    [`consume end to end (${consume.mib.toFixed(0)} MiB)`, consume.mibPerSec.toFixed(1), Math.round(consume.recordsPerSec).toLocaleString('en-US'), consume.requestsPerMiB.toFixed(2), ''],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2] ?? process.env.SLUICE_URL;
  if (url === undefined) {
    console.error('usage: npx tsx bench/client.ts <url of a running stack, e.g. http://127.0.0.1:4100>');
    process.exit(2);
  }
  console.log(`Sluice client, node ${process.version}, end to end against ${url}`);
  console.log(formatClientBench(await benchClient(url)));
}
