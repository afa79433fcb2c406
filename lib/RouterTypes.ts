/**
 * Router: a media room. Producers and consumers of all its transports meet
 * here; RTP flows only within a router (or between routers via pipes).
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData, Either } from './indexTypes';
import type {
  RtpCapabilities,
  RtpCapabilitiesWithPayloadTypes,
  RouterRtpCodecCapability,
} from './RtpParameters';
import type { NumSctpStreams } from './SctpParameters';
import type { Transport, TransportListenInfo, TransportListenIp } from './TransportTypes';
import type { WebRtcTransport, WebRtcTransportOptions } from './WebRtcTransportTypes';
import type { PlainTransport, PlainTransportOptions } from './PlainTransportTypes';
import type { PipeTransport, PipeTransportOptions } from './PipeTransportTypes';
import type { DirectTransport, DirectTransportOptions } from './DirectTransportTypes';
import type { Producer } from './ProducerTypes';
import type { Consumer } from './ConsumerTypes';
import type { DataProducer } from './DataProducerTypes';
import type { DataConsumer } from './DataConsumerTypes';
import type { RtpObserver } from './RtpObserverTypes';
import type {
  ActiveSpeakerObserver,
  ActiveSpeakerObserverOptions,
} from './ActiveSpeakerObserverTypes';
import type { AudioLevelObserver, AudioLevelObserverOptions } from './AudioLevelObserverTypes';

export type RouterOptions<RouterAppData extends AppData = AppData> = {
  /**
   * Codecs the router offers. Payload types may be omitted (one is
   * assigned); a 3.14 `RtpCodecCapability[]` list is accepted as is.
   */
  mediaCodecs?: RouterRtpCodecCapability[];
  appData?: RouterAppData;
};

type PipeToRouterListenInfo = {
  listenInfo: TransportListenInfo;
};

type PipeToRouterListenIp = {
  /** Deprecated in favour of `listenInfo`. Default '127.0.0.1'. */
  listenIp?: TransportListenIp | string;
};

type PipeToRouterListen = Either<PipeToRouterListenInfo, PipeToRouterListenIp>;

/** Options of `router.pipeToRouter()`: give a producerId or a dataProducerId. */
export type PipeToRouterOptions = {
  producerId?: string;
  dataProducerId?: string;
  /** Destination router (same or another worker). */
  router: Router;
  /** 3.27: reuse the original ids for the pipe producer and consumer. */
  keepId?: boolean;
  /** Default true. */
  enableSctp?: boolean;
  /** 3.14 option; accepted and ignored (stream counts are fixed). */
  numSctpStreams?: NumSctpStreams;
  maxSendMessageSize?: number;
  maxReceiveMessageSize?: number;
  sctpSendBufferSize?: number;
  sctpPerStreamSendQueueLimit?: number;
  sctpMaxReceiverWindowBufferSize?: number;
  sctpDefaultStreamBufferedAmountLowThreshold?: number;
  /** Default false. */
  enableRtx?: boolean;
  /** Default false. */
  enableSrtp?: boolean;
} & PipeToRouterListen;

export type PipeToRouterResult = {
  pipeConsumer?: Consumer;
  pipeProducer?: Producer;
  pipeDataConsumer?: DataConsumer;
  pipeDataProducer?: DataProducer;
};

/** Pipe transports between two routers, keyed by router id. */
export type PipeTransportPair = {
  [key: string]: PipeTransport;
};

/** Arguments of `router.canConsume()`. */
export type CanConsumeOptions = {
  producerId: string;
  rtpCapabilities: RtpCapabilities;
};

export type RouterDump = {
  id: string;
  transportIds: string[];
  rtpObserverIds: string[];
  mapProducerIdConsumerIds: { key: string; values: string[] }[];
  mapConsumerIdProducerId: { key: string; value: string }[];
  mapProducerIdObserverIds: { key: string; values: string[] }[];
  mapDataProducerIdDataConsumerIds: { key: string; values: string[] }[];
  mapDataConsumerIdDataProducerId: { key: string; value: string }[];
};

export type RouterEvents = {
  workerclose: [];
  listenererror: [string, Error];
  '@close': [];
};

export type RouterObserverEvents = {
  close: [];
  newtransport: [Transport];
  newrtpobserver: [RtpObserver];
};

export type RouterObserver = EnhancedEventEmitter<RouterObserverEvents>;

export interface Router<RouterAppData extends AppData = AppData>
  extends EnhancedEventEmitter<RouterEvents> {
  get id(): string;
  get closed(): boolean;
  /** What the router can receive and send; every codec has its payload type. */
  get rtpCapabilities(): RtpCapabilitiesWithPayloadTypes;
  get appData(): RouterAppData;
  set appData(appData: RouterAppData);
  get observer(): RouterObserver;

  /** Closes the router and everything in it. */
  close(): void;
  /** Called by the owning Worker when it closes. */
  workerClosed(): void;
  dump(): Promise<RouterDump>;
  createWebRtcTransport<WebRtcTransportAppData extends AppData = AppData>(
    options: WebRtcTransportOptions<WebRtcTransportAppData>,
  ): Promise<WebRtcTransport<WebRtcTransportAppData>>;
  createPlainTransport<PlainTransportAppData extends AppData = AppData>(
    options: PlainTransportOptions<PlainTransportAppData>,
  ): Promise<PlainTransport<PlainTransportAppData>>;
  createPipeTransport<PipeTransportAppData extends AppData = AppData>(
    options: PipeTransportOptions<PipeTransportAppData>,
  ): Promise<PipeTransport<PipeTransportAppData>>;
  createDirectTransport<DirectTransportAppData extends AppData = AppData>(
    options?: DirectTransportOptions<DirectTransportAppData>,
  ): Promise<DirectTransport<DirectTransportAppData>>;
  /** Makes a producer (or data producer) of this router consumable in another. */
  pipeToRouter(options: PipeToRouterOptions): Promise<PipeToRouterResult>;
  createActiveSpeakerObserver<ActiveSpeakerObserverAppData extends AppData = AppData>(
    options?: ActiveSpeakerObserverOptions<ActiveSpeakerObserverAppData>,
  ): Promise<ActiveSpeakerObserver<ActiveSpeakerObserverAppData>>;
  createAudioLevelObserver<AudioLevelObserverAppData extends AppData = AppData>(
    options?: AudioLevelObserverOptions<AudioLevelObserverAppData>,
  ): Promise<AudioLevelObserver<AudioLevelObserverAppData>>;
  /** Whether an endpoint with these capabilities can consume the producer. */
  canConsume(options: CanConsumeOptions): boolean;
  /** 3.27: replaces the router's codec list (existing producers keep theirs). */
  updateMediaCodecs(mediaCodecs: RouterRtpCodecCapability[]): void;
}
