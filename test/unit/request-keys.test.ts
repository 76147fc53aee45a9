import { describe, expect, it } from 'vitest';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { requestFromEvent } from '../../lib/http/request.ts';

function event(headers: Record<string, string>): APIGatewayProxyEventV2 {
  return { rawPath: '/v1/health', headers, requestContext: { http: { method: 'GET' } }, isBase64Encoded: false } as unknown as APIGatewayProxyEventV2;
}

describe('requestFromEvent', () => {
  it('keeps a header named __proto__ as an ordinary header', () => {
    // JSON.parse makes "__proto__" an own property, as a parsed event's headers have it.
    const request = requestFromEvent(event(JSON.parse('{"__proto__":"x","Content-Type":"application/json"}') as Record<string, string>));
    expect(Object.keys(request.headers).sort()).toEqual(['__proto__', 'content-type']);
    expect(request.headers['__proto__']).toBe('x');
  });

  it('reads an absent header named like an Object.prototype member as absent', () => {
    const request = requestFromEvent(event({}));
    expect(request.headers['constructor']).toBeUndefined();
    expect(request.headers['tostring']).toBeUndefined();
  });
});
