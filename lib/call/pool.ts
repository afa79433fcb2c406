import * as os from 'node:os';
import { EnhancedEventEmitter } from '../enhancedEvents';
import { MediaCapacityError } from './errors';
import {
  DEFAULT_MEDIA_CODECS,
  defaultWorkerFactory,
  type MediaRouter,
  type MediaWorker,
  type MediaWorkerFactory,
  type Params,
} from './media';

export interface MediaServerPoolOptions {
  /** Number of workers; default `MEDIASOUP_NUM_WORKERS`, else one per core. */
  numWorkers?: number;
  /** How workers are created; default opencall's `createWorker`. */
  createWorker?: MediaWorkerFactory;
  /** Passed to every `createWorker` call (log level, port range, ...). */
  workerSettings?: Params;
  /** Codecs of every call's router. */
  mediaCodecs?: Params[];
  /** Routers one worker may carry; beyond it the pool reports no capacity. */
  maxRoutersPerWorker?: number;
  /**
   * How often each worker's CPU use is read (ms; 0: never). A new router
   * goes to the least busy worker, and among workers within a tenth of a
   * core of each other, to the one with the fewest calls. Default 2000.
   */
  loadSampleIntervalMs?: number;
}

export type MediaServerPoolEvents = {
  /**
   * A worker died; these calls lost their router. Emitted after a replacement
   * was attempted, so a listener can immediately ask for a new router.
   */
  routerslost: [callIds: string[], error: Error];
  workerdied: [pid: number, error: Error];
  /** Creating a worker (initially or as a replacement) failed. */
  workererror: [error: Error];
};

interface PoolEntry {
  worker: MediaWorker;
  /**
   * Per call, its routers on this worker, held or being created: counted,
   * so that one ending never drops another's reservation.
   */
  calls: Map<string, number>;
  /** Its CPU use at the last reading, and when (ms). */
  cpu?: { usedMs: number; at: number };
  /** Cores it used between the last two readings. */
  load: number;
}

/** Loads closer than this (cores) count as equal: calls decide between them. */
const LOAD_RESOLUTION = 0.1;

interface HeldRouter {
  router: MediaRouter;
  entry: PoolEntry;
}

/** An integer setting >= 1: the option, else the environment variable, else the fallback. */
function positiveIntegerSetting(
  option: number | undefined,
  envName: string,
  optionName: string,
  fallback: () => number,
  env: NodeJS.ProcessEnv,
): number {
  const fromEnv = env[envName]?.trim() ? Number(env[envName]) : undefined;
  const value = option ?? fromEnv ?? fallback();
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`${optionName} / ${envName} must be an integer >= 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function resolveNumWorkers(option?: number, env: NodeJS.ProcessEnv = process.env): number {
  return positiveIntegerSetting(option, 'MEDIASOUP_NUM_WORKERS', 'numWorkers', () =>
    Math.max(1, os.availableParallelism?.() ?? os.cpus().length), env);
}

/**
 * Participants one router carries before a call spreads to another worker.
 * At 12 an all-to-all call sends 132 video and 132 audio streams from one
 * worker, well within one core; 25 would be about a whole core here (see
 * the benchmarks).
 */
export const DEFAULT_MAX_PARTICIPANTS_PER_ROUTER = 12;

export function resolveMaxParticipantsPerRouter(option?: number, env: NodeJS.ProcessEnv = process.env): number {
  return positiveIntegerSetting(
    option,
    'MAX_PARTICIPANTS_PER_ROUTER',
    'maxParticipantsPerRouter',
    () => DEFAULT_MAX_PARTICIPANTS_PER_ROUTER,
    env,
  );
}

/**
 * N media workers and the routers of the calls they carry. A call has its
 * home router on the least-loaded worker and, when it grows beyond what one
 * router should carry, further routers on workers it does not use yet (at
 * most one per worker: more on one worker would share its thread and gain
 * nothing). A worker that dies is replaced and the calls it carried are
 * reported so their owner can move them.
 *
 * Workers start lazily: a gateway whose calls all stay P2P never spawns one.
 */
export class MediaServerPool extends EnhancedEventEmitter<MediaServerPoolEvents> {
  readonly numWorkers: number;
  private readonly createWorker: MediaWorkerFactory;
  private readonly workerSettings?: Params;
  private readonly mediaCodecs: Params[];
  private readonly maxRoutersPerWorker: number;
  private readonly entries: PoolEntry[] = [];
  /** Per call, its routers; the first is the home router. */
  private readonly routers = new Map<string, HeldRouter[]>();
  private starting?: Promise<void>;
  private closed = false;
  private readonly loadSampleIntervalMs: number;
  private sampler?: NodeJS.Timeout;

  constructor(options: MediaServerPoolOptions = {}) {
    super();
    this.numWorkers = resolveNumWorkers(options.numWorkers);
    this.createWorker = options.createWorker ?? defaultWorkerFactory;
    this.workerSettings = options.workerSettings;
    this.mediaCodecs = options.mediaCodecs ?? DEFAULT_MEDIA_CODECS;
    this.maxRoutersPerWorker = options.maxRoutersPerWorker ?? Infinity;
    this.loadSampleIntervalMs = options.loadSampleIntervalMs ?? 2000;
  }

  /** Workers alive now, how many calls each carries, and its CPU use (cores). */
  get load(): { pid: number; calls: number; cpu: number }[] {
    return this.entries.map((e) => ({ pid: e.worker.pid, calls: e.calls.size, cpu: e.load }));
  }

  /**
   * Reads every worker's CPU use now (also done every
   * `loadSampleIntervalMs`); a worker that cannot say counts as idle.
   */
  async sampleLoads(): Promise<void> {
    await Promise.all(
      this.entries.map(async (entry) => {
        if (!entry.worker.getResourceUsage || entry.worker.closed) return;
        try {
          const usage = await entry.worker.getResourceUsage();
          const usedMs = usage.ru_utime + usage.ru_stime;
          const at = performance.now();
          if (entry.cpu && at > entry.cpu.at) {
            entry.load = Math.max(0, usedMs - entry.cpu.usedMs) / (at - entry.cpu.at);
          }
          entry.cpu = { usedMs, at };
        } catch {
          // Closing or dying: its replacement gets read next time.
        }
      }),
    );
  }

  /** The call's home router. */
  routerOf(callId: string): MediaRouter | undefined {
    return this.routers.get(callId)?.[0]?.router;
  }


  /** The call's home router, created on the least-loaded worker if it has none. */
  async acquireRouter(callId: string): Promise<MediaRouter> {
    const home = this.routerOf(callId);
    if (home && !home.closed) return home;
    // A closed home router takes the call's other routers with it.
    if (home) this.releaseRouter(callId);
    const held = await this.createRouterFor(callId, () => true);
    if (!held) throw new MediaCapacityError();
    const raced = this.routerOf(callId);
    if (raced && !raced.closed) {
      this.drop(held, callId);
      return raced;
    }
    if (raced) this.releaseRouter(callId);
    this.routers.set(callId, [held]);
    return held.router;
  }

  /**
   * A further router for the call whose home router is `home`, on the
   * least-loaded worker that carries none of the call's routers yet;
   * undefined when every worker already does or has no room, or when `home`
   * is no longer the call's home router (a session that ended asking).
   */
  async addRouter(callId: string, home: MediaRouter): Promise<MediaRouter | undefined> {
    const held = this.routers.get(callId);
    if (!held || held[0]?.router !== home) return undefined;
    const added = await this.createRouterFor(callId, (entry) => !entry.calls.has(callId));
    if (!added) return undefined;
    // The call may have been released (or its home router lost) meanwhile.
    if (this.routers.get(callId) !== held || home.closed) {
      this.drop(added, callId);
      return undefined;
    }
    held.push(added);
    return added.router;
  }

  /** Closes one of the call's further routers (never the home router: see releaseRouter). */
  releaseExtraRouter(callId: string, router: MediaRouter): void {
    const held = this.routers.get(callId);
    const index = held?.findIndex((h) => h.router === router) ?? -1;
    if (!held || index < 1) return;
    const [removed] = held.splice(index, 1);
    this.drop(removed, callId);
  }

  /** Closes every router of the call. */
  releaseRouter(callId: string): void {
    const held = this.routers.get(callId);
    if (!held) return;
    this.routers.delete(callId);
    for (const h of held) this.drop(h, callId);
  }

  async start(): Promise<void> {
    this.starting ??= this.replenish();
    return this.starting;
  }

  private async createRouterFor(callId: string, eligible: (entry: PoolEntry) => boolean): Promise<HeldRouter | undefined> {
    if (this.closed) throw new MediaCapacityError('media-server pool is closed');
    await this.start();
    // Fill up missing workers (earlier replacements may have failed).
    await this.replenish();
    const busy = (e: PoolEntry) => Math.floor(e.load / LOAD_RESOLUTION);
    const entry = this.entries
      .filter((e) => !e.worker.closed && e.calls.size < this.maxRoutersPerWorker && eligible(e))
      .sort((a, b) => busy(a) - busy(b) || a.calls.size - b.calls.size)[0];
    if (!entry) return undefined;
    // Reserve the slot before awaiting, so concurrent acquisitions spread out.
    entry.calls.set(callId, (entry.calls.get(callId) ?? 0) + 1);
    try {
      return { router: await entry.worker.createRouter({ mediaCodecs: this.mediaCodecs }), entry };
    } catch (error) {
      this.unreserve(entry, callId);
      throw new MediaCapacityError(`could not create a router: ${(error as Error).message}`);
    }
  }

  private unreserve(entry: PoolEntry, callId: string): void {
    const count = (entry.calls.get(callId) ?? 0) - 1;
    if (count > 0) entry.calls.set(callId, count);
    else entry.calls.delete(callId);
  }

  private drop(held: HeldRouter, callId: string): void {
    this.unreserve(held.entry, callId);
    if (!held.router.closed) held.router.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sampler);
    for (const callId of [...this.routers.keys()]) this.releaseRouter(callId);
    for (const entry of this.entries.splice(0)) entry.worker.close();
  }

  private async replenish(): Promise<void> {
    const missing = this.numWorkers - this.entries.length;
    await Promise.all(Array.from({ length: Math.max(0, missing) }, () => this.spawn()));
  }

  private async spawn(): Promise<void> {
    let worker: MediaWorker;
    try {
      worker = await this.createWorker(this.workerSettings);
    } catch (error) {
      // Not fatal: the pool runs with fewer workers and retries on next use.
      this.safeEmit('workererror', error as Error);
      return;
    }
    if (this.closed) {
      worker.close();
      return;
    }
    const entry: PoolEntry = { worker, calls: new Map(), load: 0 };
    this.entries.push(entry);
    if (!this.sampler && this.loadSampleIntervalMs > 0) {
      this.sampler = setInterval(() => void this.sampleLoads(), this.loadSampleIntervalMs);
      // Never what keeps the process alive.
      this.sampler.unref();
    }
    worker.on('died', (error) => void this.onWorkerDied(entry, error));
  }

  private async onWorkerDied(entry: PoolEntry, error: Error): Promise<void> {
    const index = this.entries.indexOf(entry);
    if (index === -1) return;
    this.entries.splice(index, 1);
    // The calls with a router on it (not those still creating one: that
    // creation fails). A call loses all its routers with any one of them:
    // its media objects are rebuilt together, on routers that all exist.
    const lost = [...this.routers].filter(([, held]) => held.some((h) => h.entry === entry)).map(([callId]) => callId);
    for (const callId of lost) {
      const held = this.routers.get(callId) ?? [];
      this.routers.delete(callId);
      for (const h of held) this.drop(h, callId);
    }
    this.safeEmit('workerdied', entry.worker.pid, error);
    if (this.closed) return;
    await this.spawn();
    if (lost.length > 0) this.safeEmit('routerslost', lost, error);
  }
}
