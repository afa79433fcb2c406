import type { Channel } from './Channel';
import type {
  Consumer,
  ConsumerDump,
  ConsumerEvents,
  ConsumerLayers,
  ConsumerObserverEvents,
  ConsumerScore,
  ConsumerStat,
  ConsumerTraceEventData,
  ConsumerTraceEventType,
  ConsumerType,
} from './ConsumerTypes';
import { TransportChild, traceEventData } from './ChannelObject';
import { InvalidStateError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import { filterTraceEventTypes, withoutNulls } from './Producer';
import type { ProducerStat } from './ProducerTypes';
import type { MediaKind, RtpParameters } from './RtpParameters';

const logger = new Logger('Consumer');

const CONSUMER_TRACE_EVENT_TYPES: readonly string[] = ['rtp', 'keyframe', 'nack', 'pli', 'fir'];

/** What the transport learnt from the worker's `transport.consume` answer. */
export type ConsumerInternal<ConsumerAppData> = {
  consumerId: string;
  producerId: string;
  kind: MediaKind;
  rtpParameters: RtpParameters;
  type: ConsumerType;
  paused: boolean;
  producerPaused: boolean;
  score?: ConsumerScore;
  preferredLayers?: ConsumerLayers;
  currentLayers?: ConsumerLayers;
  channel: Channel;
  appData: ConsumerAppData;
};

/** The worker sends `null` for "no layers"; the API says `undefined`. */
function layersFromNative(layers: any): ConsumerLayers | undefined {
  if (!layers || typeof layers.spatialLayer !== 'number') {
    return undefined;
  }
  return {
    spatialLayer: layers.spatialLayer,
    temporalLayer: typeof layers.temporalLayer === 'number' ? layers.temporalLayer : undefined,
  };
}

export class ConsumerImpl<ConsumerAppData extends AppData = AppData>
  extends TransportChild<ConsumerEvents, ConsumerObserverEvents, ConsumerAppData>
  implements Consumer<ConsumerAppData>
{
  protected readonly requestPrefix = 'consumer';
  readonly #producerId: string;
  readonly #kind: MediaKind;
  readonly #rtpParameters: RtpParameters;
  readonly #type: ConsumerType;
  #paused: boolean;
  #producerPaused: boolean;
  #priority = 1;
  #score: ConsumerScore;
  #preferredLayers?: ConsumerLayers;
  #currentLayers?: ConsumerLayers;

  constructor({
    consumerId,
    producerId,
    kind,
    rtpParameters,
    type,
    paused,
    producerPaused,
    score,
    preferredLayers,
    currentLayers,
    channel,
    appData,
  }: ConsumerInternal<ConsumerAppData>) {
    super(consumerId, channel, appData);
    logger.debug('constructor()');
    this.#producerId = producerId;
    this.#kind = kind;
    this.#rtpParameters = rtpParameters;
    this.#type = type;
    this.#paused = paused;
    this.#producerPaused = producerPaused;
    this.#score = score ?? { score: 10, producerScore: 10, producerScores: [] };
    this.#preferredLayers = layersFromNative(preferredLayers);
    this.#currentLayers = layersFromNative(currentLayers);
    this.channel.on(this.id, (event: string, data: any) => this.#onWorkerEvent(event, data));
  }

  get producerId(): string {
    return this.#producerId;
  }

  get kind(): MediaKind {
    return this.#kind;
  }

  get rtpParameters(): RtpParameters {
    return this.#rtpParameters;
  }

  get type(): ConsumerType {
    return this.#type;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get producerPaused(): boolean {
    return this.#producerPaused;
  }

  get priority(): number {
    return this.#priority;
  }

  get score(): ConsumerScore {
    return this.#score;
  }

  get preferredLayers(): ConsumerLayers | undefined {
    return this.#preferredLayers;
  }

  get currentLayers(): ConsumerLayers | undefined {
    return this.#currentLayers;
  }

  async dump(): Promise<ConsumerDump> {
    this.#assertOpen();
    return this.channel.request('consumer.dump', this.id);
  }

  async getStats(): Promise<(ConsumerStat | ProducerStat)[]> {
    this.#assertOpen();
    const stats = await this.channel.request('consumer.getStats', this.id);
    return (stats as (ConsumerStat | ProducerStat)[]).map(withoutNulls);
  }

  async pause(): Promise<void> {
    logger.debug('pause()');
    this.#assertOpen();
    await this.channel.request('consumer.pause', this.id);
    const wasPaused = this.#paused;
    this.#paused = true;
    // The observer reports whether media flows: a consumer whose producer is
    // paused was already reported paused.
    if (!wasPaused && !this.#producerPaused) {
      this.observer.safeEmit('pause');
    }
  }

  async resume(): Promise<void> {
    logger.debug('resume()');
    this.#assertOpen();
    await this.channel.request('consumer.resume', this.id);
    const wasPaused = this.#paused;
    this.#paused = false;
    // Resuming while the producer is paused flows nothing yet: 'resume' comes
    // with 'producerresume'.
    if (wasPaused && !this.#producerPaused) {
      this.observer.safeEmit('resume');
    }
  }

  async setPreferredLayers({ spatialLayer, temporalLayer }: ConsumerLayers): Promise<void> {
    logger.debug('setPreferredLayers()');
    this.#assertOpen();
    if (typeof spatialLayer !== 'number' || !Number.isInteger(spatialLayer) || spatialLayer < 0) {
      throw new TypeError('spatialLayer must be a number');
    }
    if (
      temporalLayer !== undefined &&
      (typeof temporalLayer !== 'number' || !Number.isInteger(temporalLayer) || temporalLayer < 0)
    ) {
      throw new TypeError('if given, temporalLayer must be a number');
    }
    const answer = await this.channel.request('consumer.setPreferredLayers', this.id, {
      spatialLayer,
      temporalLayer,
    });
    // Non-layered consumers answer null: they have no preferred layers.
    this.#preferredLayers = layersFromNative(answer);
  }

  async setPriority(priority: number): Promise<void> {
    logger.debug('setPriority()');
    this.#assertOpen();
    if (typeof priority !== 'number' || !Number.isFinite(priority) || priority <= 0) {
      throw new TypeError('priority must be a positive number');
    }
    const answer = await this.channel.request('consumer.setPriority', this.id, { priority });
    this.#priority = typeof answer?.priority === 'number' ? answer.priority : priority;
  }

  async unsetPriority(): Promise<void> {
    logger.debug('unsetPriority()');
    await this.setPriority(1);
  }

  async requestKeyFrame(): Promise<void> {
    logger.debug('requestKeyFrame()');
    this.#assertOpen();
    await this.channel.request('consumer.requestKeyFrame', this.id);
  }

  async enableTraceEvent(types: ConsumerTraceEventType[] = []): Promise<void> {
    logger.debug('enableTraceEvent()');
    const known = filterTraceEventTypes(types, CONSUMER_TRACE_EVENT_TYPES, logger);
    this.#assertOpen();
    await this.channel.request('consumer.enableTraceEvent', this.id, { types: known });
  }

  #assertOpen(): void {
    if (this.closed) {
      throw new InvalidStateError('Consumer closed');
    }
  }

  #onWorkerEvent(event: string, data: any): void {
    switch (event) {
      case 'rtp': {
        // A packet for a consumer on a DirectTransport.
        this.safeEmit('rtp', Buffer.from(data.data as string, 'base64'));
        break;
      }
      case 'producerclose': {
        // The worker has removed the consumer already: no request to send.
        if (!this.markClosed()) {
          break;
        }
        this.emit('@producerclose');
        this.safeEmit('producerclose');
        this.observer.safeEmit('close');
        break;
      }
      case 'producerpause': {
        if (this.#producerPaused) {
          break;
        }
        this.#producerPaused = true;
        this.safeEmit('producerpause');
        if (!this.#paused) {
          this.observer.safeEmit('pause');
        }
        break;
      }
      case 'producerresume': {
        if (!this.#producerPaused) {
          break;
        }
        this.#producerPaused = false;
        this.safeEmit('producerresume');
        if (!this.#paused) {
          this.observer.safeEmit('resume');
        }
        break;
      }
      case 'score': {
        const score = data as ConsumerScore;
        this.#score = score;
        this.safeEmit('score', score);
        this.observer.safeEmit('score', score);
        break;
      }
      case 'layerschange': {
        const layers = layersFromNative(data);
        this.#currentLayers = layers;
        this.safeEmit('layerschange', layers);
        this.observer.safeEmit('layerschange', layers);
        break;
      }
      case 'trace': {
        const trace = traceEventData<ConsumerTraceEventData>(data);
        this.safeEmit('trace', trace);
        this.observer.safeEmit('trace', trace);
        break;
      }
      default:
        logger.error(`ignoring unknown event "${event}"`);
    }
  }
}
