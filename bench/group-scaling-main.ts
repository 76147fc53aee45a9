/**
 * Only the steady-heartbeat scaling part of `npm run bench`:
 *
 *   npx tsx bench/group-scaling-main.ts
 */
import { randomBytes } from 'node:crypto';
import { startEmulators } from '../local/emulators.ts';
import { startStack } from '../local/stack.ts';
import { benchHeartbeatScaling, formatHeartbeatScaling } from './groups.ts';

const emulators = await startEmulators();
try {
  const suffix = randomBytes(4).toString('hex');
  const stack = await startStack({ emulators, tableName: `bench-${suffix}`, bucketName: `bench-${suffix}`, port: 0 });
  try {
    console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
    console.log(formatHeartbeatScaling(await benchHeartbeatScaling(stack)));
  } finally {
    await stack.close();
  }
} finally {
  await emulators.stop();
}
