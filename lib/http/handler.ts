import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { SluiceError } from '../errors.ts';
import { log } from '../observability/logger.ts';
import { drainTallied, publishMetrics } from '../observability/metrics.ts';
import { requestMetrics } from '../observability/request-metrics.ts';
import { sharedStorage, type Storage } from '../storage/clients.ts';
import { requestFromEvent, type HttpRequest } from './request.ts';
import { errorResponse, render, type HttpResponse } from './response.ts';
import { ROUTES, routeKey, type FunctionName, type OperationOf } from './routes.ts';

/** One route's implementation: request in, response out; errors are thrown as SluiceErrors. */
export type Operation = (request: HttpRequest, storage: Storage) => Promise<HttpResponse>;

export type LambdaHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * Builds a Lambda handler serving `fn`'s routes. The operations map is typed by the route
 * table, so a route without an implementation (or the reverse) fails to compile.
 */
export function createHandler<F extends FunctionName>(fn: F, operations: Record<OperationOf<F>, Operation>, storage: () => Storage = sharedStorage): LambdaHandler {
  const byKey = new Map<string, { name: string; operation: Operation }>();
  for (const route of ROUTES) {
    if (route.function === fn) byKey.set(routeKey(route), { name: route.operation, operation: operations[route.operation as OperationOf<F>] });
  }
  return async (event) => {
    const startedAtMs = Date.now();
    const logger = log();
    logger.resetKeys();
    logger.appendKeys({ requestId: event.requestContext.requestId, routeKey: event.routeKey });
    const route = byKey.get(event.routeKey);
    let request: HttpRequest | undefined;
    let response: HttpResponse;
    try {
      if (route === undefined) throw new SluiceError('NOT_FOUND', `No route ${event.routeKey} in the ${fn} function`);
      request = requestFromEvent(event);
      response = await route.operation(request, storage());
    } catch (error) {
      response = errorResponse(error, (entry) => logger.error(String(entry.message), entry));
    }
    if (route !== undefined && request !== undefined) publishMetrics([...requestMetrics(route.name, request, response, Date.now() - startedAtMs), ...drainTallied()]);
    else if (response.status === 429) publishMetrics([{ name: 'Throttled', value: 1 }]);
    return render(response);
  };
}
