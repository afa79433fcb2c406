import type { Channel } from './Channel';
import { TransportChild, traceEventData } from './ChannelObject';
import { InvalidStateError, UnsupportedError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import type {
  Producer,
  ProducerDump,
  ProducerEvents,
  ProducerObserverEvents,
  ProducerScore,
  ProducerStat,
  ProducerTraceEventData,
  ProducerTraceEventType,
  ProducerType,
  ProducerVideoOrientation,
} from './ProducerTypes';
import type { MediaKind, RtpParameters } from './RtpParameters';

const logger = new Logger('Producer');

const PRODUCER_TRACE_EVENT_TYPES: readonly string[] = ['rtp', 'keyframe', 'nack', 'pli', 'fir', 'sr'];

/**
 * Checks enableTraceEvent() input the way mediasoup does: an array of
 * strings is required, but unknown names are dropped (with a warning) rather
 * than rejected, so code written for a newer mediasoup keeps working.
 */
export function filterTraceEventTypes(
  types: unknown,
  known: readonly string[],
  log: Logger,
): string[] {
  if (!Array.isArray(types)) {
    throw new TypeError('types must be an array');
  }
  if (types.some((type) => typeof type !== 'string')) {
    throw new TypeError('every type must be a string');
  }
  return (types as string[]).filter((type) => {
    if (known.includes(type)) {
      return true;
    }
    log.warn(`enableTraceEvent() | ignoring unknown type "${type}"`);
    return false;
  });
}

/**
 * The worker serializes absent optional fields as `null`; mediasoup leaves
 * them out (`undefined`), and code compares them that way.
 */
export function withoutNulls<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null)) as T;
}

/** What the transport learnt from the worker's `transport.produce` answer. */
export type ProducerInternal<ProducerAppData> = {
  producerId: string;
  kind: MediaKind;
  rtpParameters: RtpParameters;
  type: ProducerType;
  consumableRtpParameters: RtpParameters;
  paused: boolean;
  channel: Channel;
  appData: ProducerAppData;
  /** On a DirectTransport: send() takes its packets from Node. */
  direct?: boolean;
};

export class ProducerImpl<ProducerAppData extends AppData = AppData>
  extends TransportChild<ProducerEvents, ProducerObserverEvents, ProducerAppData>
  implements Producer<ProducerAppData>
{
  protected readonly requestPrefix = 'producer';
  readonly #direct: boolean;
  readonly #kind: MediaKind;
  readonly #rtpParameters: RtpParameters;
  readonly #type: ProducerType;
  readonly #consumableRtpParameters: RtpParameters;
  #paused: boolean;
  #score: ProducerScore[] = [];

  constructor({
    producerId,
    kind,
    rtpParameters,
    type,
    consumableRtpParameters,
    paused,
    channel,
    appData,
    direct = false,
  }: ProducerInternal<ProducerAppData>) {
    super(producerId, channel, appData);
    logger.debug('constructor()');
    this.#direct = direct;
    this.#kind = kind;
    this.#rtpParameters = rtpParameters;
    this.#type = type;
    this.#consumableRtpParameters = consumableRtpParameters;
    this.#paused = paused;
    this.channel.on(this.id, (event: string, data: any) => this.#onWorkerEvent(event, data));
  }

  get kind(): MediaKind {
    return this.#kind;
  }

  get rtpParameters(): RtpParameters {
    return this.#rtpParameters;
  }

  get type(): ProducerType {
    return this.#type;
  }

  get consumableRtpParameters(): RtpParameters {
    return this.#consumableRtpParameters;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get score(): ProducerScore[] {
    return this.#score;
  }

  async dump(): Promise<ProducerDump> {
    this.#assertOpen();
    return this.channel.request('producer.dump', this.id);
  }

  async getStats(): Promise<ProducerStat[]> {
    this.#assertOpen();
    const stats = await this.channel.request('producer.getStats', this.id);
    return (stats as ProducerStat[]).map(withoutNulls);
  }

  async pause(): Promise<void> {
    logger.debug('pause()');
    this.#assertOpen();
    await this.channel.request('producer.pause', this.id);
    // State changes when the worker answers; answers come in request order,
    // so unawaited pause()/resume() sequences still fire one event per change.
    const wasPaused = this.#paused;
    this.#paused = true;
    if (!wasPaused) {
      this.observer.safeEmit('pause');
    }
  }

  async resume(): Promise<void> {
    logger.debug('resume()');
    this.#assertOpen();
    await this.channel.request('producer.resume', this.id);
    const wasPaused = this.#paused;
    this.#paused = false;
    if (wasPaused) {
      this.observer.safeEmit('resume');
    }
  }

  async enableTraceEvent(types: ProducerTraceEventType[] = []): Promise<void> {
    logger.debug('enableTraceEvent()');
    const known = filterTraceEventTypes(types, PRODUCER_TRACE_EVENT_TYPES, logger);
    this.#assertOpen();
    await this.channel.request('producer.enableTraceEvent', this.id, { types: known });
  }

  /** An RTP packet from Node, for a producer on a DirectTransport. */
  send(rtpPacket: Buffer): void {
    if (!Buffer.isBuffer(rtpPacket)) {
      throw new TypeError('rtpPacket must be a Buffer');
    }
    if (!this.#direct) {
      throw new UnsupportedError('producer.send() is only for DirectTransport producers');
    }
    this.#assertOpen();
    this.channel
      .request('producer.send', this.id, { data: rtpPacket.toString('base64') })
      // Debug only: packets still queued when the producer closes fail by the many.
      .catch((error: Error) => logger.debug(`send() failed: ${String(error)}`));
  }

  #assertOpen(): void {
    if (this.closed) {
      throw new InvalidStateError('Producer closed');
    }
  }

  #onWorkerEvent(event: string, data: any): void {
    switch (event) {
      case 'score': {
        const score = (Array.isArray(data) ? data : []) as ProducerScore[];
        this.#score = score;
        this.safeEmit('score', score);
        this.observer.safeEmit('score', score);
        break;
      }
      case 'videoorientationchange': {
        const orientation = data as ProducerVideoOrientation;
        this.safeEmit('videoorientationchange', orientation);
        this.observer.safeEmit('videoorientationchange', orientation);
        break;
      }
      case 'trace': {
        const trace = traceEventData<ProducerTraceEventData>(data);
        this.safeEmit('trace', trace);
        this.observer.safeEmit('trace', trace);
        break;
      }
      default:
        logger.error(`ignoring unknown event "${event}"`);
    }
  }
}
