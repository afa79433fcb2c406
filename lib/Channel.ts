import { EventEmitter } from 'node:events';
import { InvalidStateError } from './errors';
import { Logger } from './Logger';
import { binding, callNative, unwrap, type NativeWorkerHandle } from './native';

const logger = new Logger('Channel');

/** One event from the worker thread, addressed to the object `targetId`. */
export type NativeEvent = { targetId: string; event: string; data: any };

/**
 * The request/event pipe to one worker thread (mediasoup's Channel, minus
 * the subprocess). Requests resolve with the worker's answer; events are
 * delivered in batches and re-emitted per target id, where each TS object
 * (`Router`, `Transport`, ...) listens for its own.
 */
export class Channel extends EventEmitter {
  readonly #native: NativeWorkerHandle;
  #closed = false;

  constructor(settings: object) {
    super();
    this.setMaxListeners(Infinity);
    this.#native = callNative(
      () => new binding.NativeWorker(JSON.stringify(settings), (batch) => this.#onBatch(batch)),
    );
  }

  get pid(): number {
    return this.#native.pid;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async request(method: string, handlerId = '', data: unknown = {}): Promise<any> {
    if (this.#closed) {
      throw new InvalidStateError(`Channel closed, cannot send request [method:${method}]`);
    }
    const answer = await this.#native.request(method, handlerId, JSON.stringify(data ?? {}));
    return unwrap(answer);
  }

  /** Stops the worker thread; pending requests reject with InvalidStateError. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#native.close();
  }

  #onBatch(batch: string): void {
    let events: NativeEvent[];
    try {
      events = JSON.parse(batch);
    } catch (error) {
      logger.error(`invalid event batch from the worker: ${String(error)}`);
      return;
    }
    for (const { targetId, event, data } of events) {
      // A throwing user listener must not stop the rest of the batch.
      try {
        this.emit(targetId, event, data);
      } catch (error) {
        logger.error(`event listener threw [event:${event}]: ${String(error)}`, error as Error);
      }
    }
  }
}
