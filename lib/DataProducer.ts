import type { Channel } from './Channel';
import { TransportChild } from './ChannelObject';
import type {
  DataProducer,
  DataProducerDump,
  DataProducerEvents,
  DataProducerObserverEvents,
  DataProducerStat,
  DataProducerType,
} from './DataProducerTypes';
import { InvalidStateError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import { withoutNulls } from './Producer';
import type { SctpStreamParameters } from './SctpParameters';

const logger = new Logger('DataProducer');

/** SCTP payload protocol ids (RFC 8831): text, binary, and their empty forms. */
export const PPID = { STRING: 51, BINARY: 53, STRING_EMPTY: 56, BINARY_EMPTY: 57 } as const;

/**
 * A message from Node as the worker takes it: its PPID (mediasoup's default
 * from the message's type) and base64 payload. An empty message travels as
 * one placeholder byte, flagged by its "empty" PPID, as mediasoup sends it.
 */
export function encodeMessage(message: unknown, ppid: unknown): { ppid: number; data: string } {
  if (typeof message !== 'string' && !Buffer.isBuffer(message)) {
    throw new TypeError('message must be a string or a Buffer');
  }
  if (ppid !== undefined && (typeof ppid !== 'number' || !Number.isInteger(ppid) || ppid < 0)) {
    throw new TypeError('if given, ppid must be a positive integer');
  }
  const text = typeof message === 'string';
  const chosen = (ppid as number | undefined) ??
    (text ? (message.length > 0 ? PPID.STRING : PPID.STRING_EMPTY) : message.length > 0 ? PPID.BINARY : PPID.BINARY_EMPTY);
  let payload = text ? Buffer.from(message) : message;
  if (chosen === PPID.STRING_EMPTY) {
    payload = Buffer.from(' ');
  } else if (chosen === PPID.BINARY_EMPTY) {
    payload = Buffer.alloc(1);
  }
  return { ppid: chosen, data: payload.toString('base64') };
}

export function assertSubchannel(value: unknown, name: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new TypeError(`${name} must be an integer between 0 and 65535`);
  }
}

/** What the transport learnt from the worker's `transport.produceData` answer. */
export type DataProducerInternal<DataProducerAppData> = {
  dataProducerId: string;
  type: DataProducerType;
  sctpStreamParameters?: SctpStreamParameters;
  label: string;
  protocol: string;
  paused: boolean;
  channel: Channel;
  appData: DataProducerAppData;
};

export class DataProducerImpl<DataProducerAppData extends AppData = AppData>
  extends TransportChild<DataProducerEvents, DataProducerObserverEvents, DataProducerAppData>
  implements DataProducer<DataProducerAppData>
{
  protected readonly requestPrefix = 'dataProducer';
  readonly #type: DataProducerType;
  readonly #sctpStreamParameters?: SctpStreamParameters;
  readonly #label: string;
  readonly #protocol: string;
  #paused: boolean;

  constructor(internal: DataProducerInternal<DataProducerAppData>) {
    super(internal.dataProducerId, internal.channel, internal.appData);
    logger.debug('constructor()');
    this.#type = internal.type;
    this.#sctpStreamParameters = internal.sctpStreamParameters;
    this.#label = internal.label;
    this.#protocol = internal.protocol;
    this.#paused = internal.paused;
  }

  get type(): DataProducerType {
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

  async dump(): Promise<DataProducerDump> {
    this.#assertOpen();
    return withoutNulls(await this.channel.request('dataProducer.dump', this.id));
  }

  async getStats(): Promise<DataProducerStat[]> {
    this.#assertOpen();
    return this.channel.request('dataProducer.getStats', this.id);
  }

  async pause(): Promise<void> {
    logger.debug('pause()');
    this.#assertOpen();
    await this.channel.request('dataProducer.pause', this.id);
    const wasPaused = this.#paused;
    this.#paused = true;
    if (!wasPaused) {
      this.observer.safeEmit('pause');
    }
  }

  async resume(): Promise<void> {
    logger.debug('resume()');
    this.#assertOpen();
    await this.channel.request('dataProducer.resume', this.id);
    const wasPaused = this.#paused;
    this.#paused = false;
    if (wasPaused) {
      this.observer.safeEmit('resume');
    }
  }

  /**
   * A message from Node to this data producer's consumers (DirectTransport
   * data producers only). Subchannels choose which consumers get it.
   */
  send(
    message: string | Buffer,
    ppid?: number,
    subchannels?: number[],
    requiredSubchannel?: number,
    ignoredSubchannel?: number,
  ): void {
    if (this.#type !== 'direct') {
      throw new InvalidStateError('invalid DataProducer type (send() is for DirectTransport DataProducers)');
    }
    this.#assertOpen();
    const encoded = encodeMessage(message, ppid);
    if (subchannels !== undefined) {
      if (!Array.isArray(subchannels)) {
        throw new TypeError('if given, subchannels must be an array');
      }
      subchannels.forEach((s) => assertSubchannel(s, 'every subchannel'));
    }
    if (requiredSubchannel !== undefined) {
      assertSubchannel(requiredSubchannel, 'requiredSubchannel');
    }
    if (ignoredSubchannel !== undefined) {
      assertSubchannel(ignoredSubchannel, 'ignoredSubchannel');
    }
    this.channel
      .request('dataProducer.send', this.id, { ...encoded, subchannels, requiredSubchannel, ignoredSubchannel })
      .catch((error: Error) => logger.error(`send() failed: ${String(error)}`));
  }

  #assertOpen(): void {
    if (this.closed) {
      throw new InvalidStateError('DataProducer closed');
    }
  }
}
