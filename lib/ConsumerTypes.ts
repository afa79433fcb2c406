/**
 * Consumer: one producer's media as sent to one endpoint.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type {
  MediaKind,
  RtpCapabilities,
  RtpEncodingParameters,
  RtpParameters,
} from './RtpParameters';
import type { ProducerStat, RtpStreamSendStats } from './ProducerTypes';

export type ConsumerOptions<ConsumerAppData extends AppData = AppData> = {
  producerId: string;
  /** The receiving endpoint's capabilities (mediasoup-client device). */
  rtpCapabilities: RtpCapabilities;
  /**
   * Start paused (recommended for video: resume once the client is ready,
   * so the first frame is a requested keyframe). Default false.
   */
  paused?: boolean;
  /** MID for the consumer; a sequential one per transport otherwise. */
  mid?: string;
  /** Initial layers for simulcast/SVC. Default the highest. */
  preferredLayers?: ConsumerLayers;
  /** Default true for video when the endpoint supports RTX. */
  enableRtx?: boolean;
  /** Forward DTX packets from the producer. Default false. */
  ignoreDtx?: boolean;
  /** Forward all of the producer's streams verbatim (pipe consumer). */
  pipe?: boolean;
  appData?: ConsumerAppData;
};

export type ConsumerType = 'simple' | 'simulcast' | 'svc' | 'pipe';

/** 0 (worst) to 10 (best). */
export type ConsumerScore = {
  /** Of the stream sent to the endpoint. */
  score: number;
  /** Of the producer stream currently forwarded. */
  producerScore: number;
  /** Of every producer stream (simulcast: one per encoding). */
  producerScores: number[];
};

export type ConsumerLayers = {
  spatialLayer: number;
  /** Highest when absent. */
  temporalLayer?: number;
};

export type RtpStreamParametersDump = {
  encodingIdx: number;
  ssrc: number;
  payloadType: number;
  mimeType: string;
  clockRate: number;
  rid?: string;
  cname: string;
  rtxSsrc?: number;
  rtxPayloadType?: number;
  useNack: boolean;
  usePli: boolean;
  useFir: boolean;
  useInBandFec: boolean;
  useDtx: boolean;
  spatialLayers: number;
  temporalLayers: number;
};

export type RtxStreamParameters = {
  ssrc: number;
  payloadType: number;
  mimeType: string;
  clockRate: number;
  rrid?: string;
  cname: string;
};

export type RtxStreamDump = {
  params: RtxStreamParameters;
};

export type RtpStreamDump = {
  params: RtpStreamParametersDump;
  score: number;
  rtxStream?: RtxStreamDump;
};

export type BaseConsumerDump = {
  id: string;
  producerId: string;
  kind: MediaKind;
  rtpParameters: RtpParameters;
  consumableRtpEncodings?: RtpEncodingParameters[];
  supportedCodecPayloadTypes: number[];
  traceEventTypes: string[];
  paused: boolean;
  producerPaused: boolean;
  priority: number;
};

export type SimpleConsumerDump = BaseConsumerDump & {
  type: string;
  rtpStream: RtpStreamDump;
};

export type SimulcastConsumerDump = BaseConsumerDump & {
  type: string;
  rtpStream: RtpStreamDump;
  preferredSpatialLayer: number;
  targetSpatialLayer: number;
  currentSpatialLayer: number;
  preferredTemporalLayer: number;
  targetTemporalLayer: number;
  currentTemporalLayer: number;
};

export type SvcConsumerDump = SimulcastConsumerDump;

export type PipeConsumerDump = BaseConsumerDump & {
  type: string;
  rtpStreams: RtpStreamDump[];
};

export type ConsumerDump =
  | SimpleConsumerDump
  | SimulcastConsumerDump
  | SvcConsumerDump
  | PipeConsumerDump;

export type ConsumerStat = RtpStreamSendStats;

export type ConsumerTraceEventType = 'rtp' | 'keyframe' | 'nack' | 'pli' | 'fir';

export type ConsumerTraceEventData = {
  type: ConsumerTraceEventType;
  timestamp: number;
  direction: 'in' | 'out';
  /** `any` as 3.14 declared it; the content depends on `type`. */
  info: any;
};

export type ConsumerEvents = {
  transportclose: [];
  producerclose: [];
  producerpause: [];
  producerresume: [];
  score: [ConsumerScore];
  /** Undefined when no layer is being forwarded. */
  layerschange: [ConsumerLayers?];
  trace: [ConsumerTraceEventData];
  /** DirectTransport consumers only: an RTP packet for the Node side. */
  rtp: [Buffer];
  listenererror: [string, Error];
  '@close': [];
  '@producerclose': [];
};

export type ConsumerObserverEvents = {
  close: [];
  pause: [];
  resume: [];
  score: [ConsumerScore];
  layerschange: [ConsumerLayers?];
  trace: [ConsumerTraceEventData];
};

export type ConsumerObserver = EnhancedEventEmitter<ConsumerObserverEvents>;

export interface Consumer<ConsumerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<ConsumerEvents> {
  get id(): string;
  get producerId(): string;
  get closed(): boolean;
  get kind(): MediaKind;
  /** What to give mediasoup-client's `transport.consume()`. */
  get rtpParameters(): RtpParameters;
  get type(): ConsumerType;
  get paused(): boolean;
  get producerPaused(): boolean;
  /** Share of available bandwidth relative to other consumers. Default 1. */
  get priority(): number;
  get score(): ConsumerScore;
  get preferredLayers(): ConsumerLayers | undefined;
  get currentLayers(): ConsumerLayers | undefined;
  get appData(): ConsumerAppData;
  set appData(appData: ConsumerAppData);
  get observer(): ConsumerObserver;

  close(): void;
  /** Called by the owning Transport when it closes. */
  transportClosed(): void;
  dump(): Promise<ConsumerDump>;
  /** The consumer's stream, plus the producer's when known. */
  getStats(): Promise<(ConsumerStat | ProducerStat)[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  setPreferredLayers(layers: ConsumerLayers): Promise<void>;
  setPriority(priority: number): Promise<void>;
  unsetPriority(): Promise<void>;
  requestKeyFrame(): Promise<void>;
  enableTraceEvent(types?: ConsumerTraceEventType[]): Promise<void>;
}
