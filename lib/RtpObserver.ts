import type { Channel } from './Channel';
import { ChannelObject } from './ChannelObject';
import type { EnhancedEventEmitter, Events } from './enhancedEvents';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import type { Producer } from './ProducerTypes';
import type {
  RtpObserver,
  RtpObserverAddRemoveProducerOptions,
  RtpObserverEvents,
  RtpObserverObserverEvents,
  RtpObserverType,
} from './RtpObserverTypes';

const logger = new Logger('RtpObserver');

export type RtpObserverInternal<A> = {
  rtpObserverId: string;
  channel: Channel;
  appData: A;
  /** The router's producers, by id (an observer names them in its events). */
  getProducerById: (producerId: string) => Producer | undefined;
};

/**
 * What both observers share (mediasoup's RtpObserver): the producers they
 * watch, pause/resume, and closing by itself or with the router. The
 * worker's router does the watching; its reports arrive as events.
 */
export abstract class RtpObserverImpl<
    A extends AppData,
    E extends RtpObserverEvents,
    O extends RtpObserverObserverEvents,
  >
  extends ChannelObject<E, O, A>
  implements RtpObserver<A, E, EnhancedEventEmitter<O>>
{
  abstract get type(): RtpObserverType;
  #paused = false;
  protected readonly getProducerById: (producerId: string) => Producer | undefined;

  constructor({ rtpObserverId, channel, appData, getProducerById }: RtpObserverInternal<A>) {
    super(rtpObserverId, channel, appData);
    this.getProducerById = getProducerById;
    this.channel.on(this.id, (event: string, data: unknown) => this.onWorkerEvent(event, data));
  }

  get paused(): boolean {
    return this.#paused;
  }

  close(): void {
    if (!this.markClosed()) {
      return;
    }
    logger.debug('close()');
    this.channel.request('rtpObserver.close', this.id).catch(() => undefined);
    this.base.emit('@close');
    this.baseObserver.safeEmit('close');
  }

  /** @internal */
  routerClosed(): void {
    if (!this.markClosed()) {
      return;
    }
    logger.debug('routerClosed()');
    this.base.safeEmit('routerclose');
    this.baseObserver.safeEmit('close');
  }

  async pause(): Promise<void> {
    const wasPaused = this.#paused;
    await this.channel.request('rtpObserver.pause', this.id);
    this.#paused = true;
    if (!wasPaused) this.baseObserver.safeEmit('pause');
  }

  async resume(): Promise<void> {
    const wasPaused = this.#paused;
    await this.channel.request('rtpObserver.resume', this.id);
    this.#paused = false;
    if (wasPaused) this.baseObserver.safeEmit('resume');
  }

  async addProducer({ producerId }: RtpObserverAddRemoveProducerOptions): Promise<void> {
    const producer = this.#producer(producerId);
    await this.channel.request('rtpObserver.addProducer', this.id, { producerId });
    this.baseObserver.safeEmit('addproducer', producer);
  }

  async removeProducer({ producerId }: RtpObserverAddRemoveProducerOptions): Promise<void> {
    const producer = this.#producer(producerId);
    await this.channel.request('rtpObserver.removeProducer', this.id, { producerId });
    this.baseObserver.safeEmit('removeproducer', producer);
  }

  /** A report of the worker's observer. */
  protected abstract onWorkerEvent(event: string, data: unknown): void;

  /** Emits on the object and on its observer, as mediasoup does for reports. */
  protected report(event: string, ...args: unknown[]): void {
    (this as EnhancedEventEmitter<Events>).safeEmit(event, ...args);
    (this.observer as EnhancedEventEmitter<Events>).safeEmit(event, ...args);
  }

  // The event maps of both observers have these events; the generics cannot say so.
  private get base(): EnhancedEventEmitter<RtpObserverEvents> {
    return this as unknown as EnhancedEventEmitter<RtpObserverEvents>;
  }

  private get baseObserver(): EnhancedEventEmitter<RtpObserverObserverEvents> {
    return this.observer as unknown as EnhancedEventEmitter<RtpObserverObserverEvents>;
  }

  #producer(producerId: string): Producer {
    if (typeof producerId !== 'string') {
      throw new TypeError('missing producerId');
    }
    const producer = this.getProducerById(producerId);
    if (!producer) {
      throw new Error(`Producer with id "${producerId}" not found`);
    }
    return producer;
  }
}
