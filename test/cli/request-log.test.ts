import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.close();
  delete process.env.SLUICE_LOG_LEVEL;
  vi.restoreAllMocks();
});

describe('the local stack at SLUICE_LOG_LEVEL=info', () => {
  it('logs one line per request: method, path, status and ms', async () => {
    // Prepare
    process.env.SLUICE_LOG_LEVEL = 'info';
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    stack = await startTestStack();

    // Act
    await api(stack.url, 'GET', '/v1/topics');
    await api(stack.url, 'GET', '/v1/topics/absent?x=1');

    // Assess
    const lines = log.mock.calls.map((call) => String(call[0]));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^GET \/v1\/topics 200 \d+ ms$/);
    expect(lines[1]).toMatch(/^GET \/v1\/topics\/absent\?x=1 404 \d+ ms$/);
  });

  it('logs nothing per request by default', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    stack = await startTestStack();
    await api(stack.url, 'GET', '/v1/topics');
    expect(log).not.toHaveBeenCalled();
  });
});
