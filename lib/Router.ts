import { randomUUID } from 'node:crypto';
import type { Channel } from './Channel';
import { WorkerChild } from './ChannelObject';
import { InvalidStateError, UnsupportedError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import { ortcCall } from './native';
import type { RouterRtpCodecCapability, RtpCapabilitiesWithPayloadTypes, RtpParameters } from './RtpParameters';
import type {
  CanConsumeOptions,
  PipeToRouterOptions,
  PipeToRouterResult,
  Router,
  RouterDump,
  RouterEvents,
  RouterObserverEvents,
} from './RouterTypes';
import type { WebRtcTransport, WebRtcTransportOptions } from './WebRtcTransportTypes';
import { WebRtcTransportImpl, webRtcTransportRequest } from './WebRtcTransport';
import type { WebRtcServerImpl } from './WebRtcServer';
import type { PlainTransport, PlainTransportOptions } from './PlainTransportTypes';
import type { PipeTransport, PipeTransportOptions } from './PipeTransportTypes';
import type { DirectTransport, DirectTransportOptions } from './DirectTransportTypes';
import type { ActiveSpeakerObserver, ActiveSpeakerObserverOptions } from './ActiveSpeakerObserverTypes';
import type { AudioLevelObserver, AudioLevelObserverOptions } from './AudioLevelObserverTypes';
import { AudioLevelObserverImpl, audioLevelObserverRequest } from './AudioLevelObserver';
import { ActiveSpeakerObserverImpl, activeSpeakerObserverRequest } from './ActiveSpeakerObserver';
import type { Producer } from './ProducerTypes';
import type { DataProducerImpl } from './DataProducer';
import { DirectTransportImpl, directTransportRequest } from './DirectTransport';
import { PlainTransportImpl, plainTransportRequest } from './PlainTransport';
import { PipeTransportImpl, pipeTransportRequest } from './PipeTransport';
import { createBothEnds, pipeProducerToRouter, type PipeOptions, type PipeTransportPair } from './pipeToRouter';
import type { TransportListenInfo } from './TransportTypes';
import type { RtpObserverInternal } from './RtpObserver';
import type { RtpObserverEvents } from './RtpObserverTypes';
import type { EnhancedEventEmitter } from './enhancedEvents';

const logger = new Logger('Router');

/** What a Router needs to know of a Producer to route it and answer canConsume(). */
export interface RoutedProducer {
  readonly id: string;
  readonly consumableRtpParameters: RtpParameters;
}

/**
 * Children of a router (transports, observers) are told when the router
 * closes under them, mediasoup's `routerClosed()`.
 */
export interface RouterChild {
  routerClosed(): void;
}

type RouterInternal<RouterAppData> = {
  routerId: string;
  rtpCapabilities: RtpCapabilitiesWithPayloadTypes;
  channel: Channel;
  appData: RouterAppData;
};

export class RouterImpl<RouterAppData extends AppData = AppData>
  extends WorkerChild<RouterEvents, RouterObserverEvents, RouterAppData>
  implements Router<RouterAppData>
{
  readonly #rtpCapabilities: RtpCapabilitiesWithPayloadTypes;
  readonly #children = new Set<RouterChild>();
  readonly #producers = new Map<string, RoutedProducer>();
  readonly #dataProducers = new Map<string, DataProducerImpl>();
  /** pipeToRouter()'s transport pairs, by the other router's id. */
  readonly #pipePairs = new Map<string, Promise<PipeTransportPair>>();

  constructor({ routerId, rtpCapabilities, channel, appData }: RouterInternal<RouterAppData>) {
    super(routerId, channel, appData);
    this.#rtpCapabilities = rtpCapabilities;
  }

  get rtpCapabilities(): RtpCapabilitiesWithPayloadTypes {
    return this.#rtpCapabilities;
  }

  /** @internal Transports are created on this router's worker channel. */
  override get channel(): Channel {
    return super.channel;
  }

  protected readonly closeRequest = 'worker.closeRouter';

  protected closeHeld(): void {
    this.#closeChildren();
  }

  async dump(): Promise<RouterDump> {
    this.#assertOpen();
    return this.channel.request('router.dump', this.id);
  }

  async createWebRtcTransport<WebRtcTransportAppData extends AppData = AppData>(
    options: WebRtcTransportOptions<WebRtcTransportAppData>,
  ): Promise<WebRtcTransport<WebRtcTransportAppData>> {
    logger.debug('createWebRtcTransport()');
    this.#assertOpen();
    // Throws TypeError / UnsupportedError before anything reaches the worker.
    const request = webRtcTransportRequest(options);
    const transportId = randomUUID();
    const data = await this.channel.request('router.createWebRtcTransport', this.id, {
      transportId,
      ...request,
    });
    // Closed while the worker was answering: the worker dropped the transport with the router.
    this.#assertOpen();
    const transport = new WebRtcTransportImpl<WebRtcTransportAppData>({
      transportId,
      router: this as unknown as RouterImpl,
      channel: this.channel,
      appData: options.appData ?? ({} as WebRtcTransportAppData),
      data,
      request,
      options,
    });
    this.addChild(transport);
    if (options.webRtcServer) {
      (options.webRtcServer as WebRtcServerImpl).handleWebRtcTransport(transport);
    }
    this.observer.safeEmit('newtransport', transport);
    return transport;
  }

  async createPlainTransport<PlainTransportAppData extends AppData = AppData>(
    options: PlainTransportOptions<PlainTransportAppData>,
  ): Promise<PlainTransport<PlainTransportAppData>> {
    logger.debug('createPlainTransport()');
    this.#assertOpen();
    const request = plainTransportRequest(options);
    const transportId = randomUUID();
    const data = await this.channel.request('router.createPlainTransport', this.id, { transportId, ...request });
    this.#assertOpen();
    const transport = new PlainTransportImpl<PlainTransportAppData>({
      transportId,
      router: this as unknown as RouterImpl,
      channel: this.channel,
      appData: options.appData ?? ({} as PlainTransportAppData),
      data,
    });
    this.addChild(transport);
    this.observer.safeEmit('newtransport', transport);
    return transport;
  }

  async createPipeTransport<PipeTransportAppData extends AppData = AppData>(
    options: PipeTransportOptions<PipeTransportAppData>,
  ): Promise<PipeTransport<PipeTransportAppData>> {
    logger.debug('createPipeTransport()');
    this.#assertOpen();
    const request = pipeTransportRequest(options);
    const transportId = randomUUID();
    const data = await this.channel.request('router.createPlainTransport', this.id, { transportId, ...request });
    this.#assertOpen();
    const transport = new PipeTransportImpl<PipeTransportAppData>({
      transportId,
      router: this as unknown as RouterImpl,
      channel: this.channel,
      appData: options.appData ?? ({} as PipeTransportAppData),
      data,
    });
    this.addChild(transport);
    this.observer.safeEmit('newtransport', transport);
    return transport;
  }

  async createDirectTransport<DirectTransportAppData extends AppData = AppData>(
    options: DirectTransportOptions<DirectTransportAppData> = {},
  ): Promise<DirectTransport<DirectTransportAppData>> {
    logger.debug('createDirectTransport()');
    this.#assertOpen();
    const request = directTransportRequest(options);
    const transportId = randomUUID();
    await this.channel.request('router.createDirectTransport', this.id, { transportId, ...request });
    this.#assertOpen();
    const transport = new DirectTransportImpl<DirectTransportAppData>({
      transportId,
      router: this as unknown as RouterImpl,
      channel: this.channel,
      appData: options.appData ?? ({} as DirectTransportAppData),
    });
    this.addChild(transport);
    this.observer.safeEmit('newtransport', transport);
    return transport;
  }

  async pipeToRouter(options: PipeToRouterOptions): Promise<PipeToRouterResult> {
    logger.debug('pipeToRouter()');
    this.#assertOpen();
    if (!options || typeof options !== 'object') {
      throw new TypeError('options must be an object');
    }
    return pipeProducerToRouter(
      {
        id: this.id,
        sharesWorkerWith: (other) => (other as unknown as RouterImpl).channel === this.channel,
        getProducerObject: (producerId) => this.#producers.get(producerId) as Producer | undefined,
        getDataProducerObject: (dataProducerId) => this.#dataProducers.get(dataProducerId),
        createDirectTransport: () => this.createDirectTransport(),
        pipeTransportPair: (other, listenInfo, pipeOptions) =>
          this.#pipeTransportPair(other as unknown as RouterImpl, listenInfo, pipeOptions),
      },
      options,
    );
  }

  /**
   * One connected pair of PipeTransports per pair of routers, made once
   * (the first call's options hold for the pair, as in mediasoup).
   */
  #pipeTransportPair(other: RouterImpl, listenInfo: TransportListenInfo, pipeOptions: PipeOptions): Promise<PipeTransportPair> {
    const cached = this.#pipePairs.get(other.id);
    if (cached) {
      return cached;
    }
    const made = (async (): Promise<PipeTransportPair> => {
      const [local, remote] = await createBothEnds([
        this.createPipeTransport({ listenInfo, ...pipeOptions }),
        other.createPipeTransport({ listenInfo, ...pipeOptions }),
      ]);
      const closeBoth = (): void => {
        local.close();
        remote.close();
      };
      // From here on, either end closing (its router closing) takes the
      // pair down and out of both routers' caches.
      const forget = (): void => {
        this.#pipePairs.delete(other.id);
        other.forgetPipePair(this.id);
        closeBoth();
      };
      local.observer.on('close', forget);
      remote.observer.on('close', forget);
      try {
        await Promise.all([
          local.connect({
            ip: remote.tuple.localAddress ?? remote.tuple.localIp,
            port: remote.tuple.localPort,
            srtpParameters: remote.srtpParameters,
          }),
          remote.connect({
            ip: local.tuple.localAddress ?? local.tuple.localIp,
            port: local.tuple.localPort,
            srtpParameters: local.srtpParameters,
          }),
        ]);
      } catch (error) {
        closeBoth();
        throw error;
      }
      if (local.closed || remote.closed) {
        throw new InvalidStateError('a router of the pipe closed');
      }
      return { local, remote };
    })();
    this.#pipePairs.set(other.id, made);
    // The other router pipes back over the same pair, ends swapped.
    other.rememberPipePair(this.id, made.then(({ local, remote }) => ({ local: remote, remote: local })));
    made.catch(() => {
      this.#pipePairs.delete(other.id);
      other.forgetPipePair(this.id);
    });
    return made;
  }

  /** @internal */
  rememberPipePair(otherId: string, pair: Promise<PipeTransportPair>): void {
    pair.catch(() => undefined);
    this.#pipePairs.set(otherId, pair);
  }

  /** @internal */
  forgetPipePair(otherId: string): void {
    this.#pipePairs.delete(otherId);
  }

  async createActiveSpeakerObserver<ActiveSpeakerObserverAppData extends AppData = AppData>(
    options: ActiveSpeakerObserverOptions<ActiveSpeakerObserverAppData> = {},
  ): Promise<ActiveSpeakerObserver<ActiveSpeakerObserverAppData>> {
    logger.debug('createActiveSpeakerObserver()');
    this.#assertOpen();
    const request = activeSpeakerObserverRequest(options);
    const internal = await this.#createRtpObserver('router.createActiveSpeakerObserver', request, options.appData);
    return this.#adopt(new ActiveSpeakerObserverImpl(internal));
  }

  async createAudioLevelObserver<AudioLevelObserverAppData extends AppData = AppData>(
    options: AudioLevelObserverOptions<AudioLevelObserverAppData> = {},
  ): Promise<AudioLevelObserver<AudioLevelObserverAppData>> {
    logger.debug('createAudioLevelObserver()');
    this.#assertOpen();
    const request = audioLevelObserverRequest(options);
    const internal = await this.#createRtpObserver('router.createAudioLevelObserver', request, options.appData);
    return this.#adopt(new AudioLevelObserverImpl(internal));
  }

  async #createRtpObserver<A extends AppData>(
    method: string,
    request: Record<string, number>,
    appData: A | undefined,
  ): Promise<RtpObserverInternal<A>> {
    const rtpObserverId = randomUUID();
    await this.channel.request(method, this.id, { rtpObserverId, ...request });
    // Closed while the worker was answering: the worker dropped it with the router.
    this.#assertOpen();
    return {
      rtpObserverId,
      channel: this.channel,
      appData: appData ?? ({} as A),
      getProducerById: (producerId) => this.#producers.get(producerId) as Producer | undefined,
    };
  }

  #adopt<T extends AudioLevelObserverImpl<any> | ActiveSpeakerObserverImpl<any>>(rtpObserver: T): T {
    this.addChild(rtpObserver);
    (rtpObserver as EnhancedEventEmitter<RtpObserverEvents>).on('@close', () => this.removeChild(rtpObserver));
    this.observer.safeEmit('newrtpobserver', rtpObserver);
    return rtpObserver;
  }

  updateMediaCodecs(_mediaCodecs: RouterRtpCodecCapability[]): void {
    this.#assertOpen();
    RouterImpl.notYet('updateMediaCodecs()');
  }

  canConsume({ producerId, rtpCapabilities }: CanConsumeOptions): boolean {
    const producer = this.#producers.get(producerId);
    if (!producer) {
      logger.error(`canConsume() | Producer with id "${producerId}" not found`);
      return false;
    }
    try {
      return ortcCall('canConsume', {
        consumableRtpParameters: producer.consumableRtpParameters,
        rtpCapabilities,
      }) as boolean;
    } catch (error) {
      logger.error(`canConsume() | unexpected error: ${String(error)}`);
      return false;
    }
  }

  /** @internal */
  addChild(child: RouterChild): void {
    this.#children.add(child);
  }

  /** @internal */
  removeChild(child: RouterChild): void {
    this.#children.delete(child);
  }

  /** @internal */
  addProducer(producer: RoutedProducer): void {
    this.#producers.set(producer.id, producer);
  }

  /** @internal */
  removeProducer(producerId: string): void {
    this.#producers.delete(producerId);
  }

  /** @internal */
  getProducer(producerId: string): RoutedProducer | undefined {
    return this.#producers.get(producerId);
  }

  /** @internal */
  addDataProducer(dataProducer: DataProducerImpl): void {
    this.#dataProducers.set(dataProducer.id, dataProducer);
  }

  /** @internal */
  removeDataProducer(dataProducerId: string): void {
    this.#dataProducers.delete(dataProducerId);
  }

  /** @internal */
  getDataProducer(dataProducerId: string): DataProducerImpl | undefined {
    return this.#dataProducers.get(dataProducerId);
  }

  /** @internal */
  assertOpen(): void {
    this.#assertOpen();
  }

  #assertOpen(): void {
    if (this.closed) {
      throw new InvalidStateError('Router closed');
    }
  }

  #closeChildren(): void {
    for (const child of [...this.#children]) {
      child.routerClosed();
    }
    this.#children.clear();
    this.#producers.clear();
    this.#dataProducers.clear();
    this.#pipePairs.clear();
  }

  /** @internal Features that later issues implement. */
  static notYet(feature: string): never {
    throw new UnsupportedError(`${feature} is not supported yet`);
  }
}
