/**
 * A tiny typed event emitter for the browser (Node's `events` is not there,
 * and a UI wants `on('modechange', ...)` rather than DOM `CustomEvent`s).
 * A throwing listener is reported and never stops the others: one broken UI
 * callback must not stall a mode switch.
 */
export type EventMap = Record<string, unknown[]>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

export class Emitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener>>();

  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener);
    return this;
  }

  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): this {
    this.#listeners.get(event)?.delete(listener as Listener);
    return this;
  }

  once<K extends keyof E>(event: K, listener: (...args: E[K]) => void): this {
    const wrapper = (...args: E[K]): void => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        console.error(`opencall: a '${String(event)}' listener threw`, error);
      }
    }
  }
}
