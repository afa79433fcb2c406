import debug from 'debug';

/** What `setLogEventListeners()` takes, as in mediasoup. */
export type LogEventListeners = {
  ondebug?: (namespace: string, log: string) => void;
  onwarn?: (namespace: string, log: string) => void;
  onerror?: (namespace: string, log: string, error?: Error) => void;
};

const APP_NAME = 'opencall';

let listeners: LogEventListeners | undefined;

export function setLogEventListeners(eventListeners?: LogEventListeners): void {
  listeners = eventListeners;
}

/**
 * A named logger printing through the `debug` package under
 * `opencall:<prefix>`, `opencall:WARN:<prefix>` and `opencall:ERROR:<prefix>`
 * (enable with `DEBUG=opencall:*`), and forwarding every line to the
 * listeners given to `setLogEventListeners()`.
 */
export class Logger {
  readonly #debug: debug.Debugger;
  readonly #warn: debug.Debugger;
  readonly #error: debug.Debugger;

  constructor(prefix?: string) {
    const suffix = prefix ? `:${prefix}` : '';
    this.#debug = debug(`${APP_NAME}${suffix}`);
    this.#warn = debug(`${APP_NAME}:WARN${suffix}`);
    this.#error = debug(`${APP_NAME}:ERROR${suffix}`);
    this.#debug.log = console.info.bind(console);
    this.#warn.log = console.warn.bind(console);
    this.#error.log = console.error.bind(console);
  }

  debug(log: string): void {
    listeners?.ondebug?.(this.#debug.namespace, log);
    this.#debug(log);
  }

  warn(log: string): void {
    listeners?.onwarn?.(this.#warn.namespace, log);
    this.#warn(log);
  }

  error(log: string, error?: Error): void {
    listeners?.onerror?.(this.#error.namespace, log, error);
    this.#error(log, error ?? '');
  }
}
