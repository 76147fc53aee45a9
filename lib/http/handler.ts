import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { SluiceError } from '../errors.ts';
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
  const byKey = new Map<string, Operation>();
  for (const route of ROUTES) {
    if (route.function === fn) byKey.set(routeKey(route), operations[route.operation as OperationOf<F>]);
  }
  return async (event) => {
    try {
      const operation = byKey.get(event.routeKey);
      if (operation === undefined) throw new SluiceError('NOT_FOUND', `No route ${event.routeKey} in the ${fn} function`);
      return render(await operation(requestFromEvent(event), storage()));
    } catch (error) {
      return render(errorResponse(error));
    }
  };
}
