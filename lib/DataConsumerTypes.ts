/**
 * DataConsumer: a data producer's messages as delivered to one endpoint (or
 * to Node on a DirectTransport).
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { SctpStreamParameters } from './SctpParameters';

export type DataConsumerOptions<DataConsumerAppData extends AppData = AppData> = {
  dataProducerId: string;
  /** Override the data producer's ordering/reliability. */
  ordered?: boolean;
  maxPacketLifeTime?: number;
  maxRetransmits?: number;
  paused?: boolean;
  /** Only receive messages sent to these subchannels (plus untagged ones). */
  subchannels?: number[];
  appData?: DataConsumerAppData;
};

export type DataConsumerType = 'sctp' | 'direct';

export type DataConsumerDump = {
  id: string;
  paused: boolean;
  dataProducerPaused: boolean;
  subchannels: number[];
  dataProducerId: string;
  type: DataConsumerType;
  sctpStreamParameters?: SctpStreamParameters;
  label: string;
  protocol: string;
  bufferedAmount: number;
  bufferedAmountLowThreshold: number;
};

export type DataConsumerStat = {
  type: string;
  timestamp: number;
  label: string;
  protocol: string;
  messagesSent: number;
  bytesSent: number;
  bufferedAmount: number;
};

export type DataConsumerEvents = {
  transportclose: [];
  dataproducerclose: [];
  dataproducerpause: [];
  dataproducerresume: [];
  /** DirectTransport only: (payload, ppid). */
  message: [Buffer, number];
  sctpsendbufferfull: [];
  bufferedamountlow: [number];
  listenererror: [string, Error];
  '@close': [];
  '@dataproducerclose': [];
};

export type DataConsumerObserverEvents = {
  close: [];
  pause: [];
  resume: [];
};

export type DataConsumerObserver = EnhancedEventEmitter<DataConsumerObserverEvents>;

export interface DataConsumer<DataConsumerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<DataConsumerEvents> {
  get id(): string;
  get dataProducerId(): string;
  get closed(): boolean;
  get type(): DataConsumerType;
  get sctpStreamParameters(): SctpStreamParameters | undefined;
  get label(): string;
  get protocol(): string;
  get paused(): boolean;
  get dataProducerPaused(): boolean;
  get subchannels(): number[];
  get appData(): DataConsumerAppData;
  set appData(appData: DataConsumerAppData);
  get observer(): DataConsumerObserver;

  close(): void;
  /** Called by the owning Transport when it closes. */
  transportClosed(): void;
  dump(): Promise<DataConsumerDump>;
  getStats(): Promise<DataConsumerStat[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  setBufferedAmountLowThreshold(threshold: number): Promise<void>;
  getBufferedAmount(): Promise<number>;
  /**
   * Sends a message from the server to this consumer's endpoint. Resolves
   * with the buffered amount (3.27; 3.14 resolved with nothing, and awaiting
   * code is unaffected).
   */
  send(message: string | Buffer, ppid?: number): Promise<number>;
  setSubchannels(subchannels: number[]): Promise<void>;
  addSubchannel(subchannel: number): Promise<void>;
  removeSubchannel(subchannel: number): Promise<void>;
}
