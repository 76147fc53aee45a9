import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSigner, regionFromUrl } from '../../lib/client/auth.ts';
import { Transport } from '../../lib/client/http.ts';
import { RETRY_DEFAULTS } from '../../lib/client/options.ts';

// AWS's Signature Version 4 test suite, case "get-vanilla".
const AWS_EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const VANILLA_DATE = new Date('2015-08-30T12:36:00Z');

const FIXED = { accessKeyId: 'AKIDFIXED', secretAccessKey: 'secret/fixed', sessionToken: 'session-token' };
const DATE = new Date('2024-01-02T03:04:05Z');
const API = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/prod');

describe('createSigner', () => {
  it('reproduces the AWS SigV4 test suite signature for get-vanilla', async () => {
    // Prepare
    const url = new URL('https://example.amazonaws.com/');
    const sign = createSigner({ type: 'iam', region: 'us-east-1', service: 'service', credentials: AWS_EXAMPLE }, url, { now: () => VANILLA_DATE, applyChecksum: false });

    // Act
    const headers = await sign!({ method: 'GET', url, headers: {} });

    // Assess
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('signs for execute-api in the region of the URL, with the session token and body hash', async () => {
    const sign = createSigner({ type: 'iam', credentials: FIXED }, API, { now: () => DATE });
    const body = Buffer.from('{"name":"payments"}');
    const url = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/prod/v1/topics');
    const headers = await sign!({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body });

    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDFIXED\/20240102\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    expect(headers['x-amz-date']).toBe('20240102T030405Z');
    expect(headers['x-amz-security-token']).toBe('session-token');
    expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(headers['content-type']).toBe('application/json');
  });

  it('is deterministic for fixed credentials and date, and the signature covers the body and query', async () => {
    const sign = createSigner({ type: 'iam', credentials: FIXED }, API, { now: () => DATE })!;
    const url = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/prod/v1/topics/t/records');
    const a = await sign({ method: 'POST', url, headers: {}, body: 'one' });
    const b = await sign({ method: 'POST', url, headers: {}, body: 'one' });
    const otherBody = await sign({ method: 'POST', url, headers: {}, body: 'two' });
    const otherQuery = await sign({ method: 'POST', url: new URL(`${url.href}?x=1`), headers: {}, body: 'one' });
    expect(a).toEqual(b);
    expect(otherBody.authorization).not.toBe(a.authorization);
    expect(otherQuery.authorization).not.toBe(a.authorization);
  });

  it('takes credentials from a provider', async () => {
    const sign = createSigner({ type: 'iam', region: 'us-east-2', credentials: async () => FIXED }, new URL('https://sluice.example.com'), { now: () => DATE })!;
    const headers = await sign({ method: 'GET', url: new URL('https://sluice.example.com/v1/topics'), headers: {} });
    expect(headers.authorization).toContain('Credential=AKIDFIXED/20240102/us-east-2/execute-api/aws4_request');
  });

  it('signs nothing without IAM auth', () => {
    expect(createSigner(undefined, API)).toBeUndefined();
    expect(createSigner({ type: 'none' }, API)).toBeUndefined();
  });

  it('fails if no region can be found', () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(() => createSigner({ type: 'iam', credentials: FIXED }, new URL('https://sluice.example.com'))).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    } finally {
      Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
    }
  });

  it('reads the region of an execute-api URL', () => {
    expect(regionFromUrl(API)).toBe('eu-west-1');
    expect(regionFromUrl(new URL('http://127.0.0.1:4100'))).toBeUndefined();
  });
});

describe('Class: Transport', () => {
  it('sends the signed headers on every request and keeps the stage path', async () => {
    const seen: Array<{ url: string; headers: Record<string, string> }> = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      seen.push({ url: String(input), headers: init?.headers as Record<string, string> });
      return new Response('{"topics":[]}', { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const transport = new Transport({ url: API.href, auth: { type: 'iam', credentials: FIXED }, fetch, signer: { now: () => DATE } });
    await transport.json({ method: 'GET', path: '/v1/topics' }, RETRY_DEFAULTS);
    expect(seen[0]?.url).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/prod/v1/topics');
    expect(seen[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDFIXED\/20240102\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=accept;host;/);
    expect(seen[0]?.headers.host).toBeUndefined();
  });
});
