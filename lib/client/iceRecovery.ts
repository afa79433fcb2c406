/**
 * ICE restarts for one SFU transport while its connection is lost (a network
 * change, an outage): at once when it `failed`, after `firstDelayMs` (at
 * least 0.5 s) when it is `disconnected` (a short blip comes back by
 * itself), then again while it does not connect, each wait twice the one
 * before, up to 30 s, however often it fails meanwhile. One restart
 * at a time: each gives the server's side new credentials and voids the
 * previous ones, so a second one would cut the first short. A connection
 * that comes back, by itself or through a restart, ends it.
 */

/** The longest wait between two restarts of a transport that stays lost. */
const MAX_INTERVAL_MS = 30_000;
/** Restarts without a connection before the client is told (`error`); they go on. */
const ATTEMPTS_BEFORE_REPORT = 5;
/** The shortest first wait: a smaller option would make restarts a busy loop. */
const MIN_FIRST_DELAY_MS = 500;

export interface IceRecoveryOptions {
  /** Asks the server for new credentials and restarts ICE with them; false if there was nothing left to restart. */
  restart(): Promise<boolean>;
  /** The transport's connection state now. */
  state(): string;
  /** A restart went through. */
  restarted(): void;
  /** Something the application should hear of: still no connection, or the server lost the transport. */
  report(error: Error): void;
  firstDelayMs?: number;
}

export class IceRecovery {
  private readonly firstDelayMs: number;
  private delayMs: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight = false;
  private attempts = 0;
  private stopped = false;

  constructor(private readonly options: IceRecoveryOptions) {
    this.firstDelayMs = Math.max(options.firstDelayMs ?? 2_000, MIN_FIRST_DELAY_MS);
    this.delayMs = this.firstDelayMs;
  }

  /** The transport's `connectionstatechange`. */
  onState(state: string): void {
    if (this.stopped) return;
    if (state === 'closed') {
      this.stop();
    } else if (state === 'connected') {
      this.settle();
    } else if (state === 'failed' && this.attempts === 0 && !this.inFlight) {
      // At once, the first time; later failures wait for the backoff.
      this.clearTimer();
      this.run();
    } else if ((state === 'disconnected' || state === 'failed') && !this.timer && !this.inFlight) {
      this.schedule();
    }
    // `new` and `connecting` (a restart under way): what is pending stays.
  }

  /** A restart waiting for its backoff runs now (the signaling is back: it can be asked for). */
  retryNow(): void {
    if (this.stopped || this.inFlight || !this.timer) return;
    this.clearTimer();
    this.delayMs = this.firstDelayMs;
    this.run();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private settle(): void {
    this.clearTimer();
    this.delayMs = this.firstDelayMs;
    this.attempts = 0;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, this.delayMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private run(): void {
    if (this.stopped || this.inFlight) return;
    if (this.options.state() === 'connected') {
      this.settle();
      return;
    }
    this.inFlight = true;
    this.attempts += 1;
    this.options
      .restart()
      .then(
        (restarted) => {
          if (restarted && !this.stopped) this.options.restarted();
        },
        (error: Error & { code?: string }) => {
          // The server no longer has the transport: no restart can help.
          if (error.code === 'MEDIA_OBJECT_NOT_FOUND') {
            this.stop();
            this.options.report(error);
          }
          // Otherwise (the signaling may be down too) the next attempt retries.
        },
      )
      .finally(() => {
        this.inFlight = false;
        if (this.stopped || this.options.state() === 'connected') return;
        if (this.attempts === ATTEMPTS_BEFORE_REPORT) {
          this.options.report(new Error(`no connection after ${this.attempts} ICE restarts; still trying`));
        }
        this.delayMs = Math.min(this.delayMs * 2, MAX_INTERVAL_MS);
        this.schedule();
      });
  }
}
