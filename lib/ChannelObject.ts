import type { Channel } from './Channel';
import { EnhancedEventEmitter, type Events } from './enhancedEvents';
import type { AppData } from './indexTypes';

/** A worker's `trace` event as mediasoup gives it: `info` always a key, undefined for the types that have none (`nack`). */
export function traceEventData<T extends { info?: unknown }>(data: unknown): T {
  const trace = data as T;
  return { ...trace, info: trace.info };
}

/**
 * What every object living in a worker shares (a producer, a consumer, ...):
 * its id (the handler id of its requests and the target of its events), the
 * worker's channel, `closed`, `appData` and the `observer` emitter.
 * `markClosed()` makes closing happen once, whichever way it comes (its own
 * close(), or its transport/router/worker closing under it).
 */
export abstract class ChannelObject<
  E extends Events,
  O extends Events,
  A extends AppData,
> extends EnhancedEventEmitter<E> {
  readonly #id: string;
  readonly #channel: Channel;
  #closed = false;
  #appData: A;
  readonly #observer = new EnhancedEventEmitter<O>();

  protected constructor(id: string, channel: Channel, appData: A) {
    super();
    this.#id = id;
    this.#channel = channel;
    this.#appData = appData;
  }

  get id(): string {
    return this.#id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get appData(): A {
    return this.#appData;
  }

  set appData(appData: A) {
    this.#appData = appData;
  }

  get observer(): EnhancedEventEmitter<O> {
    return this.#observer;
  }

  /** @internal */
  get channelForTesting(): Channel {
    return this.#channel;
  }

  protected get channel(): Channel {
    return this.#channel;
  }

  /** Closes once: false when already closed. Stops the worker's events for it. */
  protected markClosed(): boolean {
    if (this.#closed) {
      return false;
    }
    this.#closed = true;
    this.#channel.removeAllListeners(this.#id);
    return true;
  }
}

/**
 * A producer or a consumer: owned by a transport, closed by itself or with
 * its transport. Their close semantics are the same, only the request
 * (`producer.close` / `consumer.close`) differs.
 */
export abstract class TransportChild<
  E extends Events,
  O extends Events,
  A extends AppData,
> extends ChannelObject<E, O, A> {
  /** 'producer' or 'consumer': the prefix of this object's requests. */
  protected abstract readonly requestPrefix: string;

  close(): void {
    if (!this.markClosed()) {
      return;
    }
    // The worker does the rest (a producer's consumers hear 'producerclose'
    // from it); nothing to wait for, and nothing to do if it is gone.
    this.channel.request(`${this.requestPrefix}.close`, this.id).catch(() => undefined);
    // Both event maps have these events; the generic E cannot say so.
    (this as EnhancedEventEmitter<Events>).emit('@close');
    (this.observer as EnhancedEventEmitter<Events>).safeEmit('close');
  }

  /** @internal The transport closed: the worker already dropped this object. */
  transportClosed(): void {
    if (!this.markClosed()) {
      return;
    }
    (this as EnhancedEventEmitter<Events>).safeEmit('transportclose');
    (this.observer as EnhancedEventEmitter<Events>).safeEmit('close');
  }
}

/**
 * A router or a WebRtcServer: owned by a worker, closed by itself (one
 * request, `closeRequest`) or with its worker (no request: the worker's
 * state is gone), closing what it holds either way.
 */
export abstract class WorkerChild<
  E extends Events,
  O extends Events,
  A extends AppData,
> extends ChannelObject<E, O, A> {
  /** The worker request that closes it, with its id as the handler id. */
  protected abstract readonly closeRequest: string;

  /** Closes what it holds (transports): the worker dropped them with it. */
  protected abstract closeHeld(): void;

  close(): void {
    if (!this.markClosed()) {
      return;
    }
    this.channel.request(this.closeRequest, this.id).catch(() => {
      // the worker may be gone already; the object is closed either way
    });
    this.closeHeld();
    // Both event maps have these events; the generic E cannot say so.
    (this as EnhancedEventEmitter<Events>).emit('@close');
    (this.observer as EnhancedEventEmitter<Events>).safeEmit('close');
  }

  /** @internal The worker closed: close without talking to it. */
  workerClosed(): void {
    if (!this.markClosed()) {
      return;
    }
    this.closeHeld();
    (this as EnhancedEventEmitter<Events>).safeEmit('workerclose');
    (this.observer as EnhancedEventEmitter<Events>).safeEmit('close');
  }
}
