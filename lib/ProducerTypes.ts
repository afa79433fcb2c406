/**
 * Producer: one media track an endpoint sends into a router.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { MediaKind, RtpParameters } from './RtpParameters';

export type ProducerOptions<ProducerAppData extends AppData = AppData> = {
  /** Reuse this id (pipe producers); a fresh UUID otherwise. */
  id?: string;
  kind: MediaKind;
  /** As given by mediasoup-client's `transport.produce()`. */
  rtpParameters: RtpParameters;
  /** Start paused. Default false. */
  paused?: boolean;
  /** Minimum ms between keyframe requests sent to the endpoint. Default 0. */
  keyFrameRequestDelay?: number;
  /** 3.27: add mediasoup's packet-id header extension. Accepted, unused. */
  enableMediasoupPacketIdHeaderExtension?: boolean;
  appData?: ProducerAppData;
};

/** 'simple': one stream; 'simulcast': several encodings; 'svc': layered stream. */
export type ProducerType = 'simple' | 'simulcast' | 'svc';

/** Quality of one received encoding, 0 (worst) to 10 (best). */
export type ProducerScore = {
  encodingIdx: number;
  ssrc: number;
  rid?: string;
  score: number;
};

/** From the urn:3gpp:video-orientation header extension (CVO). */
export type ProducerVideoOrientation = {
  camera: boolean;
  flip: boolean;
  /** Degrees: 0, 90, 180 or 270. */
  rotation: number;
};

export type ProducerDump = {
  id: string;
  kind: string;
  type: ProducerType;
  rtpParameters: RtpParameters;
  rtpMapping: any;
  rtpStreams: any;
  traceEventTypes: string[];
  paused: boolean;
};

/** Per-layer bitrates (bps), keyed "<spatial>.<temporal>". */
export type BitrateByLayer = {
  [key: string]: number;
};

/** What every RTP stream's stats entry carries. */
export type BaseRtpStreamStats = {
  timestamp: number;
  ssrc: number;
  rtxSsrc?: number;
  rid?: string;
  kind: string;
  mimeType: string;
  packetsLost: number;
  fractionLost: number;
  jitter: number;
  packetsDiscarded: number;
  packetsRetransmitted: number;
  packetsRepaired: number;
  nackCount: number;
  nackPacketCount: number;
  pliCount: number;
  firCount: number;
  roundTripTime?: number;
  rtxPacketsDiscarded?: number;
  score: number;
};

/** A received stream ('inbound-rtp'). */
export type RtpStreamRecvStats = BaseRtpStreamStats & {
  type: string;
  packetCount: number;
  byteCount: number;
  bitrate: number;
  bitrateByLayer: BitrateByLayer;
};

/** A sent stream ('outbound-rtp'). */
export type RtpStreamSendStats = BaseRtpStreamStats & {
  type: string;
  packetCount: number;
  byteCount: number;
  bitrate: number;
};

export type ProducerStat = RtpStreamRecvStats;

export type ProducerTraceEventType = 'rtp' | 'keyframe' | 'nack' | 'pli' | 'fir' | 'sr';

export type ProducerTraceEventData = {
  type: ProducerTraceEventType;
  timestamp: number;
  direction: 'in' | 'out';
  /** `any` as 3.14 declared it; the content depends on `type`. */
  info: any;
};

export type ProducerEvents = {
  transportclose: [];
  score: [ProducerScore[]];
  videoorientationchange: [ProducerVideoOrientation];
  trace: [ProducerTraceEventData];
  listenererror: [string, Error];
  '@close': [];
};

export type ProducerObserverEvents = {
  close: [];
  pause: [];
  resume: [];
  score: [ProducerScore[]];
  videoorientationchange: [ProducerVideoOrientation];
  trace: [ProducerTraceEventData];
};

export type ProducerObserver = EnhancedEventEmitter<ProducerObserverEvents>;

export interface Producer<ProducerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<ProducerEvents> {
  get id(): string;
  get closed(): boolean;
  get kind(): MediaKind;
  get rtpParameters(): RtpParameters;
  get type(): ProducerType;
  /** The parameters consumers are derived from (router payload types). */
  get consumableRtpParameters(): RtpParameters;
  get paused(): boolean;
  get score(): ProducerScore[];
  get appData(): ProducerAppData;
  set appData(appData: ProducerAppData);
  get observer(): ProducerObserver;

  /** Closes the producer; its consumers get 'producerclose'. */
  close(): void;
  /** Called by the owning Transport when it closes. */
  transportClosed(): void;
  dump(): Promise<ProducerDump>;
  getStats(): Promise<ProducerStat[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  enableTraceEvent(types?: ProducerTraceEventType[]): Promise<void>;
  /** DirectTransport producers only: injects an RTP packet. */
  send(rtpPacket: Buffer): void;
}
