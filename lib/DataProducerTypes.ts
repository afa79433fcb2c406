/**
 * DataProducer: a DataChannel (or direct message source) sending into a router.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { SctpStreamParameters } from './SctpParameters';

export type DataProducerOptions<DataProducerAppData extends AppData = AppData> = {
  id?: string;
  /** Required over SCTP; absent on a DirectTransport. */
  sctpStreamParameters?: SctpStreamParameters;
  /** DataChannel label. Default ''. */
  label?: string;
  /** DataChannel sub-protocol. Default ''. */
  protocol?: string;
  paused?: boolean;
  appData?: DataProducerAppData;
};

export type DataProducerType = 'sctp' | 'direct';

export type DataProducerDump = {
  id: string;
  paused: boolean;
  type: DataProducerType;
  sctpStreamParameters?: SctpStreamParameters;
  label: string;
  protocol: string;
};

export type DataProducerStat = {
  type: string;
  timestamp: number;
  label: string;
  protocol: string;
  messagesReceived: number;
  bytesReceived: number;
};

export type DataProducerEvents = {
  transportclose: [];
  listenererror: [string, Error];
  '@close': [];
};

export type DataProducerObserverEvents = {
  close: [];
  pause: [];
  resume: [];
};

export type DataProducerObserver = EnhancedEventEmitter<DataProducerObserverEvents>;

export interface DataProducer<DataProducerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<DataProducerEvents> {
  get id(): string;
  get closed(): boolean;
  get type(): DataProducerType;
  get sctpStreamParameters(): SctpStreamParameters | undefined;
  get label(): string;
  get protocol(): string;
  get paused(): boolean;
  get appData(): DataProducerAppData;
  set appData(appData: DataProducerAppData);
  get observer(): DataProducerObserver;

  close(): void;
  /** Called by the owning Transport when it closes. */
  transportClosed(): void;
  dump(): Promise<DataProducerDump>;
  getStats(): Promise<DataProducerStat[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /**
   * DirectTransport data producers only: sends a message to its consumers.
   * `ppid` is the SCTP payload protocol id (51 string, 53 binary by default);
   * subchannels filter which data consumers receive it.
   */
  send(
    message: string | Buffer,
    ppid?: number,
    subchannels?: number[],
    requiredSubchannel?: number,
    ignoredSubchannel?: number,
  ): void;
}
