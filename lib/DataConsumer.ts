import type { Channel } from './Channel';
import { TransportChild } from './ChannelObject';
import type {
  DataConsumer,
  DataConsumerDump,
  DataConsumerEvents,
  DataConsumerObserverEvents,
  DataConsumerStat,
  DataConsumerType,
} from './DataConsumerTypes';
import { assertSubchannel, encodeMessage } from './DataProducer';
import { InvalidStateError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import { withoutNulls } from './Producer';
import type { SctpStreamParameters } from './SctpParameters';

const logger = new Logger('DataConsumer');

/** What the transport learnt from the worker's `transport.consumeData` answer. */
export type DataConsumerInternal<DataConsumerAppData> = {
  dataConsumerId: string;
  dataProducerId: string;
  type: DataConsumerType;
  sctpStreamParameters?: SctpStreamParameters;
  label: string;
  protocol: string;
  paused: boolean;
  dataProducerPaused: boolean;
  subchannels: number[];
  channel: Channel;
  appData: DataConsumerAppData;
};

export class DataConsumerImpl<DataConsumerAppData extends AppData = AppData>
  extends TransportChild<DataConsumerEvents, DataConsumerObserverEvents, DataConsumerAppData>
  implements DataConsumer<DataConsumerAppData>
{
  protected readonly requestPrefix = 'dataConsumer';
  readonly #dataProducerId: string;
  readonly #type: DataConsumerType;
  readonly #sctpStreamParameters?: SctpStreamParameters;
  readonly #label: string;
  readonly #protocol: string;
  #paused: boolean;
  #dataProducerPaused: boolean;
  #subchannels: number[];

  constructor(internal: DataConsumerInternal<DataConsumerAppData>) {
    super(internal.dataConsumerId, internal.channel, internal.appData);
    logger.debug('constructor()');
    this.#dataProducerId = internal.dataProducerId;
    this.#type = internal.type;
    this.#sctpStreamParameters = internal.sctpStreamParameters;
    this.#label = internal.label;
    this.#protocol = internal.protocol;
    this.#paused = internal.paused;
    this.#dataProducerPaused = internal.dataProducerPaused;
    this.#subchannels = internal.subchannels;
    this.channel.on(this.id, (event: string, data: any) => this.#onWorkerEvent(event, data));
  }

  get dataProducerId(): string {
    return this.#dataProducerId;
  }

  get type(): DataConsumerType {
    return this.#type;
  }

  get sctpStreamParameters(): SctpStreamParameters | undefined {
    return this.#sctpStreamParameters;
  }

  get label(): string {
    return this.#label;
  }

  get protocol(): string {
    return this.#protocol;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get dataProducerPaused(): boolean {
    return this.#dataProducerPaused;
  }

  get subchannels(): number[] {
    return [...this.#subchannels];
  }

  async dump(): Promise<DataConsumerDump> {
    this.#assertOpen();
    const dump = await this.channel.request('dataConsumer.dump', this.id);
    const { bufferedAmount } = await this.channel.request('dataConsumer.getBufferedAmount', this.id);
    return withoutNulls({ ...dump, bufferedAmount });
  }

  async getStats(): Promise<DataConsumerStat[]> {
    this.#assertOpen();
    return this.channel.request('dataConsumer.getStats', this.id);
  }

  async pause(): Promise<void> {
    logger.debug('pause()');
    this.#assertOpen();
    await this.channel.request('dataConsumer.pause', this.id);
    const wasPaused = this.#paused;
    this.#paused = true;
    // Nothing flowed already if the data producer was paused.
    if (!wasPaused && !this.#dataProducerPaused) {
      this.observer.safeEmit('pause');
    }
  }

  async resume(): Promise<void> {
    logger.debug('resume()');
    this.#assertOpen();
    await this.channel.request('dataConsumer.resume', this.id);
    const wasPaused = this.#paused;
    this.#paused = false;
    if (wasPaused && !this.#dataProducerPaused) {
      this.observer.safeEmit('resume');
    }
  }

  async setBufferedAmountLowThreshold(threshold: number): Promise<void> {
    this.#assertOpen();
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 0) {
      throw new TypeError('threshold must be a positive integer or 0');
    }
    await this.channel.request('dataConsumer.setBufferedAmountLowThreshold', this.id, { threshold });
  }

  async getBufferedAmount(): Promise<number> {
    this.#assertOpen();
    const { bufferedAmount } = await this.channel.request('dataConsumer.getBufferedAmount', this.id);
    return bufferedAmount as number;
  }

  /** A message from Node to this consumer's endpoint only; resolves with the buffered amount. */
  async send(message: string | Buffer, ppid?: number): Promise<number> {
    this.#assertOpen();
    const encoded = encodeMessage(message, ppid);
    await this.channel.request('dataConsumer.send', this.id, encoded);
    return this.getBufferedAmount();
  }

  async setSubchannels(subchannels: number[]): Promise<void> {
    this.#assertOpen();
    if (!Array.isArray(subchannels)) {
      throw new TypeError('subchannels must be an array');
    }
    subchannels.forEach((s) => assertSubchannel(s, 'every subchannel'));
    const answer = await this.channel.request('dataConsumer.setSubchannels', this.id, { subchannels });
    this.#subchannels = answer.subchannels as number[];
  }

  async addSubchannel(subchannel: number): Promise<void> {
    assertSubchannel(subchannel, 'subchannel');
    await this.setSubchannels([...this.#subchannels, subchannel]);
  }

  async removeSubchannel(subchannel: number): Promise<void> {
    assertSubchannel(subchannel, 'subchannel');
    await this.setSubchannels(this.#subchannels.filter((s) => s !== subchannel));
  }

  #assertOpen(): void {
    if (this.closed) {
      throw new InvalidStateError('DataConsumer closed');
    }
  }

  #onWorkerEvent(event: string, data: any): void {
    switch (event) {
      case 'dataproducerclose': {
        if (!this.markClosed()) {
          return;
        }
        this.emit('@dataproducerclose');
        this.safeEmit('dataproducerclose');
        this.observer.safeEmit('close');
        break;
      }
      case 'dataproducerpause': {
        if (this.#dataProducerPaused) {
          return;
        }
        this.#dataProducerPaused = true;
        this.safeEmit('dataproducerpause');
        if (!this.#paused) {
          this.observer.safeEmit('pause');
        }
        break;
      }
      case 'dataproducerresume': {
        if (!this.#dataProducerPaused) {
          return;
        }
        this.#dataProducerPaused = false;
        this.safeEmit('dataproducerresume');
        if (!this.#paused) {
          this.observer.safeEmit('resume');
        }
        break;
      }
      case 'message': {
        const payload = Buffer.from(String(data?.data ?? ''), 'base64');
        this.safeEmit('message', payload, Number(data?.ppid));
        break;
      }
      case 'sctpsendbufferfull':
        this.safeEmit('sctpsendbufferfull');
        break;
      case 'bufferedamountlow':
        this.safeEmit('bufferedamountlow', Number(data?.bufferedAmount ?? 0));
        break;
      default:
        logger.error(`ignoring unknown event "${event}"`);
    }
  }
}
