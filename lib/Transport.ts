import { randomUUID } from 'node:crypto';
import type { Channel } from './Channel';
import { ConsumerImpl } from './Consumer';
import type { Consumer, ConsumerOptions } from './ConsumerTypes';
import { DataConsumerImpl } from './DataConsumer';
import type { DataConsumer, DataConsumerOptions } from './DataConsumerTypes';
import { DataProducerImpl } from './DataProducer';
import type { DataProducer, DataProducerOptions, DataProducerType } from './DataProducerTypes';
import { EnhancedEventEmitter } from './enhancedEvents';
import { InvalidStateError, UnsupportedError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import { ortcCall } from './native';
import { filterTraceEventTypes, ProducerImpl, withoutNulls } from './Producer';
import type { Producer, ProducerOptions } from './ProducerTypes';
import type { RoutedProducer, RouterChild, RouterImpl } from './Router';
import type { MediaKind, RtpParameters } from './RtpParameters';
import type {
  Transport,
  TransportEvents,
  TransportObserver,
  TransportTraceEventData,
  TransportTraceEventType,
  TransportType,
} from './TransportTypes';

const logger = new Logger('Transport');

const TRANSPORT_TRACE_EVENT_TYPES: readonly string[] = ['probation', 'bwe'];

export type TransportConstructorOptions<TransportAppData> = {
  transportId: string;
  /** The owning router: producers register there so that others can consume them. */
  router: RouterImpl;
  channel: Channel;
  appData: TransportAppData;
};

/** The event map every transport has, whatever its own events add. */
type BaseEmitter = EnhancedEventEmitter<TransportEvents>;

/**
 * A producer the router knows of may have been registered by something other
 * than a ProducerImpl (only id and parameters are required there): the kind
 * then comes from the consumable codecs' MIME type.
 */
function kindOf(producer: RoutedProducer): MediaKind {
  if (producer instanceof ProducerImpl) {
    return producer.kind;
  }
  const mimeType = producer.consumableRtpParameters.codecs?.[0]?.mimeType ?? '';
  return mimeType.toLowerCase().startsWith('video/') ? 'video' : 'audio';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The same check as the Worker's, kept here so that the media classes do not
 * import Worker.ts (which imports Router.ts, which imports them).
 */
export function assertAppData(appData: unknown): void {
  if (appData !== undefined && !isPlainObject(appData)) {
    throw new TypeError('if given, appData must be an object');
  }
}

/**
 * What all transports share: producers and consumers, bitrate limits, stats,
 * and the close cascade (transport → its producers and consumers; router →
 * transports). Each transport kind adds its own connection state on top.
 */
export abstract class TransportImpl<
    TransportAppData extends AppData = AppData,
    Events extends TransportEvents = TransportEvents,
    Observer extends TransportObserver = TransportObserver,
  >
  extends EnhancedEventEmitter<Events>
  implements Transport<TransportAppData, Events, Observer>, RouterChild
{
  readonly #id: string;
  readonly #router: RouterImpl;
  protected readonly channel: Channel;
  #closed = false;
  #appData: TransportAppData;
  readonly #producers = new Map<string, ProducerImpl>();
  readonly #consumers = new Map<string, ConsumerImpl>();
  readonly #dataProducers = new Map<string, DataProducerImpl>();
  readonly #dataConsumers = new Map<string, DataConsumerImpl>();
  // mediasoup gives every producer of a transport the same RTCP CNAME: the
  // first one an endpoint sent, or a random one.
  #cnameForProducers?: string;
  readonly #observer: Observer;

  protected constructor(
    { transportId, router, channel, appData }: TransportConstructorOptions<TransportAppData>,
    observer: Observer,
  ) {
    super();
    logger.debug('constructor()');
    this.#id = transportId;
    this.#router = router;
    this.channel = channel;
    this.#appData = appData;
    this.#observer = observer;
  }

  abstract get type(): TransportType;

  get id(): string {
    return this.#id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get appData(): TransportAppData {
    return this.#appData;
  }

  set appData(appData: TransportAppData) {
    this.#appData = appData;
  }

  get observer(): Observer {
    return this.#observer;
  }

  /** @internal */
  get channelForTesting(): Channel {
    return this.channel;
  }

  close(): void {
    if (this.#closed) {
      return;
    }
    logger.debug('close()');
    this.#closed = true;
    this.channel.removeAllListeners(this.#id);
    // The worker closes the transport's producers and consumers with it, and
    // tells consumers elsewhere that their producer is gone.
    this.channel.request('transport.close', this.#id).catch(() => {
      // the router or worker may be gone already
    });
    this.#closeChildren(true);
    this.#router.removeChild(this);
    this.#baseEmitter.emit('@close');
    this.#observer.safeEmit('close');
  }

  /** @internal The router closed (or its worker did): the worker state is gone already. */
  routerClosed(): void {
    if (this.#closed) {
      return;
    }
    logger.debug('routerClosed()');
    this.#closed = true;
    this.channel.removeAllListeners(this.#id);
    // The router forgets all its producers itself.
    this.#closeChildren(false);
    this.#baseEmitter.safeEmit('routerclose');
    this.#observer.safeEmit('close');
  }

  /** @internal The WebRtcServer this transport listened on closed. */
  listenServerClosed(): void {
    if (this.#closed) {
      return;
    }
    logger.debug('listenServerClosed()');
    this.#closed = true;
    this.channel.removeAllListeners(this.#id);
    this.#closeChildren(true);
    this.#router.removeChild(this);
    this.#baseEmitter.emit('@listenserverclose');
    this.#baseEmitter.safeEmit('listenserverclose');
    this.#observer.safeEmit('close');
  }

  async dump(): Promise<any> {
    this.assertOpen();
    return withoutNulls(await this.channel.request('transport.dump', this.#id));
  }

  async getStats(): Promise<any[]> {
    this.assertOpen();
    const stats = await this.channel.request('transport.getStats', this.#id);
    return (stats as object[]).map(withoutNulls);
  }

  abstract connect(params: any): Promise<void>;

  async setMaxIncomingBitrate(bitrate: number): Promise<void> {
    logger.debug(`setMaxIncomingBitrate() [bitrate:${bitrate}]`);
    await this.#setBitrate('transport.setMaxIncomingBitrate', bitrate);
  }

  async setMaxOutgoingBitrate(bitrate: number): Promise<void> {
    logger.debug(`setMaxOutgoingBitrate() [bitrate:${bitrate}]`);
    await this.#setBitrate('transport.setMaxOutgoingBitrate', bitrate);
  }

  async setMinOutgoingBitrate(bitrate: number): Promise<void> {
    logger.debug(`setMinOutgoingBitrate() [bitrate:${bitrate}]`);
    await this.#setBitrate('transport.setMinOutgoingBitrate', bitrate);
  }

  async produce<ProducerAppData extends AppData = AppData>(
    options: ProducerOptions<ProducerAppData>,
  ): Promise<Producer<ProducerAppData>> {
    logger.debug('produce()');
    this.assertOpen();
    if (!isPlainObject(options)) {
      throw new TypeError('options must be an object');
    }
    const { id, kind, rtpParameters, paused = false, keyFrameRequestDelay = 0, appData } = options;
    if (id !== undefined && (typeof id !== 'string' || id.length === 0)) {
      throw new TypeError('if given, id must be a non empty string');
    } else if (id !== undefined && this.#producers.has(id)) {
      throw new TypeError(`a Producer with same id "${id}" already exists`);
    } else if (kind !== 'audio' && kind !== 'video') {
      throw new TypeError(`invalid kind "${String(kind)}"`);
    } else if (!isPlainObject(rtpParameters)) {
      throw new TypeError('missing rtpParameters');
    } else if (typeof paused !== 'boolean') {
      throw new TypeError('if given, paused must be a boolean');
    } else if (
      typeof keyFrameRequestDelay !== 'number' ||
      !Number.isFinite(keyFrameRequestDelay) ||
      keyFrameRequestDelay < 0
    ) {
      throw new TypeError('if given, keyFrameRequestDelay must be a positive number');
    }
    assertAppData(appData);

    // A copy: the caller's object is not ours to change (and may be frozen).
    const sentRtpParameters = structuredClone(rtpParameters) as RtpParameters;
    // As mediasoup: no encodings means one encoding, matched by MID.
    if (!Array.isArray(sentRtpParameters.encodings) || sentRtpParameters.encodings.length === 0) {
      sentRtpParameters.encodings = [{}];
    }
    this.#applyCname(sentRtpParameters);

    const producerId = id ?? randomUUID();
    const answer = await this.channel.request('transport.produce', this.#id, {
      producerId,
      kind,
      rtpParameters: sentRtpParameters,
      paused,
      keyFrameRequestDelay,
    });
    // Closed while the worker was answering: the worker dropped it with the transport.
    this.assertOpen();

    const producer = new ProducerImpl<ProducerAppData>({
      producerId,
      kind,
      rtpParameters: answer.rtpParameters ?? sentRtpParameters,
      type: answer.type,
      consumableRtpParameters: answer.consumableRtpParameters,
      paused,
      channel: this.channel,
      appData: appData ?? ({} as ProducerAppData),
      direct: this.type === 'direct',
    });
    this.#producers.set(producerId, producer as unknown as ProducerImpl);
    this.#router.addProducer(producer);
    producer.on('@close', () => {
      this.#producers.delete(producerId);
      this.#router.removeProducer(producerId);
      this.#baseEmitter.emit('@producerclose', producer);
    });
    this.#baseEmitter.emit('@newproducer', producer);
    (this.#observer as TransportObserver).safeEmit('newproducer', producer);
    return producer;
  }

  async consume<ConsumerAppData extends AppData = AppData>(
    options: ConsumerOptions<ConsumerAppData>,
  ): Promise<Consumer<ConsumerAppData>> {
    logger.debug('consume()');
    this.assertOpen();
    if (!isPlainObject(options)) {
      throw new TypeError('options must be an object');
    }
    const { producerId, rtpCapabilities, paused = false, mid, preferredLayers, ignoreDtx = false, pipe, appData } =
      options;
    let { enableRtx } = options;
    if (!producerId || typeof producerId !== 'string') {
      throw new TypeError('missing producerId');
    } else if (mid !== undefined && (typeof mid !== 'string' || mid.length === 0)) {
      throw new TypeError('if given, mid must be non empty string');
    } else if (typeof paused !== 'boolean') {
      throw new TypeError('if given, paused must be a boolean');
    } else if (
      preferredLayers !== undefined &&
      (!isPlainObject(preferredLayers) || typeof preferredLayers.spatialLayer !== 'number')
    ) {
      throw new TypeError('if given, preferredLayers must contain a spatialLayer number');
    }
    assertAppData(appData);
    // A PipeTransport's consumers take every encoding as it is: no
    // capabilities to match.
    const pipeConsumer = this.type === 'pipe';
    if (!pipeConsumer && !isPlainObject(rtpCapabilities)) {
      throw new TypeError('missing rtpCapabilities');
    }

    const producer = this.#router.getProducer(producerId);
    if (!producer) {
      // mediasoup throws a plain Error here, not a TypeError.
      throw new Error(`Producer with id "${producerId}" not found`);
    }
    if (pipe && !pipeConsumer) {
      throw new UnsupportedError('pipe consumers are for PipeTransports (use router.pipeToRouter())');
    }
    // Validates the capabilities (TypeError) and checks that the endpoint can
    // receive one of the producer's codecs; mediasoup's mapping throws
    // UnsupportedError when it cannot.
    const compatible =
      pipeConsumer ||
      (ortcCall('canConsume', {
        consumableRtpParameters: producer.consumableRtpParameters,
        rtpCapabilities,
      }) as boolean);
    if (!compatible) {
      throw new UnsupportedError('no compatible media codecs');
    }

    const kind = kindOf(producer);
    // As mediasoup: RTX for video when not said otherwise.
    enableRtx ??= kind === 'video';

    const consumerId = randomUUID();
    const answer = await this.channel.request('transport.consume', this.#id, {
      consumerId,
      producerId,
      rtpCapabilities,
      paused,
      preferredLayers,
      ignoreDtx,
      enableRtx,
      // The worker assigns MIDs per transport; a caller's own MID goes along.
      mid,
    });
    this.assertOpen();

    const consumer = new ConsumerImpl<ConsumerAppData>({
      consumerId,
      producerId,
      kind,
      rtpParameters: answer.rtpParameters,
      type: answer.type,
      paused: answer.paused ?? paused,
      producerPaused: answer.producerPaused ?? false,
      score: answer.score ?? undefined,
      preferredLayers: answer.preferredLayers ?? undefined,
      currentLayers: answer.currentLayers ?? undefined,
      channel: this.channel,
      appData: appData ?? ({} as ConsumerAppData),
    });
    this.#consumers.set(consumerId, consumer as unknown as ConsumerImpl);
    const forget = (): void => {
      this.#consumers.delete(consumerId);
    };
    consumer.on('@close', forget);
    consumer.on('@producerclose', forget);
    (this.#observer as TransportObserver).safeEmit('newconsumer', consumer);
    return consumer;
  }

  /** 'direct' on a DirectTransport, 'sctp' (data channels) elsewhere. */
  protected get dataType(): DataProducerType {
    return 'sctp';
  }

  async produceData<DataProducerAppData extends AppData = AppData>(
    options: DataProducerOptions<DataProducerAppData> = {},
  ): Promise<DataProducer<DataProducerAppData>> {
    logger.debug('produceData()');
    this.assertOpen();
    if (!isPlainObject(options)) {
      throw new TypeError('options must be an object');
    }
    const { id, sctpStreamParameters, label = '', protocol = '', paused = false, appData } = options;
    if (id !== undefined && (typeof id !== 'string' || id.length === 0)) {
      throw new TypeError('if given, id must be a non empty string');
    } else if (id !== undefined && this.#router.getDataProducer(id)) {
      throw new TypeError(`a DataProducer with same id "${id}" already exists`);
    } else if (typeof label !== 'string') {
      throw new TypeError('if given, label must be a string');
    } else if (typeof protocol !== 'string') {
      throw new TypeError('if given, protocol must be a string');
    } else if (typeof paused !== 'boolean') {
      throw new TypeError('if given, paused must be a boolean');
    }
    const type = this.dataType;
    if (type === 'sctp') {
      if (!isPlainObject(sctpStreamParameters)) {
        throw new TypeError('missing sctpStreamParameters');
      }
      const { streamId } = sctpStreamParameters;
      if (typeof streamId !== 'number' || !Number.isInteger(streamId) || streamId < 0 || streamId > 65534) {
        throw new TypeError('missing or invalid sctpStreamParameters.streamId');
      }
    }
    assertAppData(appData);

    const dataProducerId = id ?? randomUUID();
    const answer = await this.channel.request('transport.produceData', this.#id, {
      dataProducerId,
      // On a DirectTransport, only the defaults of its SCTP consumers elsewhere.
      sctpStreamParameters,
      label,
      protocol,
      paused,
    });
    this.assertOpen();
    const dataProducer = new DataProducerImpl<DataProducerAppData>({
      dataProducerId,
      type,
      sctpStreamParameters: type === 'sctp' ? (answer.sctpStreamParameters ?? undefined) : undefined,
      label,
      protocol,
      paused,
      channel: this.channel,
      appData: appData ?? ({} as DataProducerAppData),
    });
    this.#dataProducers.set(dataProducerId, dataProducer as unknown as DataProducerImpl);
    this.#router.addDataProducer(dataProducer as unknown as DataProducerImpl);
    dataProducer.on('@close', () => {
      this.#dataProducers.delete(dataProducerId);
      this.#router.removeDataProducer(dataProducerId);
      this.#baseEmitter.emit('@dataproducerclose', dataProducer);
    });
    this.#baseEmitter.emit('@newdataproducer', dataProducer);
    (this.#observer as TransportObserver).safeEmit('newdataproducer', dataProducer);
    return dataProducer;
  }

  async consumeData<DataConsumerAppData extends AppData = AppData>(
    options: DataConsumerOptions<DataConsumerAppData>,
  ): Promise<DataConsumer<DataConsumerAppData>> {
    logger.debug('consumeData()');
    this.assertOpen();
    if (!isPlainObject(options)) {
      throw new TypeError('options must be an object');
    }
    const { dataProducerId, ordered, maxPacketLifeTime, maxRetransmits, paused = false, subchannels, appData } =
      options;
    if (!dataProducerId || typeof dataProducerId !== 'string') {
      throw new TypeError('missing dataProducerId');
    } else if (ordered !== undefined && typeof ordered !== 'boolean') {
      throw new TypeError('if given, ordered must be a boolean');
    } else if (typeof paused !== 'boolean') {
      throw new TypeError('if given, paused must be a boolean');
    } else if (subchannels !== undefined && !Array.isArray(subchannels)) {
      throw new TypeError('if given, subchannels must be an array');
    }
    for (const [name, value] of [
      ['maxPacketLifeTime', maxPacketLifeTime],
      ['maxRetransmits', maxRetransmits],
    ] as const) {
      if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535)) {
        throw new TypeError(`if given, ${name} must be an integer between 0 and 65535`);
      }
    }
    assertAppData(appData);
    if (!this.#router.getDataProducer(dataProducerId)) {
      // mediasoup throws a plain Error here, as for consume().
      throw new Error(`DataProducer with id "${dataProducerId}" not found`);
    }

    const dataConsumerId = randomUUID();
    const type = this.dataType;
    const answer = await this.channel.request('transport.consumeData', this.#id, {
      dataConsumerId,
      dataProducerId,
      ordered,
      maxPacketLifeTime,
      maxRetransmits,
      paused,
      subchannels: subchannels ?? [],
    });
    this.assertOpen();
    const dataConsumer = new DataConsumerImpl<DataConsumerAppData>({
      dataConsumerId,
      dataProducerId,
      type,
      sctpStreamParameters: answer.sctpStreamParameters ?? undefined,
      label: answer.label,
      protocol: answer.protocol,
      paused,
      dataProducerPaused: Boolean(answer.dataProducerPaused),
      subchannels: answer.subchannels ?? [],
      channel: this.channel,
      appData: appData ?? ({} as DataConsumerAppData),
    });
    this.#dataConsumers.set(dataConsumerId, dataConsumer as unknown as DataConsumerImpl);
    const forget = (): void => {
      this.#dataConsumers.delete(dataConsumerId);
    };
    dataConsumer.on('@close', forget);
    dataConsumer.on('@dataproducerclose', forget);
    (this.#observer as TransportObserver).safeEmit('newdataconsumer', dataConsumer);
    return dataConsumer;
  }

  async enableTraceEvent(types: TransportTraceEventType[] = []): Promise<void> {
    logger.debug('enableTraceEvent()');
    const known = filterTraceEventTypes(types, TRANSPORT_TRACE_EVENT_TYPES, logger);
    this.assertOpen();
    await this.channel.request('transport.enableTraceEvent', this.#id, { types: known });
  }

  protected assertOpen(): void {
    if (this.#closed) {
      throw new InvalidStateError('Transport closed');
    }
  }

  /** Events every transport kind handles; returns false for the kind's own. */
  protected handleCommonEvent(event: string, data: any): boolean {
    if (event === 'trace') {
      const trace = data as TransportTraceEventData;
      this.#baseEmitter.safeEmit('trace', trace);
      (this.#observer as TransportObserver).safeEmit('trace', trace);
      return true;
    }
    return false;
  }

  // The generic `Events` map is only known to extend TransportEvents; emit the
  // shared events through that base view.
  get #baseEmitter(): BaseEmitter {
    return this as unknown as BaseEmitter;
  }

  async #setBitrate(method: string, bitrate: number): Promise<void> {
    this.assertOpen();
    if (typeof bitrate !== 'number' || !Number.isFinite(bitrate) || bitrate < 0) {
      throw new TypeError('bitrate must be a positive number or 0');
    }
    await this.channel.request(method, this.#id, { bitrate });
  }

  #applyCname(rtpParameters: RtpParameters): void {
    const rtcp = rtpParameters.rtcp;
    if (rtcp !== undefined && !isPlainObject(rtcp)) {
      // Let the worker's validation report it.
      return;
    }
    if (!this.#cnameForProducers) {
      this.#cnameForProducers =
        typeof rtcp?.cname === 'string' && rtcp.cname.length > 0 ? rtcp.cname : randomUUID().slice(0, 8);
    }
    rtpParameters.rtcp = { ...(rtcp ?? {}), cname: this.#cnameForProducers };
  }

  /**
   * Closes producers and consumers under a closing transport. `tellRouter` is
   * false when the router itself is closing (it drops its producers itself).
   */
  #closeChildren(tellRouter: boolean): void {
    for (const producer of this.#producers.values()) {
      producer.transportClosed();
      if (tellRouter) {
        this.#router.removeProducer(producer.id);
        this.#baseEmitter.emit('@producerclose', producer);
      }
    }
    this.#producers.clear();
    for (const consumer of this.#consumers.values()) {
      consumer.transportClosed();
    }
    this.#consumers.clear();
    for (const dataProducer of this.#dataProducers.values()) {
      dataProducer.transportClosed();
      if (tellRouter) {
        this.#router.removeDataProducer(dataProducer.id);
        this.#baseEmitter.emit('@dataproducerclose', dataProducer);
      }
    }
    this.#dataProducers.clear();
    for (const dataConsumer of this.#dataConsumers.values()) {
      dataConsumer.transportClosed();
    }
    this.#dataConsumers.clear();
  }
}
