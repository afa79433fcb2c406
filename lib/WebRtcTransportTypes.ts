/**
 * WebRtcTransport: ICE-lite + DTLS + SRTP (+ SCTP) towards a browser.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData, Either } from './indexTypes';
import type { NumSctpStreams, SctpNegotiatedCapabilities, SctpParameters } from './SctpParameters';
import type {
  BaseTransportDump,
  BaseTransportStats,
  SctpState,
  Transport,
  TransportEvents,
  TransportListenInfo,
  TransportListenIp,
  TransportObserverEvents,
  TransportProtocol,
  TransportTuple,
} from './TransportTypes';
import type { WebRtcServer } from './WebRtcServerTypes';

/**
 * Options other than where to listen. Holds every option of 3.14 and 3.27;
 * the SCTP sizing options of one version are accepted by the other's code.
 */
export type WebRtcTransportOptionsBase<WebRtcTransportAppData extends AppData = AppData> = {
  /** Default true. */
  enableUdp?: boolean;
  /** Default true with listenInfos/webRtcServer, false with listenIps. */
  enableTcp?: boolean;
  preferUdp?: boolean;
  preferTcp?: boolean;
  /** Seconds without ICE consent before the transport fails. Default 30. */
  iceConsentTimeout?: number;
  /** bps. Default 600000. */
  initialAvailableOutgoingBitrate?: number;
  /** Create an SCTP association (DataChannels). Default false. */
  enableSctp?: boolean;
  /** 3.14: SCTP stream counts. Default { OS: 1024, MIS: 1024 }. */
  numSctpStreams?: NumSctpStreams;
  /** 3.14: largest SCTP message (bytes). Default 262144. */
  maxSctpMessageSize?: number;
  /** 3.27 split of the above: largest message sent / received. */
  maxSendMessageSize?: number;
  maxReceiveMessageSize?: number;
  /** Bytes of SCTP send buffer. Default 262144. */
  sctpSendBufferSize?: number;
  sctpPerStreamSendQueueLimit?: number;
  sctpMaxReceiverWindowBufferSize?: number;
  sctpDefaultStreamBufferedAmountLowThreshold?: number;
  appData?: WebRtcTransportAppData;
};

type WebRtcTransportListenIndividualListenInfo = {
  listenInfos: TransportListenInfo[];
};

type WebRtcTransportListenIndividualListenIp = {
  /** Deprecated form of `listenInfos`. */
  listenIps: (TransportListenIp | string)[];
  port?: number;
};

type WebRtcTransportListenServer = {
  webRtcServer: WebRtcServer;
};

// Exactly one way to listen: own sockets (listenInfos or the older
// listenIps) or a shared WebRtcServer.
type WebRtcTransportListen = Either<
  Either<WebRtcTransportListenIndividualListenInfo, WebRtcTransportListenIndividualListenIp>,
  WebRtcTransportListenServer
>;

export type WebRtcTransportOptions<WebRtcTransportAppData extends AppData = AppData> =
  WebRtcTransportOptionsBase<WebRtcTransportAppData> & WebRtcTransportListen;

export type IceParameters = {
  usernameFragment: string;
  password: string;
  /** Always true for the server side (ICE-lite). */
  iceLite?: boolean;
};

export type IceCandidate = {
  foundation: string;
  priority: number;
  /** Same as `address` (kept for older code). */
  ip: string;
  address: string;
  protocol: TransportProtocol;
  port: number;
  type: IceCandidateType;
  tcpType?: IceCandidateTcpType;
};

export type DtlsParameters = {
  role?: DtlsRole;
  fingerprints: DtlsFingerprint[];
};

export type FingerprintAlgorithm = 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512';

export type DtlsFingerprint = {
  algorithm: FingerprintAlgorithm;
  /** Colon-separated uppercase hex. */
  value: string;
};

export type IceRole = 'controlled' | 'controlling';

export type IceState = 'new' | 'connected' | 'completed' | 'disconnected' | 'closed';

export type IceCandidateType = 'host';

export type IceCandidateTcpType = 'passive';

export type DtlsRole = 'auto' | 'client' | 'server';

export type DtlsState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

/** 3.14 exported the transport's initial state under this name. */
export type WebRtcTransportData = {
  iceRole: 'controlled';
  iceParameters: IceParameters;
  iceCandidates: IceCandidate[];
  iceState: IceState;
  iceSelectedTuple?: TransportTuple;
  dtlsParameters: DtlsParameters;
  dtlsState: DtlsState;
  dtlsRemoteCert?: string;
  sctpParameters?: SctpParameters;
  sctpState?: SctpState;
};

export type WebRtcTransportDump = BaseTransportDump & {
  iceRole: 'controlled';
  iceParameters: IceParameters;
  iceCandidates: IceCandidate[];
  iceState: IceState;
  iceSelectedTuple?: TransportTuple;
  dtlsParameters: DtlsParameters;
  dtlsState: DtlsState;
  dtlsRemoteCert?: string;
};

export type WebRtcTransportStat = BaseTransportStats & {
  type: string;
  iceRole: string;
  iceState: IceState;
  iceSelectedTuple?: TransportTuple;
  dtlsState: DtlsState;
};

export type WebRtcTransportEvents = TransportEvents & {
  icestatechange: [IceState];
  iceselectedtuplechange: [TransportTuple];
  dtlsstatechange: [DtlsState];
  sctpstatechange: [SctpState];
};

export type WebRtcTransportObserverEvents = TransportObserverEvents & {
  icestatechange: [IceState];
  iceselectedtuplechange: [TransportTuple];
  dtlsstatechange: [DtlsState];
  sctpstatechange: [SctpState];
};

export type WebRtcTransportObserver = EnhancedEventEmitter<WebRtcTransportObserverEvents>;

export interface WebRtcTransport<WebRtcTransportAppData extends AppData = AppData>
  extends Transport<WebRtcTransportAppData, WebRtcTransportEvents, WebRtcTransportObserver> {
  get type(): 'webrtc';
  get observer(): WebRtcTransportObserver;
  get iceRole(): 'controlled';
  get iceParameters(): IceParameters;
  get iceCandidates(): IceCandidate[];
  get iceState(): IceState;
  get iceSelectedTuple(): TransportTuple | undefined;
  get dtlsParameters(): DtlsParameters;
  get dtlsState(): DtlsState;
  /** PEM of the remote DTLS certificate once connected. */
  get dtlsRemoteCert(): string | undefined;
  get sctpParameters(): SctpParameters | undefined;
  get sctpState(): SctpState | undefined;
  get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined;

  dump(): Promise<WebRtcTransportDump>;
  getStats(): Promise<WebRtcTransportStat[]>;
  /** Gives the remote DTLS parameters; DTLS starts once ICE connects. */
  connect(params: { dtlsParameters: DtlsParameters }): Promise<void>;
  /** New ICE username fragment and password for the client's ICE restart. */
  restartIce(): Promise<IceParameters>;
}
