// One instance of one Lambda function, in a worker thread of its own: the handler module is
// imported fresh here, so its module state (storage clients, caches, known heads) belongs to
// this instance alone, as it would in a Lambda execution environment. Plain JavaScript so it
// loads before the TypeScript loader is registered for this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { handler } = await import(workerData.module);
if (typeof handler !== 'function') throw new Error(`${workerData.module} exports no handler`);

// Invocations arrive as { id, payload }; each is answered once, by id. Several may be in
// flight at once (Lambda would give each its own instance; see local/instances.ts).
parentPort.on('message', async ({ id, payload }) => {
  try {
    parentPort.postMessage({ id, ok: true, result: await handler(payload) });
  } catch (error) {
    parentPort.postMessage({ id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
});
parentPort.postMessage({ ready: true });
