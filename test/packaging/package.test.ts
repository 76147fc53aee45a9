/**
 * The published package: `npm pack` builds JavaScript and .d.ts (prepack → tsc), and the
 * tarball works in an empty project — plain `node` imports sluice/client, sluice/kafkajs and
 * sluice/infra (no tsx), `npx sluice` runs, and types resolve under moduleResolution node16 and
 * bundler with the DOM lib. aws-cdk-lib and constructs are optional peers: the app's own copy
 * serves the construct, and a client-only app runs without them.
 *
 * The project is set up offline the way npm installs a tarball: the package extracted into
 * node_modules/sluice, its bin linked into node_modules/.bin, and its dependencies taken from
 * this repository's installed node_modules (symlinked, one per package), so the test needs no
 * registry and no npm cache.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { startTestStack } from '../support/stack.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const MODULES = realpathSync(join(ROOT, 'node_modules'));
const TSC = join(MODULES, 'typescript', 'bin', 'tsc');

/** What the CDK construct (sluice/infra) needs from the app: one copy, the app's own. */
const CDK_PEERS = ['aws-cdk-lib', 'constructs'] as const;

/** True when `version` is in the caret range `^M.m.p` (same major, at least M.m.p). */
function satisfiesCaret(version: string, range: string): boolean {
  const [major, minor, patch] = version.split('.').map(Number) as [number, number, number];
  const [wantMajor, wantMinor, wantPatch] = range.slice(1).split('.').map(Number) as [number, number, number];
  return major === wantMajor && (minor > wantMinor || (minor === wantMinor && patch >= wantPatch));
}

let stack: LocalStack;
let work: string;
let app: string;
let tarball: string;

/** An empty project with the tarball installed as npm would, its dependencies (but `without`) from this repository. */
function installInto(project: string, packed: string, without: readonly string[] = []): Promise<unknown> {
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  for (const entry of readdirSync(MODULES)) {
    if (entry.startsWith('.') || entry === 'sluice' || without.includes(entry)) continue;
    if (!entry.startsWith('@')) {
      symlinkSync(join(MODULES, entry), join(modules, entry));
      continue;
    }
    mkdirSync(join(modules, entry));
    for (const scoped of readdirSync(join(MODULES, entry))) symlinkSync(join(MODULES, entry, scoped), join(modules, entry, scoped));
  }
  mkdirSync(join(modules, 'sluice'));
  symlinkSync('../sluice/bin/sluice.mjs', join(modules, '.bin', 'sluice'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { sluice: `file:${packed}` } }));
  return run('tar', ['-xzf', packed, '-C', join(modules, 'sluice'), '--strip-components=1']);
}

beforeAll(async () => {
  stack = await startTestStack();
  work = mkdtempSync(join(tmpdir(), 'sluice-pack-'));
  app = join(work, 'app');
  mkdirSync(app);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  tarball = join(work, (JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string }>)[0]?.filename ?? '');
  await installInto(app, tarball);
}, 600_000);

afterAll(async () => {
  await stack?.close();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships built JavaScript and declarations, not TypeScript sources', () => {
    const pkg = join(app, 'node_modules', 'sluice');
    for (const file of ['dist/lib/client/index.js', 'dist/lib/client/index.d.ts', 'dist/lib/kafkajs/index.js', 'dist/lib/kafkajs/index.d.ts', 'dist/infra/index.js', 'dist/cli/main.js', 'dist/functions/produce/handler.js', 'bin/sluice.mjs']) {
      expect(existsSync(join(pkg, file)), file).toBe(true);
    }
    expect(existsSync(join(pkg, 'lib'))).toBe(false);
    expect(existsSync(join(pkg, 'cli'))).toBe(false);
  });

  it('imports sluice/client, sluice/kafkajs and sluice/infra with plain node and round-trips a record through the local stack', async () => {
    // Prepare
    writeFileSync(
      join(app, 'main.mjs'),
      `import { Sluice } from 'sluice/client';
import { Kafka, KafkaJSNonRetriableError } from 'sluice/kafkajs';
import { SluiceCluster } from 'sluice/infra';
const url = process.argv[2];
const sluice = new Sluice({ url });
await sluice.admin().createTopic({ topic: 'packed', partitions: 1 });
const kafka = new Kafka({ brokers: [url] });
const producer = kafka.producer();
const [sent] = await producer.send({ topic: 'packed', messages: [{ key: 'k', value: 'from the tarball' }] });
await producer.disconnect();
const consumer = sluice.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
consumer.assign([{ topic: 'packed' }]);
const got = await new Promise((resolve) => consumer.run({ eachMessage: ({ message }) => resolve(String(message.value)) }));
await consumer.disconnect();
console.log(JSON.stringify({ offset: sent.offset, got, infra: typeof SluiceCluster, errors: typeof KafkaJSNonRetriableError }));
`,
    );

    // Act
    const { stdout } = await run(process.execPath, ['main.mjs', stack.url], { cwd: app });

    // Assess
    expect(JSON.parse(stdout)).toEqual({ offset: '0', got: 'from the tarball', infra: 'function', errors: 'function' });
  });

  it('runs `npx sluice` from the installed package', async () => {
    const version = await run('npx', ['--no-install', 'sluice', '--version'], { cwd: app });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const listed = await run('npx', ['--no-install', 'sluice', '--url', stack.url, 'topics', 'list', '--json'], { cwd: app });
    expect(listed.stdout).toContain('"packed"');
  });

  // skipLibCheck off once (it checks every dependency's declarations too, which is slow); the bundler run checks resolution only.
  it.each([
    ['node16', false],
    ['bundler', true],
  ] as const)('resolves the types under moduleResolution %s with the DOM lib (skipLibCheck %s)', async (resolution, skipLibCheck) => {
    // Prepare: a type error the declarations must catch, so "resolves" cannot mean "any".
    writeFileSync(
      join(app, 'app.ts'),
      `import { Sluice, type RecordMetadata } from 'sluice/client';
import { Kafka, type RecordMetadata as KafkaRecordMetadata } from 'sluice/kafkajs';
const sent: RecordMetadata[] = await new Sluice({ url: 'http://127.0.0.1:4100' }).producer().send({ topic: 't', messages: [{ value: 'x' }] });
const kafkaSent: KafkaRecordMetadata[] = await new Kafka({ brokers: ['http://127.0.0.1:4100'] }).producer().send({ topic: 't', messages: [{ value: 'x' }] });
const offset: number = sent[0]!.offset;
const kafkaOffset: string = kafkaSent[0]!.offset;
// @ts-expect-error offsets of the native client are numbers
const wrong: string = sent[0]!.offset;
export { offset, kafkaOffset, wrong };
`,
    );
    const module = resolution === 'node16' ? 'node16' : 'esnext';
    writeFileSync(
      join(app, `tsconfig.${resolution}.json`),
      JSON.stringify({ compilerOptions: { strict: true, module, moduleResolution: resolution, target: 'es2022', lib: ['es2023', 'dom'], types: ['node'], noEmit: true, skipLibCheck }, files: ['app.ts'] }),
    );

    // Act
    const result = await run(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`], { cwd: app }).catch((error: { stdout: string }) => error);

    // Assess
    expect(result.stdout).toBe('');
  });

  it('declares aws-cdk-lib and constructs as optional peer dependencies, in ranges the tested versions satisfy', () => {
    const shipped = JSON.parse(readFileSync(join(app, 'node_modules', 'sluice', 'package.json'), 'utf8')) as {
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
      dependencies?: Record<string, string>;
    };
    for (const name of CDK_PEERS) {
      const range = shipped.peerDependencies?.[name];
      const installed = (JSON.parse(readFileSync(join(MODULES, name, 'package.json'), 'utf8')) as { version: string }).version;
      expect(range, name).toMatch(/^\^\d+\.\d+\.\d+$/);
      expect(satisfiesCaret(installed, range as string), `${name}@${installed} in ${range}`).toBe(true);
      expect(shipped.peerDependenciesMeta?.[name]?.optional, name).toBe(true);
      // A dependency would install a second copy next to the app's: two `App` classes that do not recognise each other's constructs.
      expect(shipped.dependencies?.[name], name).toBeUndefined();
    }
  });

  it('imports sluice/client and sluice/kafkajs without aws-cdk-lib and constructs installed, and names the missing peer for sluice/infra', async () => {
    // Prepare: a client-only project
    const clientOnly = join(work, 'client-only');
    mkdirSync(clientOnly);
    await installInto(clientOnly, tarball, CDK_PEERS);
    writeFileSync(join(clientOnly, 'client.mjs'), "import { Sluice } from 'sluice/client';\nimport { Kafka } from 'sluice/kafkajs';\nconsole.log(typeof Sluice, typeof Kafka);\n");
    writeFileSync(join(clientOnly, 'infra.mjs'), "await import('sluice/infra');\n");

    // Act
    const client = await run(process.execPath, ['client.mjs'], { cwd: clientOnly });
    const infra = await run(process.execPath, ['infra.mjs'], { cwd: clientOnly }).catch((error: { stderr: string; code: number }) => error);

    // Assess
    expect(client.stdout.trim()).toBe('function function');
    expect(infra).toMatchObject({ code: 1 });
    expect((infra as { stderr: string }).stderr).toMatch(/Cannot find (package|module) '(aws-cdk-lib|constructs)/);
  });

  it('type-checks the client sources with the DOM lib (Buffer bodies are BodyInit there too)', async () => {
    const config = join(work, 'tsconfig.dom.json');
    writeFileSync(config, JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { lib: ['ES2023', 'DOM'], typeRoots: [join(MODULES, '@types')] }, include: [], files: [join(ROOT, 'lib/client/index.ts'), join(ROOT, 'lib/kafkajs/index.ts')] }));
    const result = await run(process.execPath, [TSC, '-p', config], { cwd: ROOT }).catch((error: { stdout: string }) => error);
    expect(result.stdout).toBe('');
  });
});
