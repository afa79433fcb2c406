/**
 * PipeTransport: carries producers between two routers (same host or not),
 * forwarding every RTP stream of a producer verbatim.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData, Either } from './indexTypes';
import type { NumSctpStreams, SctpNegotiatedCapabilities, SctpParameters } from './SctpParameters';
import type { SrtpParameters } from './SrtpParameters';
import type { Consumer } from './ConsumerTypes';
import type {
  BaseTransportDump,
  BaseTransportStats,
  SctpState,
  Transport,
  TransportEvents,
  TransportListenInfo,
  TransportListenIp,
  TransportObserverEvents,
  TransportTuple,
} from './TransportTypes';

type PipeTransportListenInfo = {
  listenInfo: TransportListenInfo;
};

type PipeTransportListenIp = {
  /** Deprecated form of `listenInfo`. */
  listenIp: TransportListenIp | string;
  port?: number;
};

type PipeTransportListen = Either<PipeTransportListenInfo, PipeTransportListenIp>;

export type PipeTransportOptions<PipeTransportAppData extends AppData = AppData> = {
  enableSctp?: boolean;
  /** 3.14 SCTP options; see WebRtcTransportOptionsBase. */
  numSctpStreams?: NumSctpStreams;
  maxSctpMessageSize?: number;
  /** 3.27 SCTP options. */
  maxSendMessageSize?: number;
  maxReceiveMessageSize?: number;
  sctpSendBufferSize?: number;
  sctpPerStreamSendQueueLimit?: number;
  sctpMaxReceiverWindowBufferSize?: number;
  sctpDefaultStreamBufferedAmountLowThreshold?: number;
  /** Retransmit on NACK across the pipe. Default false. */
  enableRtx?: boolean;
  /** Default false. */
  enableSrtp?: boolean;
  appData?: PipeTransportAppData;
} & PipeTransportListen;

/** A pipe consumer mirrors the producer as is: no capabilities needed. */
export type PipeConsumerOptions<ConsumerAppData extends AppData = AppData> = {
  producerId: string;
  appData?: ConsumerAppData;
};

/** 3.14 exported the transport's initial state under this name. */
export type PipeTransportData = {
  tuple: TransportTuple;
  sctpParameters?: SctpParameters;
  sctpState?: SctpState;
  rtx: boolean;
  srtpParameters?: SrtpParameters;
};

export type PipeTransportDump = BaseTransportDump & {
  tuple: TransportTuple;
  rtx: boolean;
  srtpParameters?: SrtpParameters;
};

export type PipeTransportStat = BaseTransportStats & {
  type: string;
  tuple: TransportTuple;
};

export type PipeTransportEvents = TransportEvents & {
  sctpstatechange: [SctpState];
};

export type PipeTransportObserverEvents = TransportObserverEvents & {
  sctpstatechange: [SctpState];
};

export type PipeTransportObserver = EnhancedEventEmitter<PipeTransportObserverEvents>;

export interface PipeTransport<PipeTransportAppData extends AppData = AppData>
  extends Transport<PipeTransportAppData, PipeTransportEvents, PipeTransportObserver> {
  get type(): 'pipe';
  get observer(): PipeTransportObserver;
  get tuple(): TransportTuple;
  get sctpParameters(): SctpParameters | undefined;
  get sctpState(): SctpState | undefined;
  get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined;
  get srtpParameters(): SrtpParameters | undefined;

  dump(): Promise<PipeTransportDump>;
  getStats(): Promise<PipeTransportStat[]>;
  /** The other pipe end's address and SRTP keying. */
  connect(params: { ip: string; port: number; srtpParameters?: SrtpParameters }): Promise<void>;
  consume<ConsumerAppData extends AppData = AppData>(
    options: PipeConsumerOptions<ConsumerAppData>,
  ): Promise<Consumer<ConsumerAppData>>;
}
