/**
 * Isolated instances of one Lambda function for the local stack (SLUICE_INSTANCES=N).
 *
 * On AWS each function runs as many execution environments, each with its own module state:
 * the storage clients, the sequencer's known heads, the segment cache, the groups' topic
 * cache. Here each instance is a worker thread that imports the handler module fresh
 * (local/instance-worker.mjs), so a cache that goes stale across instances shows locally.
 *
 * Mapping to Lambda, and what is not modelled:
 *  - An instance starts on the first invocation routed to it (a cold start's module
 *    loading, not its latency or its sandbox), and lives until the stack stops: no
 *    freezing between invocations, no recycling after idle time.
 *  - Invocations go round-robin over a fixed count, never more: no scale-out, no
 *    concurrency limit or throttling. An instance may serve several invocations at once,
 *    which Lambda never does; it only interleaves more of its own state.
 *  - An instance that crashes is replaced by a fresh one on the next invocation, as Lambda
 *    replaces a failed environment; the invocations it had in flight fail.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { SluiceError } from '../lib/errors.ts';

/** A Lambda function's entry point, as the local server calls it. */
export type Invoke = (payload: unknown, instance?: number) => Promise<unknown>;

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

interface Instance {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly pending: Map<number, Pending>;
}

type Reply = { ready: true } | { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

const WORKER = fileURLToPath(new URL('./instance-worker.mjs', import.meta.url));

export class FunctionInstances {
  private readonly instances: Array<Instance | undefined>;
  private next = 0;
  private closed = false;
  private nextId = 0;

  /**
   * @param name the function's name, for messages
   * @param modulePath absolute path of the handler module (exports `handler`)
   * @param count how many instances (at least 1)
   * @param env each instance's environment, copied when it starts (Lambda's function configuration)
   */
  constructor(
    readonly name: string,
    private readonly modulePath: string,
    readonly count: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`${name}: instance count must be a positive integer, got ${count}`);
    this.instances = Array.from({ length: count }, () => undefined);
  }

  /** Invokes the handler on instance `pin` if given, else on the next one in turn. */
  readonly invoke: Invoke = async (payload, pin) => {
    if (this.closed) throw new Error(`${this.name} is stopped`);
    if (pin !== undefined && (!Number.isInteger(pin) || pin < 0 || pin >= this.count)) {
      throw new SluiceError('INVALID_REQUEST', `The ${this.name} function has instances 0..${this.count - 1}; there is no instance ${pin}`);
    }
    const index = pin ?? this.next++ % this.count;
    let instance = this.instanceAt(index);
    await instance.ready;
    // It may have crashed meanwhile: then a fresh one takes the invocation.
    for (; this.instances[index] !== instance; await instance.ready) instance = this.instanceAt(index);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      instance.pending.set(id, { resolve, reject });
      instance.worker.postMessage({ id, payload });
    });
  };

  /** Starts every instance now rather than on its first invocation. */
  async warm(): Promise<void> {
    await Promise.all(this.instances.map((_, i) => this.instanceAt(i).ready));
  }

  /** Stops every instance, cutting off whatever is in flight. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.instances.map((instance) => instance?.worker.terminate()));
  }

  private instanceAt(index: number): Instance {
    const existing = this.instances[index];
    if (existing !== undefined) return existing;
    const worker = new Worker(WORKER, { workerData: { module: this.modulePath }, env: { ...this.env }, execArgv: [] });
    const pending = new Map<number, Pending>();
    let markReady: () => void = () => undefined;
    let failStart: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    // Awaited by every invocation; this only keeps a start cut off by close() from counting as unhandled.
    ready.catch(() => undefined);
    const instance: Instance = { worker, ready, pending };
    this.instances[index] = instance;
    worker.on('message', (reply: Reply) => {
      if ('ready' in reply) return markReady();
      const waiter = pending.get(reply.id);
      pending.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.result);
      else waiter?.reject(new Error(`${this.name}[${index}]: ${reply.error}`));
    });
    const fail = (error: Error) => {
      if (!this.closed && this.instances[index] === instance) console.error(JSON.stringify({ level: 'ERROR', message: error.message, stack: error.stack }));
      // The next invocation routed here starts a fresh instance.
      if (this.instances[index] === instance) this.instances[index] = undefined;
      failStart(error);
      for (const waiter of pending.values()) waiter.reject(error);
      pending.clear();
    };
    worker.on('error', (error) => fail(Object.assign(new Error(`${this.name}[${index}] crashed: ${error.message}`), { stack: error.stack })));
    worker.on('exit', (code) => fail(new Error(`${this.name}[${index}] exited with code ${code}`)));
    return instance;
  }
}
