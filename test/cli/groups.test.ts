import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'sluice.mjs');

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real binary against the test stack (a non-TTY: no progress bar). */
function sluice(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, SLUICE_URL: stack.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function produce(topic: string, values: string[]): Promise<void> {
  const res = await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records: values.map((value, i) => ({ value, partition: i % 3 })) });
  expect(res.status).toBe(200);
}

const lines = (run: Run) => run.stdout.split('\n').filter((l) => l !== '');
/** The group's committed offsets by partition, read from the API (a CLI run per check would be slow). */
const committed = async (group: string) => (await api(stack.url, 'GET', `/v1/groups/${group}`)).body.partitions.map((p: { committedOffset: number | null }) => p.committedOffset);

describe('sluice groups and consume --group', () => {
  it('consumes as a group from its committed offsets, describes lag, and resets offsets while the group is empty', async () => {
    // Prepare
    expect((await api(stack.url, 'POST', '/v1/topics', { name: 'clicks', partitions: 3 })).status).toBe(201);
    const first = Array.from({ length: 30 }, (_, i) => `c${i}`);
    await produce('clicks', first);

    // Act: read everything, then only what came since.
    const all = await sluice(['consume', 'clicks', '--group', 'readers', '--from-beginning']);
    await produce('clicks', ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']);
    const rest = await sluice(['consume', 'clicks', '--group', 'readers']);

    // Assess
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(lines(all).sort()).toEqual([...first].sort());
    expect(lines(rest).sort()).toEqual(['n0', 'n1', 'n2', 'n3', 'n4', 'n5']);
    const described = JSON.parse((await sluice(['groups', 'describe', 'readers', '--json'])).stdout);
    expect(described).toMatchObject({ group: 'readers', state: 'Empty', members: [] });
    expect(described.partitions).toEqual([0, 1, 2].map((partition) => ({ topic: 'clicks', partition, owner: null, pendingOwner: null, committedOffset: 12, highWatermark: 12, lag: 0 })));
    const text = await sluice(['groups', 'describe', 'readers']);
    expect(text.stdout).toMatch(/^Group: readers {2}State: Empty {2}Members: 0 {2}Assignor: uniform/);
    expect(text.stdout).toContain('TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID\nclicks  0          12              12              0    -\n');
    expect((await sluice(['groups', 'list'])).stdout).toMatch(/^GROUP\n(.*\n)*readers\n/);
    expect(JSON.parse((await sluice(['groups', 'list', '--json'])).stdout)).toContainEqual({ group: 'readers' });

    // Reset, then read back exactly what the reset exposed; --max-messages commits only what it printed.
    const reset = await sluice(['groups', 'reset-offsets', 'readers', '--topic', 'clicks', '--to-offset', '10', '--execute']);
    expect(reset).toMatchObject({ code: 0, stdout: 'TOPIC   PARTITION  NEW-OFFSET\nclicks  0          10\nclicks  1          10\nclicks  2          10\n' });
    const two = await sluice(['consume', 'clicks', '--group', 'readers', '--max-messages', '2', '--format', 'json']);
    expect(lines(two)).toHaveLength(2);
    const twoRead = lines(two).map((l) => JSON.parse(l) as { partition: number; offset: number });
    expect((await committed('readers')).reduce((a: number, b: number) => a + b, 0)).toBe(32);
    for (const r of twoRead) expect((await committed('readers'))[r.partition]).toBeGreaterThan(r.offset);
    expect(lines(await sluice(['consume', 'clicks', '--group', 'readers'])).length).toBe(4);
    expect(JSON.parse((await sluice(['groups', 'reset-offsets', 'readers', '-t', 'clicks', '--to-earliest', '--json', '--execute'])).stdout).map((o: { offset: number }) => o.offset)).toEqual([0, 0, 0]);
    await sluice(['groups', 'reset-offsets', 'readers', '-t', 'clicks', '--to-datetime', '2999-01-01T00:00:00Z', '--execute']);
    expect(await committed('readers')).toEqual([12, 12, 12]);
    await sluice(['groups', 'reset-offsets', 'readers', '-t', 'clicks', '--to-datetime', '2000-01-01T00:00:00Z', '--execute']);
    expect(await committed('readers')).toEqual([0, 0, 0]);
    await sluice(['groups', 'reset-offsets', 'readers', '-t', 'clicks', '--to-latest', '--execute']);
    expect(await committed('readers')).toEqual([12, 12, 12]);
    // Sixteen CLI runs, five of them group joins: on a loaded 2-core machine that passes a minute.
  }, 150_000);

  it('refuses a reset while a member is live, and leaves the group when interrupted', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'live', partitions: 3 });
    const child = spawn(process.execPath, [BIN, 'consume', 'live', '--group', 'watchers', '--follow'], { env: { ...process.env, SLUICE_URL: stack.url } });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 15_000;
    while ((await api(stack.url, 'GET', '/v1/groups/watchers')).body.members?.length !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    const refused = await sluice(['groups', 'reset-offsets', 'watchers', '--topic', 'live', '--to-earliest', '--execute']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^NON_EMPTY_GROUP: /);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // It left: the group is empty at once, not after the session timeout.
    expect((await api(stack.url, 'GET', '/v1/groups/watchers')).body.state).toBe('Empty');
  });

  it('plans a reset as a dry run unless --execute, shifting or keeping offsets of chosen partitions', async () => {
    // Prepare: committed 12 on each of 3 partitions of clicks (the first test), and an empty group "planners" at 5.
    await api(stack.url, 'POST', '/v1/topics', { name: 'planned', partitions: 3 });
    await produce('planned', Array.from({ length: 30 }, (_, i) => `p${i}`));
    expect((await api(stack.url, 'POST', '/v1/groups/planners/offsets', { offsets: [0, 1, 2].map((partition) => ({ topic: 'planned', partition, offset: 5 })) })).status).toBe(200);

    // Act
    const dry = await sluice(['groups', 'reset-offsets', 'planners', '--topic', 'planned:0,2', '--shift-by', '-2']);
    const afterDry = await committed('planners');
    const shifted = await sluice(['groups', 'reset-offsets', 'planners', '--topic', 'planned:0,2', '--shift-by', '-2', '--execute']);
    const clamped = await sluice(['groups', 'reset-offsets', 'planners', '--topic', 'planned:1', '--shift-by', '100', '--execute', '--json']);
    const current = await sluice(['groups', 'reset-offsets', 'planners', '--topic', 'planned', '--to-current']);

    // Assess
    expect(dry).toMatchObject({ code: 0, stdout: 'TOPIC    PARTITION  NEW-OFFSET\nplanned  0          3\nplanned  2          3\n', stderr: 'Dry run: nothing was changed; add --execute to commit these offsets.\n' });
    expect(afterDry).toEqual([5, 5, 5]);
    expect(shifted).toMatchObject({ code: 0, stdout: dry.stdout, stderr: '' });
    expect(JSON.parse(clamped.stdout)).toEqual([{ topic: 'planned', partition: 1, offset: 10 }]);
    expect(await committed('planners')).toEqual([3, 10, 3]);
    expect(current.stdout).toBe('TOPIC    PARTITION  NEW-OFFSET\nplanned  0          3\nplanned  1          10\nplanned  2          3\n');
    expect((await sluice(['groups', 'reset-offsets', 'planners', '--topic', 'planned:7', '--to-earliest'])).stderr).toBe('UNKNOWN_TOPIC_OR_PARTITION: Topic planned has 3 partitions, no partition 7\n');
  });

  it('rejects partition options with --group and a reset without exactly one target', async () => {
    const withPartition = await sluice(['consume', 'clicks', '--group', 'g', '--partition', '0']);
    expect(withPartition).toMatchObject({ code: 1, stderr: expect.stringMatching(/^INVALID_REQUEST: --partition cannot be used with --group/) });
    const none = await sluice(['groups', 'reset-offsets', 'g', '--topic', 'clicks']);
    expect(none).toMatchObject({ code: 1, stderr: 'INVALID_REQUEST: Give exactly one of --to-earliest, --to-latest, --to-offset <n>, --to-datetime <ISO-8601>, --shift-by <n> and --to-current\n' });
    const two = await sluice(['groups', 'reset-offsets', 'g', '--topic', 'clicks', '--to-earliest', '--to-offset', '3']);
    expect(two.code).toBe(1);
    expect((await sluice(['groups', 'describe', 'never-seen'])).stderr).toMatch(/^GROUP_ID_NOT_FOUND: /);
  });

  it("deletes a group's offsets of chosen partitions, then the group; a group no longer there exits non-zero", async () => {
    // Prepare
    expect((await api(stack.url, 'POST', '/v1/topics', { name: 'gone', partitions: 3 })).status).toBe(201);
    expect((await api(stack.url, 'POST', '/v1/groups/leavers/offsets', { offsets: [0, 1, 2].map((partition) => ({ topic: 'gone', partition, offset: 1 })) })).status).toBe(200);

    // Act
    const some = await sluice(['groups', 'delete-offsets', 'leavers', 'gone:0,2']);
    const group = await sluice(['groups', 'delete', 'leavers']);
    const again = await sluice(['groups', 'delete', 'leavers']);

    // Assess
    expect(some).toMatchObject({ code: 0, stdout: 'TOPIC  PARTITION  STATUS\ngone   0          deleted\ngone   2          deleted\n' });
    // Partition 1's offset, which delete-offsets left, went with the group.
    expect((await api(stack.url, 'GET', '/v1/groups/leavers/offsets')).body.offsets).toEqual([]);
    expect(group).toMatchObject({ code: 0, stdout: 'Deleted group leavers.\n' });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('GROUP_ID_NOT_FOUND');
  });
});
