/**
 * The Lambda assets as `cdk synth` builds them: real esbuild bundling, then the bundled
 * handlers loaded in Node and served through the local API Gateway over the emulators. A
 * zstd batch makes the produce and fetch bundles load zstd.wasm, which only works if the
 * asset carries it next to index.mjs. The bundled groups function coordinates a group and
 * resets its offsets to a timestamp, reading that zstd segment itself. The bundled compact
 * function runs a scheduled pass.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCHES_MEDIA_TYPE, encodeFrames } from '../../lib/codec/framing.ts';
import { encodeRecordBatch } from '../../lib/codec/record-batch.ts';
import type { LambdaHandler } from '../../lib/http/handler.ts';
import type { FunctionName } from '../../lib/http/routes.ts';
import type { PartitionReport } from '../../lib/retention/compact.ts';
import { startServer, type LocalServer } from '../../local/server.ts';
import { LOCAL_COMPACT_FUNCTION } from '../../local/stack.ts';
import { CLUSTER_FUNCTION_NAMES, FUNCTION_NAMES, type ClusterFunctionName } from '../../infra/cluster-props.ts';
import { api, startTestStack } from '../support/stack.ts';
import { logicalId, synthStack } from './synth.ts';

const outdir = mkdtempSync(join(tmpdir(), 'sluice-cdk-'));
const assetDirs = {} as Record<ClusterFunctionName, string>;
let validationReport: { pluginReports: Array<{ violations?: unknown[] }> };
let server: LocalServer | undefined;
let compact: ((event: unknown) => Promise<{ partitions: PartitionReport[] }>) | undefined;

beforeAll(async () => {
  // GIVEN the stack synthesized as `cdk synth` does it
  const { app, stack, template } = synthStack({}, { bundle: true, outdir });
  app.synth();
  const functions = template.findResources('AWS::Lambda::Function');
  for (const name of CLUSTER_FUNCTION_NAMES) {
    const fn = name === 'compact' ? stack.cluster.compactFunction : stack.cluster.functions[name];
    const s3Key = functions[logicalId(stack, fn as NonNullable<typeof fn>)]?.Properties.Code.S3Key as string;
    assetDirs[name] = join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
  }
  validationReport = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));

  // AND the bundled handlers pointed at the emulators: the test stack sets the variables
  // Lambda would (table, bucket, endpoints, credentials) and provisions; its server, which
  // serves the source handlers, gives way to one serving the bundles.
  const local = await startTestStack();
  await local.server.close();
  const handlers = {} as Record<FunctionName, LambdaHandler>;
  for (const name of FUNCTION_NAMES) {
    const module = (await import(pathToFileURL(join(assetDirs[name], 'index.mjs')).href)) as { handler: LambdaHandler };
    handlers[name] = module.handler;
  }
  compact = ((await import(pathToFileURL(join(assetDirs.compact, 'index.mjs')).href)) as { handler: typeof compact }).handler;
  // Produce's and admin's compaction triggers reach the bundled compact function, as on AWS.
  server = await startServer(handlers, 0, { [LOCAL_COMPACT_FUNCTION]: compact as NonNullable<typeof compact> });
  process.env.AWS_ENDPOINT_URL_LAMBDA = server.url;
}, 120_000);

afterAll(async () => {
  await server?.close();
  rmSync(outdir, { recursive: true, force: true });
});

describe('Lambda assets', () => {
  it.each(CLUSTER_FUNCTION_NAMES)('the %s asset holds index.mjs, its source map and zstd.wasm', (name) => {
    for (const file of ['index.mjs', 'index.mjs.map', 'zstd.wasm']) expect(existsSync(join(assetDirs[name], file)), `${name}/${file}`).toBe(true);
    // Sources stay out of the map: stack traces need the mappings only.
    expect(JSON.parse(readFileSync(join(assetDirs[name], 'index.mjs.map'), 'utf8')).sourcesContent).toBeUndefined();
  });

  it('bundles the AWS SDK rather than importing the runtime copy', () => {
    const bundle = readFileSync(join(assetDirs.produce, 'index.mjs'), 'utf8');
    // Booleans, not the matchers: a failure would print the whole megabyte of bundle.
    expect(/from\s*["']@aws-sdk\/|import\(\s*["']@aws-sdk\//.test(bundle)).toBe(false);
    expect(bundle.includes('"PutObject"')).toBe(true);
  });

  it('passes the CloudFormation validation that synth runs', () => {
    expect(validationReport.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
  });
});

describe('bundled handlers', () => {
  it('answer health through the local API Gateway', async () => {
    const url = server?.url as string;
    expect(await api(url, 'GET', '/v1/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('produce a zstd batch and fetch it back as JSON, loading zstd.wasm from the asset', async () => {
    const url = server?.url as string;
    expect((await api(url, 'POST', '/v1/topics', { name: 'bundled', partitions: 1 })).status).toBe(201);
    const records = Array.from({ length: 3 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`zstd-value-${i}`), headers: [], timestamp: 1_700_000_000_000 + i }));
    const batch = await encodeRecordBatch(records, { compression: 'zstd' });
    const produced = await fetch(`${url}/v1/topics/bundled/records`, { method: 'POST', headers: { 'content-type': BATCHES_MEDIA_TYPE }, body: encodeFrames([{ partition: 0, batch }]) });
    expect(produced.status).toBe(200);
    const fetched = await api(url, 'GET', '/v1/topics/bundled/partitions/0/records?offset=0');
    expect(fetched.status).toBe(200);
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['zstd-value-0', 'zstd-value-1', 'zstd-value-2']);
  });

  it('coordinate a consumer group with the bundled groups function, and reset its offsets to a timestamp found in the zstd segment', async () => {
    const url = server?.url as string;
    const group = '/v1/groups/bundled-group';
    // GIVEN a member that joined and owns the topic's one partition, and committed as its owner
    let beat = await api(url, 'POST', `${group}/heartbeat`, { memberId: 'm1', memberEpoch: 0, subscribedTopics: ['bundled'] });
    expect(beat.status).toBe(200);
    if (beat.body.assignment.length === 0) beat = await api(url, 'POST', `${group}/heartbeat`, { memberId: 'm1', memberEpoch: beat.body.memberEpoch, ownedPartitions: [] });
    expect(beat.body.assignment).toEqual([{ topic: 'bundled', partitions: [0] }]);
    const commit = { memberId: 'm1', memberEpoch: beat.body.memberEpoch, offsets: [{ topic: 'bundled', partition: 0, offset: 3 }] };
    expect((await api(url, 'POST', `${group}/offsets`, commit)).status).toBe(200);
    // WHEN it leaves and the empty group is reset to the second record's timestamp
    expect((await api(url, 'POST', `${group}/heartbeat`, { memberId: 'm1', memberEpoch: -1 })).status).toBe(200);
    const reset = await api(url, 'POST', `${group}/offsets/reset`, { topic: 'bundled', timestamp: 1_700_000_000_001 });
    // THEN the offset was found by reading and decompressing the batch from S3 (GetObject, zstd.wasm)
    expect(reset).toMatchObject({ status: 200, body: { offsets: [{ topic: 'bundled', partition: 0, offset: 1 }] } });
    expect((await api(url, 'GET', `${group}/offsets`)).body.offsets).toMatchObject([{ topic: 'bundled', partition: 0, offset: 1 }]);
    expect((await api(url, 'GET', group)).body).toMatchObject({ state: 'Empty', partitions: [{ topic: 'bundled', partition: 0, committedOffset: 1, highWatermark: 3 }] });
  });

  it('run a scheduled compaction pass with the bundled compact function, leaving the records readable', async () => {
    const url = server?.url as string;
    // The EventBridge schedule's event carries no partition: a pass over every partition.
    const result = await (compact as NonNullable<typeof compact>)({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
    expect(result.partitions).toContainEqual(expect.objectContaining({ topic: 'bundled', partition: 0, ran: true, logStartOffset: 0 }));
    const fetched = await api(url, 'GET', '/v1/topics/bundled/partitions/0/records?offset=0');
    expect(fetched.body.records).toHaveLength(3);
  });
});
