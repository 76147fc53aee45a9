import { afterAll, beforeAll, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';
let stack: LocalStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack?.close(); });
it('scratch', async () => {
  await api(stack.url, 'POST', '/v1/topics', { name: 't', partitions: 6 });
  const ms = ['a', 'b', 'c'].map((id) => ({ id, epoch: 0, owned: [] as number[] }));
  for (let round = 0; round < 6; round++) {
    for (const m of ms) {
      const r = await api(stack.url, 'POST', '/v1/groups/g/heartbeat', { memberId: m.id, memberEpoch: m.epoch, subscribedTopics: ['t'], ownedPartitions: [{ topic: 't', partitions: m.owned }] });
      if (r.status !== 200) { console.log('ERR', m.id, JSON.stringify(r.body)); continue; }
      m.epoch = r.body.memberEpoch; m.owned = r.body.assignment.flatMap((t: { partitions: number[] }) => t.partitions);
    }
    console.log('ROUND', round, JSON.stringify(ms));
  }
  for (const m of ms) console.log('LEAVE', JSON.stringify((await api(stack.url, 'POST', '/v1/groups/g/heartbeat', { memberId: m.id, memberEpoch: -1 })).body));
  const d = (await api(stack.url, 'GET', '/v1/groups/g')).body;
  console.log('DESC', d.state, d.groupEpoch, JSON.stringify(d.members.map((m: any) => [m.memberId, m.memberEpoch, m.assignment, m.revoking, m.targetAssignment])));
});
