/**
 * The route table: the one list of routes that the local server dispatches and the CDK
 * stack turns into API Gateway routes, so the two cannot drift.
 */

/** The Lambda function that serves a route. */
export type FunctionName = 'admin' | 'produce' | 'fetch' | 'groups';
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteSpec {
  readonly method: HttpMethod;
  /** API Gateway path template, `{name}` for a path parameter. */
  readonly path: string;
  readonly function: FunctionName;
  /** Operation id, as in docs/openapi.yaml. */
  readonly operation: string;
}

export const ROUTES = [
  { method: 'GET', path: '/v1/health', function: 'admin', operation: 'health' },
  { method: 'POST', path: '/v1/topics', function: 'admin', operation: 'createTopic' },
  { method: 'GET', path: '/v1/topics', function: 'admin', operation: 'listTopics' },
  { method: 'GET', path: '/v1/topics/{topic}', function: 'admin', operation: 'describeTopic' },
  { method: 'PATCH', path: '/v1/topics/{topic}', function: 'admin', operation: 'alterTopic' },
  { method: 'DELETE', path: '/v1/topics/{topic}', function: 'admin', operation: 'deleteTopic' },
  { method: 'POST', path: '/v1/topics/{topic}/partitions/{partition}/delete-records', function: 'admin', operation: 'deleteRecords' },
  { method: 'POST', path: '/v1/topics/{topic}/records', function: 'produce', operation: 'produce' },
  { method: 'POST', path: '/v1/producers', function: 'produce', operation: 'initProducerId' },
  { method: 'POST', path: '/v1/topics/{topic}/blobs', function: 'produce', operation: 'createBlob' },
  { method: 'POST', path: '/v1/topics/{topic}/blobs/{id}/complete', function: 'produce', operation: 'completeBlob' },
  { method: 'GET', path: '/v1/topics/{topic}/partitions/{partition}/records', function: 'fetch', operation: 'fetch' },
  { method: 'GET', path: '/v1/topics/{topic}/partitions/{partition}/offsets', function: 'fetch', operation: 'listOffsets' },
  { method: 'GET', path: '/v1/topics/{topic}/blobs/{id}', function: 'fetch', operation: 'getBlob' },
  { method: 'GET', path: '/v1/groups', function: 'groups', operation: 'listGroups' },
  { method: 'GET', path: '/v1/groups/{group}', function: 'groups', operation: 'describeGroup' },
  { method: 'DELETE', path: '/v1/groups/{group}', function: 'groups', operation: 'deleteGroup' },
  { method: 'POST', path: '/v1/groups/{group}/heartbeat', function: 'groups', operation: 'heartbeat' },
  { method: 'POST', path: '/v1/groups/{group}/offsets', function: 'groups', operation: 'commitOffsets' },
  { method: 'GET', path: '/v1/groups/{group}/offsets', function: 'groups', operation: 'fetchOffsets' },
  { method: 'DELETE', path: '/v1/groups/{group}/offsets', function: 'groups', operation: 'deleteOffsets' },
  { method: 'POST', path: '/v1/groups/{group}/offsets/reset', function: 'groups', operation: 'resetOffsets' },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];
export type OperationOf<F extends FunctionName> = Extract<Route, { function: F }>['operation'];

/** API Gateway's route key, e.g. `GET /v1/topics/{topic}`. */
export function routeKey(route: RouteSpec): string {
  return `${route.method} ${route.path}`;
}

export type RouteMatch =
  | { kind: 'matched'; route: Route; pathParameters: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: HttpMethod[] }
  | { kind: 'not-found' };

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith('{') && w.endsWith('}')) {
      if (g === '') return undefined;
      // API Gateway hands handlers decoded path parameters.
      try {
        params[w.slice(1, -1)] = decodeURIComponent(g);
      } catch {
        return undefined;
      }
    } else if (w !== g) {
      return undefined;
    }
  }
  return params;
}

/** Matches a request the way API Gateway does, for the local server. */
export function matchRoute(method: string, path: string, routes: readonly Route[] = ROUTES): RouteMatch {
  const allowed: HttpMethod[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (params === undefined) continue;
    if (route.method === method) return { kind: 'matched', route, pathParameters: params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
}
