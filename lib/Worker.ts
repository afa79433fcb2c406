import { randomUUID } from 'node:crypto';
import { Channel } from './Channel';
import { EnhancedEventEmitter } from './enhancedEvents';
import { InvalidStateError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import { RouterImpl } from './Router';
import { WebRtcServerImpl } from './WebRtcServer';
import { checkListenInfo } from './WebRtcTransport';
import type { Router, RouterOptions } from './RouterTypes';
import type { WebRtcServer, WebRtcServerOptions } from './WebRtcServerTypes';
import type {
  Worker,
  WorkerDump,
  WorkerEvents,
  WorkerObserver,
  WorkerObserverEvents,
  WorkerResourceUsage,
  WorkerSettings,
  WorkerUpdateableSettings,
} from './WorkerTypes';

const logger = new Logger('Worker');
const workerLogger = new Logger('Worker:native');

const LOG_LEVELS = ['debug', 'warn', 'error', 'none'];

export function assertAppData(appData: unknown): void {
  if (appData !== undefined && (appData === null || typeof appData !== 'object' || Array.isArray(appData))) {
    throw new TypeError('if given, appData must be an object');
  }
}

/** Validates createWorker() settings the way mediasoup does, before the thread starts. */
function validateSettings(settings: WorkerSettings<AppData>): void {
  const { logLevel, logTags, rtcMinPort, rtcMaxPort } = settings;
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    throw new TypeError(`invalid logLevel: ${String(logLevel)}`);
  }
  if (logTags !== undefined && (!Array.isArray(logTags) || logTags.some((t) => typeof t !== 'string'))) {
    throw new TypeError('logTags must be an array of strings');
  }
  for (const [name, port] of [
    ['rtcMinPort', rtcMinPort],
    ['rtcMaxPort', rtcMaxPort],
  ] as const) {
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new TypeError(`invalid ${name}: ${String(port)}`);
    }
  }
  if ((rtcMinPort ?? 10000) > (rtcMaxPort ?? 59999)) {
    throw new TypeError('rtcMinPort cannot be greater than rtcMaxPort');
  }
  assertAppData(settings.appData);
}

/**
 * A Worker: one native thread with its own event loop, owning its routers.
 * Where mediasoup spawns a subprocess, opencall spawns a thread, so `pid` is
 * the thread's OS id and 'subprocessclose' fires when that thread has ended.
 */
export class WorkerImpl<WorkerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<WorkerEvents>
  implements Worker<WorkerAppData>
{
  readonly #channel: Channel;
  readonly #pid: number;
  #closed = false;
  #died = false;
  #subprocessClosed = false;
  #appData: WorkerAppData;
  readonly #routers = new Set<RouterImpl>();
  readonly #webRtcServers = new Set<WebRtcServerImpl>();
  readonly #observer: WorkerObserver = new EnhancedEventEmitter<WorkerObserverEvents>();

  constructor(settings: WorkerSettings<WorkerAppData> = {}) {
    super();
    validateSettings(settings);
    const { logLevel, logTags, rtcMinPort, rtcMaxPort, dtlsCertificateFile, dtlsPrivateKeyFile } = settings;
    this.#appData = settings.appData ?? ({} as WorkerAppData);
    this.#channel = new Channel({
      logLevel,
      logTags,
      rtcMinPort,
      rtcMaxPort,
      dtlsCertificateFile,
      dtlsPrivateKeyFile,
    });
    this.#pid = this.#channel.pid;
    this.#channel.on('', (event: string, data: any) => this.#onWorkerEvent(event, data));
    logger.debug(`constructor() [pid:${this.#pid}]`);
  }

  get pid(): number {
    return this.#pid;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get died(): boolean {
    return this.#died;
  }

  get subprocessClosed(): boolean {
    return this.#subprocessClosed;
  }

  get appData(): WorkerAppData {
    return this.#appData;
  }

  set appData(appData: WorkerAppData) {
    this.#appData = appData;
  }

  get observer(): WorkerObserver {
    return this.#observer;
  }

  /** @internal */
  get channel(): Channel {
    return this.#channel;
  }

  close(): void {
    if (this.#closed) {
      return;
    }
    logger.debug('close()');
    this.#closed = true;
    this.#channel.close();
    this.#closeChildren();
    this.#markThreadClosed();
    this.#observer.safeEmit('close');
  }

  async dump(): Promise<WorkerDump> {
    this.#assertOpen();
    return this.#channel.request('worker.dump');
  }

  async getResourceUsage(): Promise<WorkerResourceUsage> {
    this.#assertOpen();
    return this.#channel.request('worker.getResourceUsage');
  }

  async updateSettings({ logLevel, logTags }: WorkerUpdateableSettings<WorkerAppData> = {}): Promise<void> {
    this.#assertOpen();
    if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
      throw new TypeError(`invalid logLevel: ${String(logLevel)}`);
    }
    if (logTags !== undefined && !Array.isArray(logTags)) {
      throw new TypeError('logTags must be an array');
    }
    await this.#channel.request('worker.updateSettings', '', { logLevel, logTags });
  }

  async createWebRtcServer<WebRtcServerAppData extends AppData = AppData>(
    options: WebRtcServerOptions<WebRtcServerAppData>,
  ): Promise<WebRtcServer<WebRtcServerAppData>> {
    this.#assertOpen();
    if (options === null || typeof options !== 'object') {
      throw new TypeError('options must be an object');
    }
    const { listenInfos, appData } = options;
    if (!Array.isArray(listenInfos) || listenInfos.length === 0) {
      throw new TypeError('listenInfos must be a non-empty array');
    }
    const nativeListenInfos = listenInfos.map(checkListenInfo);
    assertAppData(appData);
    const webRtcServerId = randomUUID();
    await this.#channel.request('worker.createWebRtcServer', '', {
      webRtcServerId,
      listenInfos: nativeListenInfos,
    });
    const server = new WebRtcServerImpl<WebRtcServerAppData>({
      webRtcServerId,
      channel: this.#channel,
      appData: appData ?? ({} as WebRtcServerAppData),
    });
    this.#webRtcServers.add(server);
    server.on('@close', () => this.#webRtcServers.delete(server));
    this.#observer.safeEmit('newwebrtcserver', server);
    return server;
  }

  async createRouter<RouterAppData extends AppData = AppData>(
    options: RouterOptions<RouterAppData> = {},
  ): Promise<Router<RouterAppData>> {
    this.#assertOpen();
    const { mediaCodecs, appData } = options;
    if (mediaCodecs !== undefined && !Array.isArray(mediaCodecs)) {
      throw new TypeError('mediaCodecs must be an Array');
    }
    assertAppData(appData);
    const routerId = randomUUID();
    const { rtpCapabilities } = await this.#channel.request('worker.createRouter', '', {
      routerId,
      mediaCodecs: mediaCodecs ?? [],
    });
    const router = new RouterImpl<RouterAppData>({
      routerId,
      rtpCapabilities,
      channel: this.#channel,
      appData: appData ?? ({} as RouterAppData),
    });
    this.#routers.add(router);
    router.on('@close', () => this.#routers.delete(router));
    this.#observer.safeEmit('newrouter', router);
    return router;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new InvalidStateError('Worker closed');
    }
  }

  #closeChildren(): void {
    // Routers first: their transports hear 'routerclose', not 'listenserverclose'.
    for (const router of this.#routers) {
      router.workerClosed();
    }
    this.#routers.clear();
    for (const server of this.#webRtcServers) {
      server.workerClosed();
    }
    this.#webRtcServers.clear();
  }

  // The thread has been joined by now: report it like mediasoup reports its
  // subprocess exiting, on a later tick so listeners added after close() see it.
  #markThreadClosed(): void {
    setImmediate(() => {
      this.#subprocessClosed = true;
      this.safeEmit('subprocessclose');
    });
  }

  #onWorkerEvent(event: string, data: any): void {
    switch (event) {
      case 'log':
        this.#onNativeLog(data);
        break;
      case 'died':
        this.#onDied(new Error(data?.message ?? 'worker died'));
        break;
      default:
        logger.warn(`unknown worker event: ${event}`);
    }
  }

  #onNativeLog({ level, tag, message }: { level: string; tag?: string | null; message: string }): void {
    const line = tag ? `[${tag}] ${message}` : message;
    if (level === 'error') {
      workerLogger.error(line);
    } else if (level === 'warn') {
      workerLogger.warn(line);
    } else {
      workerLogger.debug(line);
    }
  }

  #onDied(error: Error): void {
    if (this.#closed) {
      return;
    }
    logger.error(`worker died: ${error.message}`);
    this.#closed = true;
    this.#died = true;
    this.#channel.close();
    this.#closeChildren();
    this.#markThreadClosed();
    this.safeEmit('died', error);
    this.#observer.safeEmit('close');
  }
}
