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
  /** Routers (calls) one worker may carry; beyond it the pool reports no capacity. */
  maxRoutersPerWorker?: number;
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
  calls: Set<string>;
}

export function resolveNumWorkers(option?: number, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env.MEDIASOUP_NUM_WORKERS?.trim() ? Number(env.MEDIASOUP_NUM_WORKERS) : undefined;
  const value = option ?? fromEnv ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`numWorkers / MEDIASOUP_NUM_WORKERS must be an integer >= 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * N media workers and the routers of the calls they carry. One router per
 * call, placed on the least-loaded worker; a worker that dies is replaced and
 * the calls it carried are reported so their owner can move them.
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
  private readonly routers = new Map<string, { router: MediaRouter; entry: PoolEntry }>();
  private starting?: Promise<void>;
  private closed = false;

  constructor(options: MediaServerPoolOptions = {}) {
    super();
    this.numWorkers = resolveNumWorkers(options.numWorkers);
    this.createWorker = options.createWorker ?? defaultWorkerFactory;
    this.workerSettings = options.workerSettings;
    this.mediaCodecs = options.mediaCodecs ?? DEFAULT_MEDIA_CODECS;
    this.maxRoutersPerWorker = options.maxRoutersPerWorker ?? Infinity;
  }

  /** Workers alive now, and how many calls each carries. */
  get load(): { pid: number; calls: number }[] {
    return this.entries.map((e) => ({ pid: e.worker.pid, calls: e.calls.size }));
  }

  routerOf(callId: string): MediaRouter | undefined {
    return this.routers.get(callId)?.router;
  }

  /** The call's router, created on the least-loaded worker if it has none. */
  async acquireRouter(callId: string): Promise<MediaRouter> {
    const existing = this.routers.get(callId);
    if (existing && !existing.router.closed) return existing.router;
    if (this.closed) throw new MediaCapacityError('media-server pool is closed');
    await this.start();
    // Fill up missing workers (earlier replacements may have failed).
    await this.replenish();
    const entry = this.entries
      .filter((e) => !e.worker.closed && e.calls.size < this.maxRoutersPerWorker)
      .sort((a, b) => a.calls.size - b.calls.size)[0];
    if (!entry) throw new MediaCapacityError();
    // Reserve the slot before awaiting, so concurrent acquisitions spread out.
    entry.calls.add(callId);
    try {
      const router = await entry.worker.createRouter({ mediaCodecs: this.mediaCodecs });
      const raced = this.routers.get(callId);
      if (raced && !raced.router.closed) {
        router.close();
        return raced.router;
      }
      this.routers.set(callId, { router, entry });
      return router;
    } catch (error) {
      entry.calls.delete(callId);
      throw new MediaCapacityError(`could not create a router: ${(error as Error).message}`);
    }
  }

  releaseRouter(callId: string): void {
    const held = this.routers.get(callId);
    if (!held) return;
    this.routers.delete(callId);
    held.entry.calls.delete(callId);
    if (!held.router.closed) held.router.close();
  }

  async start(): Promise<void> {
    this.starting ??= this.replenish();
    return this.starting;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
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
    const entry: PoolEntry = { worker, calls: new Set() };
    this.entries.push(entry);
    worker.on('died', (error) => void this.onWorkerDied(entry, error));
  }

  private async onWorkerDied(entry: PoolEntry, error: Error): Promise<void> {
    const index = this.entries.indexOf(entry);
    if (index === -1) return;
    this.entries.splice(index, 1);
    const lost = [...entry.calls];
    for (const callId of lost) this.routers.delete(callId);
    this.safeEmit('workerdied', entry.worker.pid, error);
    if (this.closed) return;
    await this.spawn();
    if (lost.length > 0) this.safeEmit('routerslost', lost, error);
  }
}
