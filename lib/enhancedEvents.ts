import { EventEmitter } from 'node:events';

/** Event name → tuple of listener arguments. */
export type Events = Record<string, any[]>;

/**
 * A typed EventEmitter, shaped like mediasoup's: `emit`, `on`, `once`, `off`
 * checked against an event map, plus `safeEmit` that never lets a listener's
 * exception escape into the code that fired the event (the worker's event
 * dispatch must survive a throwing user handler).
 */
export class EnhancedEventEmitter<E extends Events = Events> extends EventEmitter {
  constructor() {
    super();
    this.setMaxListeners(Infinity);
  }

  override emit<K extends keyof E & string>(eventName: K, ...args: E[K]): boolean {
    return super.emit(eventName, ...args);
  }

  /** Emits and swallows (but reports) listener errors. */
  safeEmit<K extends keyof E & string>(eventName: K, ...args: E[K]): boolean {
    try {
      return super.emit(eventName, ...args);
    } catch (error) {
      try {
        super.emit('listenererror', eventName, error);
      } catch {
        // nothing more we can do
      }
      return Boolean(this.listenerCount(eventName));
    }
  }

  override on<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    super.on(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override off<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    super.off(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override addListener<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    super.on(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override prependListener<K extends keyof E & string>(
    eventName: K,
    listener: (...args: E[K]) => void,
  ): this {
    super.prependListener(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override once<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    super.once(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override prependOnceListener<K extends keyof E & string>(
    eventName: K,
    listener: (...args: E[K]) => void,
  ): this {
    super.prependOnceListener(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override removeListener<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    super.removeListener(eventName, listener as (...args: any[]) => void);
    return this;
  }

  override removeAllListeners<K extends keyof E & string>(eventName?: K): this {
    super.removeAllListeners(eventName);
    return this;
  }

  override listenerCount<K extends keyof E & string>(eventName: K): number {
    return super.listenerCount(eventName);
  }

  override listeners<K extends keyof E & string>(eventName: K): ((...args: any[]) => void)[] {
    return super.listeners(eventName) as ((...args: any[]) => void)[];
  }

  override rawListeners<K extends keyof E & string>(eventName: K): ((...args: any[]) => void)[] {
    return super.rawListeners(eventName) as ((...args: any[]) => void)[];
  }
}
