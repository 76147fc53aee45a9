/**
 * Only the consumer-group DynamoDB counts of `npm run bench` (requests per steady heartbeat
 * and per commit; the steady heartbeat by group size):
 *
 *   npx tsx bench/group-scaling-main.ts
 */
import { randomBytes } from 'node:crypto';
import { startEmulators } from '../local/emulators.ts';
import { startStack } from '../local/stack.ts';
import { benchGroupCosts } from './group-costs.ts';
import { benchHeartbeatScaling, formatHeartbeatScaling } from './groups.ts';

const emulators = await startEmulators();
try {
  const suffix = randomBytes(4).toString('hex');
  const stack = await startStack({ emulators, tableName: `bench-${suffix}`, bucketName: `bench-${suffix}`, port: 0 });
  try {
    console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
    const costs = await benchGroupCosts(stack);
    console.log(`${costs.members} members, 6 partitions, stable: DynamoDB requests per heartbeat ${JSON.stringify(costs.dynamoPerHeartbeat)}, per commit (2 partitions) ${JSON.stringify(costs.dynamoPerCommit)}\n`);
    console.log(formatHeartbeatScaling(await benchHeartbeatScaling(stack)));
  } finally {
    await stack.close();
  }
} finally {
  await emulators.stop();
}
