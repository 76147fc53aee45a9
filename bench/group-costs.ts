/**
 * DynamoDB requests a consumer group costs the server: per steady-state heartbeat and per
 * offset commit, counted on the very clients the handlers use (the stack runs in-process).
 */
import { sharedStorage } from '../lib/storage/clients.ts';
import type { LocalStack } from '../local/stack.ts';

async function post(url: string, body: unknown): Promise<{ memberEpoch: number; assignment: Array<{ topic: string; partitions: number[] }> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as { memberEpoch: number; assignment: Array<{ topic: string; partitions: number[] }> };
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export interface GroupCosts {
  members: number;
  heartbeats: number;
  dynamoPerHeartbeat: Record<string, number>;
  commits: number;
  dynamoPerCommit: Record<string, number>;
}

/** Three members on a 6-partition topic reach a stable assignment; then heartbeats and commits are counted. */
export async function benchGroupCosts(stack: LocalStack, topic = 'bench-groups', rounds = 50): Promise<GroupCosts> {
  await fetch(`${stack.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic, partitions: 6 }) });
  const group = `${topic}-group`;
  const members = ['m1', 'm2', 'm3'].map((id) => ({ id, epoch: 0, owned: [] as number[] }));
  const beat = async (m: (typeof members)[number]) => {
    const res = await post(`${stack.url}/v1/groups/${group}/heartbeat`, { memberId: m.id, memberEpoch: m.epoch, subscribedTopics: [topic], ownedPartitions: [{ topic, partitions: m.owned }] });
    m.epoch = res.memberEpoch;
    m.owned = res.assignment.flatMap((a) => a.partitions);
  };
  for (let i = 0; i < 6; i++) for (const m of members) await beat(m);
  const counts: Record<string, number> = {};
  const ddb = sharedStorage().ddb;
  let counting = false;
  ddb.middlewareStack.add(
    (next, context) => async (args) => {
      if (counting) counts[context.commandName as string] = (counts[context.commandName as string] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  const per = (n: number) => Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number((v / n).toFixed(2))]));
  counting = true;
  for (let i = 0; i < rounds; i++) await beat(members[i % 3] as (typeof members)[number]);
  counting = false;
  const heartbeats = per(rounds);
  for (const k of Object.keys(counts)) delete counts[k];
  counting = true;
  for (let i = 0; i < rounds; i++) {
    const m = members[i % 3] as (typeof members)[number];
    await post(`${stack.url}/v1/groups/${group}/offsets`, { memberId: m.id, memberEpoch: m.epoch, offsets: m.owned.map((partition) => ({ topic, partition, offset: i })) });
  }
  counting = false;
  ddb.middlewareStack.remove('benchCounter');
  return { members: 3, heartbeats: rounds, dynamoPerHeartbeat: heartbeats, commits: rounds, dynamoPerCommit: per(rounds) };
}
