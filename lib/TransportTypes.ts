/**
 * What all transports share (WebRTC, plain RTP, pipe, direct).
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { SctpNegotiatedCapabilities, SctpParameters } from './SctpParameters';
import type { Producer, ProducerOptions } from './ProducerTypes';
import type { Consumer, ConsumerOptions } from './ConsumerTypes';
import type { DataProducer, DataProducerOptions } from './DataProducerTypes';
import type { DataConsumer, DataConsumerOptions } from './DataConsumerTypes';

export type TransportType = 'webrtc' | 'plain' | 'pipe' | 'direct';

/** Where a transport (or WebRtcServer) listens. */
export type TransportListenInfo = {
  protocol: TransportProtocol;
  /** Local IP to bind ('0.0.0.0' / '::' for all). */
  ip: string;
  /** Deprecated alias of `announcedAddress`. */
  announcedIp?: string;
  /** IP or hostname given to the remote side in place of `ip` (NAT, proxy). */
  announcedAddress?: string;
  /** 3.27: also announce the private IP when `announcedAddress` is set. */
  exposeInternalIp?: boolean;
  /** Fixed port; otherwise taken from `portRange` or the worker's range. */
  port?: number;
  portRange?: TransportPortRange;
  flags?: TransportSocketFlags;
  /** SO_SNDBUF, bytes. */
  sendBufferSize?: number;
  /** SO_RCVBUF, bytes. */
  recvBufferSize?: number;
};

/** Deprecated listen form (pre-`listenInfos`); still accepted. */
export type TransportListenIp = {
  ip: string;
  announcedIp?: string;
};

export type TransportProtocol = 'udp' | 'tcp';

export type TransportPortRange = {
  min: number;
  max: number;
};

export type TransportSocketFlags = {
  /** Bind IPv6 only even on '::'. */
  ipv6Only?: boolean;
  /** SO_REUSEPORT on UDP sockets. */
  udpReusePort?: boolean;
};

/** A local/remote address pair in use. */
export type TransportTuple = {
  /** Same as localAddress (kept for older code). */
  localIp: string;
  localAddress: string;
  localPort: number;
  remoteIp?: string;
  remotePort?: number;
  protocol: TransportProtocol;
};

export type SctpState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

export type RtpListenerDump = {
  ssrcTable: { key: number; value: string }[];
  midTable: { key: number; value: string }[];
  ridTable: { key: number; value: string }[];
};

export type SctpListenerDump = {
  streamIdTable: { key: number; value: string }[];
};

/** Header extension ids the transport reads from incoming RTP. */
export type RecvRtpHeaderExtensions = {
  mid?: number;
  rid?: number;
  rrid?: number;
  absSendTime?: number;
  transportWideCc01?: number;
};

/** Fields of every transport's `dump()`; 3.14-only fields are optional. */
export type BaseTransportDump = {
  id: string;
  /** 3.14 only. */
  direct?: boolean;
  producerIds: string[];
  consumerIds: string[];
  mapSsrcConsumerId: { key: number; value: string }[];
  mapRtxSsrcConsumerId: { key: number; value: string }[];
  recvRtpHeaderExtensions: RecvRtpHeaderExtensions;
  rtpListener: RtpListenerDump;
  /** 3.14 only (3.27 splits it in two). */
  maxMessageSize?: number;
  maxSendMessageSize: number;
  maxReceiveMessageSize: number;
  dataProducerIds: string[];
  dataConsumerIds: string[];
  sctpParameters?: SctpParameters;
  sctpState?: SctpState;
  sctpNegotiatedCapabilities?: SctpNegotiatedCapabilities;
  sctpListener?: SctpListenerDump;
  traceEventTypes?: string[];
};

/** Fields of every transport's `getStats()` entry. Bitrates in bps. */
export type BaseTransportStats = {
  transportId: string;
  /** Milliseconds. */
  timestamp: number;
  sctpState?: SctpState;
  bytesReceived: number;
  recvBitrate: number;
  bytesSent: number;
  sendBitrate: number;
  rtpBytesReceived: number;
  rtpRecvBitrate: number;
  rtpBytesSent: number;
  rtpSendBitrate: number;
  rtxBytesReceived: number;
  rtxRecvBitrate: number;
  rtxBytesSent: number;
  rtxSendBitrate: number;
  probationBytesSent: number;
  probationSendBitrate: number;
  availableOutgoingBitrate?: number;
  availableIncomingBitrate?: number;
  maxIncomingBitrate?: number;
  maxOutgoingBitrate?: number;
  minOutgoingBitrate?: number;
  rtpPacketLossReceived?: number;
  rtpPacketLossSent?: number;
};

export type TransportTraceEventType = 'probation' | 'bwe';

export type TransportTraceEventData = {
  type: TransportTraceEventType;
  timestamp: number;
  direction: 'in' | 'out';
  /** `any` as 3.14 declared it; the content depends on `type`. */
  info: any;
};

export type TransportEvents = {
  routerclose: [];
  /** The WebRtcServer this transport listened on was closed. */
  listenserverclose: [];
  trace: [TransportTraceEventData];
  listenererror: [string, Error];
  '@close': [];
  '@newproducer': [Producer];
  '@producerclose': [Producer];
  '@newdataproducer': [DataProducer];
  '@dataproducerclose': [DataProducer];
  '@listenserverclose': [];
};

export type TransportObserverEvents = {
  close: [];
  newproducer: [Producer];
  newconsumer: [Consumer];
  newdataproducer: [DataProducer];
  newdataconsumer: [DataConsumer];
  trace: [TransportTraceEventData];
};

export type TransportObserver = EnhancedEventEmitter<TransportObserverEvents>;

/**
 * The base every transport kind extends; code that keeps transports of mixed
 * kinds in one collection types them as this.
 */
export interface Transport<
  TransportAppData extends AppData = AppData,
  Events extends TransportEvents = TransportEvents,
  Observer extends TransportObserver = TransportObserver,
> extends EnhancedEventEmitter<Events> {
  get id(): string;
  get closed(): boolean;
  get type(): TransportType;
  get appData(): TransportAppData;
  set appData(appData: TransportAppData);
  get observer(): Observer;

  /** Closes the transport and its producers, consumers and data channels. */
  close(): void;
  /** Called by the owning Router when it closes. */
  routerClosed(): void;
  /** Called by the WebRtcServer the transport listens on when it closes. */
  listenServerClosed(): void;
  // The base signatures say `any` (as 3.14 did; 3.27 says `unknown`) so that
  // code holding a plain `Transport` can use the results of either version's
  // style without casts. Each transport kind narrows them.
  dump(): Promise<any>;
  getStats(): Promise<any[]>;
  connect(params: any): Promise<void>;
  /** bps; 0 = unlimited. */
  setMaxIncomingBitrate(bitrate: number): Promise<void>;
  setMaxOutgoingBitrate(bitrate: number): Promise<void>;
  setMinOutgoingBitrate(bitrate: number): Promise<void>;
  produce<ProducerAppData extends AppData = AppData>(
    options: ProducerOptions<ProducerAppData>,
  ): Promise<Producer<ProducerAppData>>;
  consume<ConsumerAppData extends AppData = AppData>(
    options: ConsumerOptions<ConsumerAppData>,
  ): Promise<Consumer<ConsumerAppData>>;
  produceData<DataProducerAppData extends AppData = AppData>(
    options?: DataProducerOptions<DataProducerAppData>,
  ): Promise<DataProducer<DataProducerAppData>>;
  consumeData<DataConsumerAppData extends AppData = AppData>(
    options: DataConsumerOptions<DataConsumerAppData>,
  ): Promise<DataConsumer<DataConsumerAppData>>;
  enableTraceEvent(types?: TransportTraceEventType[]): Promise<void>;
}
