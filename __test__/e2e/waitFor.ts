// Polling with a deadline: the e2e tests wait on media figures that arrive
// asynchronously (ICE, DTLS, first keyframe), never on fixed sleeps.

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Poll period (default 100 ms). */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
  /** Called on timeout; its result goes into the error (e.g. the stats that stayed at zero). */
  diagnose?: () => Promise<unknown> | unknown;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `probe` until it returns something other than undefined/null/false and
 * returns that. On timeout, throws with what `diagnose` says about the state.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() >= deadline) {
      const state = opts.diagnose ? `: ${JSON.stringify(await opts.diagnose())}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${state}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
