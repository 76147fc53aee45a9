// s3rver in a process of its own, started with --openssl-legacy-provider: s3rver signs
// ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) only offers
// through the legacy provider. Without it, any listing past 1,000 keys fails.
//
// It also keeps watch for the stack: when the parent dies, even by kill -9, our stdin pipe
// closes, and this process stops DynamoDB Local (whose pid it was given) and itself, so no
// emulator outlives the stack.
import { spawnSync } from 'node:child_process';
import S3rver from 's3rver';
import { makeCrashSafe, repairStore } from './s3rver-store.mjs';

const [port, directory, reset, dynamoPid] = process.argv.slice(2);
if (reset !== 'reset') {
  const removed = repairStore(directory);
  if (removed.length > 0) console.error(`s3rver: removed ${removed.length} half-written file(s) left by an earlier crash`);
}
const server = new S3rver({ port: Number(port), address: '127.0.0.1', directory, silent: true, resetOnClose: reset === 'reset' });
makeCrashSafe(server.store);
await server.run();
process.stdout.write('ready\n');

/** True when `pid` is still DynamoDB Local, not a process that reused its number. */
function isDynamoLocal(pid) {
  const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
  return ps.status === 0 && ps.stdout.includes('DynamoDBLocal');
}

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', () => {
  // The parent went away without stopping us: it cannot stop DynamoDB Local either.
  if (dynamoPid !== undefined && isDynamoLocal(Number(dynamoPid))) process.kill(Number(dynamoPid), 'SIGTERM');
  void stop();
});
process.stdin.resume();
