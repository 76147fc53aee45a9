/**
 * What `connect()` does on a producer, a consumer or an admin client. Sluice speaks HTTP, so
 * there is no connection to hold; connect() makes one cheap request (GET /v1/health) so a
 * wrong URL, a stopped local stack, DNS, TLS or auth fails here, named, rather than at the
 * first send or fetch.
 */
import { pathOf, type Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';

/** Resolves once the API answers its health check; rejects with the SluiceError that says why not. */
export async function checkConnection(transport: Transport, retry: ResolvedRetryOptions): Promise<void> {
  await transport.json<unknown>({ method: 'GET', path: pathOf('v1', 'health') }, retry);
}
