/**
 * PlainTransport: plain RTP/RTCP (optionally SRTP) to tools such as FFmpeg or
 * GStreamer, without ICE or DTLS.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData, Either } from './indexTypes';
import type { NumSctpStreams, SctpNegotiatedCapabilities, SctpParameters } from './SctpParameters';
import type { SrtpCryptoSuite, SrtpParameters } from './SrtpParameters';
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

type PlainTransportListenInfo = {
  listenInfo: TransportListenInfo;
  /** Separate RTCP socket when rtcpMux is false. */
  rtcpListenInfo?: TransportListenInfo;
};

type PlainTransportListenIp = {
  /** Deprecated form of `listenInfo`. */
  listenIp: TransportListenIp | string;
  port?: number;
};

type PlainTransportListen = Either<PlainTransportListenInfo, PlainTransportListenIp>;

export type PlainTransportOptions<PlainTransportAppData extends AppData = AppData> = {
  /** RTP and RTCP on one port. Default true. */
  rtcpMux?: boolean;
  /** Learn the remote address from the first packet received. Default false. */
  comedia?: boolean;
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
  /** Default false. */
  enableSrtp?: boolean;
  /** Default 'AES_CM_128_HMAC_SHA1_80'. */
  srtpCryptoSuite?: SrtpCryptoSuite;
  appData?: PlainTransportAppData;
} & PlainTransportListen;

/** 3.14 exported the transport's initial state under this name. */
export type PlainTransportData = {
  rtcpMux?: boolean;
  comedia?: boolean;
  tuple: TransportTuple;
  rtcpTuple?: TransportTuple;
  sctpParameters?: SctpParameters;
  sctpState?: SctpState;
  srtpParameters?: SrtpParameters;
};

export type PlainTransportDump = BaseTransportDump & {
  rtcpMux: boolean;
  comedia: boolean;
  tuple: TransportTuple;
  rtcpTuple?: TransportTuple;
  srtpParameters?: SrtpParameters;
};

export type PlainTransportStat = BaseTransportStats & {
  type: string;
  rtcpMux: boolean;
  comedia: boolean;
  tuple: TransportTuple;
  rtcpTuple?: TransportTuple;
};

export type PlainTransportEvents = TransportEvents & {
  /** comedia learned the remote RTP address. */
  tuple: [TransportTuple];
  rtcptuple: [TransportTuple];
  sctpstatechange: [SctpState];
};

export type PlainTransportObserverEvents = TransportObserverEvents & {
  tuple: [TransportTuple];
  rtcptuple: [TransportTuple];
  sctpstatechange: [SctpState];
};

export type PlainTransportObserver = EnhancedEventEmitter<PlainTransportObserverEvents>;

export interface PlainTransport<PlainTransportAppData extends AppData = AppData>
  extends Transport<PlainTransportAppData, PlainTransportEvents, PlainTransportObserver> {
  get type(): 'plain';
  get observer(): PlainTransportObserver;
  get tuple(): TransportTuple;
  get rtcpTuple(): TransportTuple | undefined;
  get sctpParameters(): SctpParameters | undefined;
  get sctpState(): SctpState | undefined;
  get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined;
  /** Local SRTP keying to hand to the remote side, when SRTP is on. */
  get srtpParameters(): SrtpParameters | undefined;

  dump(): Promise<PlainTransportDump>;
  getStats(): Promise<PlainTransportStat[]>;
  /** Remote address (unless comedia) and remote SRTP keying. */
  connect(params: {
    ip?: string;
    port?: number;
    rtcpPort?: number;
    srtpParameters?: SrtpParameters;
  }): Promise<void>;
}
