import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { ERROR_TABLE } from '../../lib/errors.ts';
import { ROUTES } from '../../lib/http/routes.ts';
import { api, startTestStack } from '../support/stack.ts';
import { openapi, responseErrors } from '../support/openapi.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('docs/openapi.yaml', () => {
  it('documents exactly the routes of the route table', () => {
    const documented = Object.entries(openapi.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => k !== 'parameters').map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('lists every error name of the error table', () => {
    expect(openapi.components.schemas.Error.properties.error.enum.sort()).toEqual(Object.keys(ERROR_TABLE).sort());
  });

  it('rejects a response that breaks its schema (the check can fail)', () => {
    expect(responseErrors('/v1/health', 'GET', 200, { status: 'down' })).not.toEqual([]);
    expect(responseErrors('/v1/topics/{topic}/partitions/{partition}/records', 'GET', 200, { records: [{ offset: -1 }] })).not.toEqual([]);
    expect(responseErrors('/v1/topics', 'GET', 500, { error: 'NOPE', message: 'x', retriable: false })).not.toEqual([]);
  });

  it('describes every response the API gives, success and error alike', async () => {
    const calls: Array<[method: string, template: string, path: string, body?: unknown]> = [
      ['GET', '/v1/health', '/v1/health'],
      ['POST', '/v1/topics', '/v1/topics', { name: 'spec', partitions: 2, configs: { 'retention.ms': 1000 } }],
      ['POST', '/v1/topics', '/v1/topics', { name: 'spec', partitions: 2 }],
      ['POST', '/v1/topics', '/v1/topics', { name: '..', partitions: 2 }],
      ['GET', '/v1/topics', '/v1/topics'],
      ['GET', '/v1/topics/{topic}', '/v1/topics/spec'],
      ['GET', '/v1/topics/{topic}', '/v1/topics/none'],
      ['PATCH', '/v1/topics/{topic}', '/v1/topics/spec', { partitions: 3 }],
      ['POST', '/v1/topics/{topic}/records', '/v1/topics/spec/records', { records: [{ key: 'k', value: 'v', headers: { h: 'x' } }, { value: null }] }],
      ['POST', '/v1/topics/{topic}/records', '/v1/topics/spec/records', { records: [] }],
      ['GET', '/v1/topics/{topic}/partitions/{partition}/records', '/v1/topics/spec/partitions/0/records?offset=0'],
      ['GET', '/v1/topics/{topic}/partitions/{partition}/records', '/v1/topics/spec/partitions/0/records?offset=99'],
      ['GET', '/v1/topics/{topic}/partitions/{partition}/records', '/v1/topics/spec/partitions/9/records?offset=0'],
      ['GET', '/v1/topics/{topic}/partitions/{partition}/offsets', '/v1/topics/spec/partitions/0/offsets?timestamp=0'],
      ['GET', '/v1/topics/{topic}/partitions/{partition}/offsets', '/v1/topics/spec/partitions/0/offsets?timestamp=latest'],
      ['GET', '/v1/topics/{topic}/partitions/{partition}/offsets', '/v1/topics/spec/partitions/0/offsets?timestamp=soon'],
      ['POST', '/v1/topics/{topic}/partitions/{partition}/delete-records', '/v1/topics/spec/partitions/0/delete-records', { offset: 1 }],
      ['POST', '/v1/topics/{topic}/partitions/{partition}/delete-records', '/v1/topics/spec/partitions/0/delete-records', { offset: 50 }],
      ['POST', '/v1/groups/{group}/heartbeat', '/v1/groups/readers/heartbeat', { memberId: 'm1', memberEpoch: 0, subscribedTopics: ['spec'] }],
      ['POST', '/v1/groups/{group}/heartbeat', '/v1/groups/readers/heartbeat', { memberId: 'm1', memberEpoch: 7 }],
      ['POST', '/v1/groups/{group}/heartbeat', '/v1/groups/readers/heartbeat', { memberId: 'm2', memberEpoch: 3 }],
      ['POST', '/v1/groups/{group}/offsets', '/v1/groups/readers/offsets', { memberId: 'm1', memberEpoch: 1, offsets: [{ topic: 'spec', partition: 0, offset: 1 }] }],
      ['GET', '/v1/groups/{group}/offsets', '/v1/groups/readers/offsets'],
      ['GET', '/v1/groups/{group}', '/v1/groups/readers'],
      ['GET', '/v1/groups', '/v1/groups'],
      ['POST', '/v1/producers', '/v1/producers'],
      ['POST', '/v1/groups/{group}/offsets/reset', '/v1/groups/readers/offsets/reset', { topic: 'spec', to: 'earliest' }],
      ['POST', '/v1/groups/{group}/heartbeat', '/v1/groups/readers/heartbeat', { memberId: 'm1', memberEpoch: -1 }],
      ['POST', '/v1/groups/{group}/offsets/reset', '/v1/groups/readers/offsets/reset', { topic: 'spec', to: 'earliest' }],
      ['GET', '/v1/groups/{group}', '/v1/groups/nobody'],
      ['POST', '/v1/topics/{topic}/blobs', '/v1/topics/spec/blobs', { size: 100_000_000, sha256: 'a'.repeat(64) }],
      ['POST', '/v1/topics/{topic}/blobs', '/v1/topics/spec/blobs', { size: 10, sha256: 'A' }],
      ['GET', '/v1/topics/{topic}/blobs/{id}', '/v1/topics/spec/blobs/000000000000001-00000000000000000000000000000000'],
      ['POST', '/v1/topics/{topic}/blobs/{id}/complete', '/v1/topics/spec/blobs/000000000000001-00000000000000000000000000000000/complete', { parts: [{ partNumber: 1, etag: 'x' }] }],
      ['DELETE', '/v1/groups/{group}/offsets', '/v1/groups/readers/offsets?topic=spec&partition=0'],
      ['DELETE', '/v1/groups/{group}/offsets', '/v1/groups/nobody/offsets?topic=spec'],
      ['DELETE', '/v1/groups/{group}', '/v1/groups/readers'],
      ['DELETE', '/v1/groups/{group}', '/v1/groups/readers'],
      ['DELETE', '/v1/topics/{topic}', '/v1/topics/spec'],
    ];
    const statuses = new Set<number>();
    for (const [method, template, path, body] of calls) {
      const res = await api(stack.url, method, path, body);
      statuses.add(res.status);
      expect(responseErrors(template, method, res.status, res.body), `${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`).toEqual([]);
    }
    expect([...statuses].sort()).toEqual([200, 201, 204, 400, 404, 409, 416]);
  });
});
