/**
 * One route table, three readers: the CDK stack (API Gateway routes), the local server
 * (matchRoute) and the handlers (createHandler). These tests read the synthesized template
 * and check that the other two agree with it route for route, and that FUNCTION_NAMES,
 * the handlers under functions/ and the functions the table names are the same set.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LambdaHandler } from '../../lib/http/handler.ts';
import { matchRoute, ROUTES, routeKey, type FunctionName, type Route, type RouteSpec } from '../../lib/http/routes.ts';
import { startServer, type Handlers, type LocalServer } from '../../local/server.ts';
import { CLUSTER_FUNCTION_NAMES, FUNCTION_NAMES } from '../../infra/cluster-props.ts';
import { PROJECT_ROOT } from '../../infra/function-bundling.ts';
import { flatten, logicalId, resourcesOf, synthStack, type Synthesized } from './synth.ts';

/** RouteKey → the function its integration invokes, read from the template. */
function wiring(s: Synthesized): Map<string, FunctionName> {
  const byLogicalId = new Map(FUNCTION_NAMES.map((name) => [logicalId(s.stack, s.stack.cluster.functions[name]), name]));
  const integrations = resourcesOf(s.template, 'AWS::ApiGatewayV2::Integration');
  const result = new Map<string, FunctionName>();
  for (const route of Object.values(resourcesOf(s.template, 'AWS::ApiGatewayV2::Route'))) {
    const target = flatten(route.Properties?.Target);
    const integration = integrations[/^integrations\/\$\{(\w+)\}$/.exec(target)?.[1] ?? ''];
    expect(integration?.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    const fnId = (integration?.Properties?.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    result.set(route.Properties?.RouteKey as string, byLogicalId.get(fnId) as FunctionName);
  }
  return result;
}

/** A concrete path for a template: `{topic}` → `topic-value`. */
function concretePath(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'partition' ? '0' : `${name}-value`));
}

let base: Synthesized;
let deployed: Map<string, FunctionName>;
beforeAll(() => {
  // GIVEN the stack as deployed, with the route table the local server uses
  base = synthStack();
  deployed = wiring(base);
});

describe('the route table', () => {
  it('is the set of API Gateway routes, one each', () => {
    const keys = Object.values(resourcesOf(base.template, 'AWS::ApiGatewayV2::Route')).map((r) => r.Properties?.RouteKey as string);
    expect(keys).toHaveLength(ROUTES.length);
    expect(new Set(keys)).toEqual(new Set(ROUTES.map(routeKey)));
  });

  it.each(ROUTES.map((r) => [routeKey(r), r.function] as const))('sends %s to the %s function, payload format 2.0', (key, fn) => {
    expect(deployed.get(key)).toBe(fn);
  });

  it('gives each function one integration', () => {
    expect(Object.keys(resourcesOf(base.template, 'AWS::ApiGatewayV2::Integration'))).toHaveLength(new Set(ROUTES.map((r) => r.function)).size);
  });
});

describe('FUNCTION_NAMES', () => {
  it.each(CLUSTER_FUNCTION_NAMES)('%s serves at least one route of the table, or is compact', (name) => {
    // A function in FUNCTION_NAMES that serves no route would be deployed with no way in
    // (resolveClusterProps rejects such a table); compact alone is invoked, not routed.
    if (name !== 'compact') expect(ROUTES.filter((r) => r.function === name).map(routeKey), name).not.toEqual([]);
  });

  it('holds every function the route table names, once', () => {
    expect(new Set(FUNCTION_NAMES).size).toBe(FUNCTION_NAMES.length);
    expect(new Set(FUNCTION_NAMES)).toEqual(new Set(ROUTES.map((r) => r.function)));
  });

  it('with compact, names exactly the handlers under functions/', () => {
    const dirs = readdirSync(join(PROJECT_ROOT, 'functions'), { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(PROJECT_ROOT, 'functions', d.name, 'handler.ts')));
    expect(dirs.map((d) => d.name).sort()).toEqual([...CLUSTER_FUNCTION_NAMES].sort());
  });
});

describe('the local server', () => {
  let server: LocalServer;
  beforeAll(async () => {
    // Stub handlers that say who was called with which route key.
    const echo = (fn: FunctionName): LambdaHandler => async (event) => ({ statusCode: 200, body: JSON.stringify({ fn, routeKey: event.routeKey, pathParameters: event.pathParameters ?? {} }) });
    server = await startServer(Object.fromEntries(FUNCTION_NAMES.map((name) => [name, echo(name)])) as Handlers, 0);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('dispatches every deployed route to the function API Gateway would invoke, with the same route key', async () => {
    for (const [key, fn] of deployed) {
      const [method, path] = key.split(' ') as [string, string];
      const response = await fetch(`${server.url}${concretePath(path)}`, { method });
      expect(await response.json(), key).toMatchObject({ fn, routeKey: key });
    }
  });
});

describe('the handlers', () => {
  const saved = process.env.SLUICE_TABLE;
  beforeAll(() => {
    // Without a table the handlers fail before any AWS call, after choosing the operation;
    // they log that failure, which is expected here.
    delete process.env.SLUICE_TABLE;
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterAll(() => {
    if (saved !== undefined) process.env.SLUICE_TABLE = saved;
    vi.restoreAllMocks();
  });

  it.each(FUNCTION_NAMES)('%s implements exactly the route keys the API sends it', async (name) => {
    const { handler } = (await import(`../../functions/${name}/handler.ts`)) as { handler: LambdaHandler };
    for (const [key, fn] of deployed) {
      const [method, path] = key.split(' ') as [string, string];
      const event = { version: '2.0', routeKey: key, rawPath: concretePath(path), rawQueryString: '', headers: {}, isBase64Encoded: false, requestContext: { http: { method } } };
      const result = await handler(event as unknown as APIGatewayProxyEventV2);
      const unrouted = result.statusCode === 404 && String(result.body).includes(`No route ${key} in the ${name} function`);
      expect(unrouted, `${name} ← ${key}`).toBe(fn !== name);
    }
  });
});

describe('a route added to the table', () => {
  const extra = { method: 'GET', path: '/v1/topics/{topic}/partitions', function: 'admin', operation: 'listPartitions' } as const satisfies RouteSpec;
  const extended = [...ROUTES, extra] as readonly RouteSpec[];

  it('reaches both the API and the local matcher', () => {
    // WHEN the table gains a route
    const s = synthStack({ routes: extended });
    // THEN API Gateway routes it to its function
    expect(wiring(s).get('GET /v1/topics/{topic}/partitions')).toBe('admin');
    expect(new Set(wiring(s).keys())).toEqual(new Set(extended.map(routeKey)));
    // AND the local server's matcher, given the same table, matches it; without it, it does not
    expect(matchRoute('GET', '/v1/topics/orders/partitions', extended as readonly Route[])).toMatchObject({ kind: 'matched', route: extra, pathParameters: { topic: 'orders' } });
    expect(matchRoute('GET', '/v1/topics/orders/partitions')).toEqual({ kind: 'not-found' });
    expect(deployed.has('GET /v1/topics/{topic}/partitions')).toBe(false);
  });
});
