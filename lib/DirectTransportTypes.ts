/**
 * DirectTransport: RTP and data messages exchanged with Node itself
 * (producer.send(), consumer 'rtp', dataProducer.send(), ...), no network.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { SctpParameters } from './SctpParameters';
import type {
  BaseTransportDump,
  BaseTransportStats,
  Transport,
  TransportEvents,
  TransportObserverEvents,
} from './TransportTypes';

export type DirectTransportOptions<DirectTransportAppData extends AppData = AppData> = {
  /** 3.14: largest message in either direction (bytes). Default 262144. */
  maxMessageSize?: number;
  /** 3.27 split of the above. */
  maxSendMessageSize?: number;
  maxReceiveMessageSize?: number;
  appData?: DirectTransportAppData;
};

/** 3.14 exported the transport's initial state under this name. */
export type DirectTransportData = {
  sctpParameters?: SctpParameters;
};

export type DirectTransportDump = BaseTransportDump;

export type DirectTransportStat = BaseTransportStats & {
  type: string;
};

export type DirectTransportEvents = TransportEvents & {
  /** An RTCP packet for the Node side. */
  rtcp: [Buffer];
};

export type DirectTransportObserverEvents = TransportObserverEvents & {
  rtcp: [Buffer];
};

export type DirectTransportObserver = EnhancedEventEmitter<DirectTransportObserverEvents>;

export interface DirectTransport<DirectTransportAppData extends AppData = AppData>
  extends Transport<DirectTransportAppData, DirectTransportEvents, DirectTransportObserver> {
  get type(): 'direct';
  get observer(): DirectTransportObserver;

  dump(): Promise<DirectTransportDump>;
  getStats(): Promise<DirectTransportStat[]>;
  /** Nothing to connect; resolves at once. */
  connect(): Promise<void>;
  /** Injects an RTCP packet as if received. */
  sendRtcp(rtcpPacket: Buffer): void;
}
