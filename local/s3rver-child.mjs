// s3rver in a process of its own, started with --openssl-legacy-provider: s3rver signs
// ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) only offers
// through the legacy provider. Without it, any listing past 1,000 keys fails.
import S3rver from 's3rver';

const [port, directory, reset] = process.argv.slice(2);
const server = new S3rver({ port: Number(port), address: '127.0.0.1', directory, silent: true, resetOnClose: reset === 'reset' });
await server.run();
process.stdout.write('ready\n');
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The parent went away without stopping us: stop too.
process.stdin.on('end', stop);
process.stdin.resume();
