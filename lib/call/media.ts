/**
 * The part of mediasoup's API the call layer uses, as structural types.
 *
 * Coding against these (instead of importing opencall's own classes) keeps
 * the call layer independent of the native addon: unit tests drive it with a
 * fake media plane, and a gateway could even hand it real mediasoup workers.
 * Parameter objects are opaque here: the call layer only carries them between
 * the client and the router, so they are `any` (mediasoup's own interfaces,
 * lacking index signatures, would not fit a `Record` type).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Params = any;

export interface MediaProducer {
  readonly id: string;
  readonly kind: string;
  readonly closed: boolean;
  readonly appData: Params;
  readonly paused: boolean;
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): void;
  on(event: 'transportclose', listener: () => void): unknown;
}

export interface MediaConsumer {
  readonly id: string;
  readonly producerId: string;
  readonly kind: string;
  readonly rtpParameters: Params;
  readonly type?: string;
  readonly producerPaused?: boolean;
  readonly paused: boolean;
  readonly closed: boolean;
  resume(): Promise<void>;
  close(): void;
  on(event: 'transportclose' | 'producerclose', listener: () => void): unknown;
}

export interface MediaWebRtcTransport {
  readonly id: string;
  readonly iceParameters: Params;
  readonly iceCandidates: Params[];
  readonly dtlsParameters: Params;
  readonly sctpParameters?: Params;
  readonly closed: boolean;
  connect(options: { dtlsParameters: Params }): Promise<void>;
  /** New ICE credentials (mediasoup's `restartIce()`): the client restarts ICE with them. */
  restartIce(): Promise<Params>;
  produce(options: { kind: string; rtpParameters: Params; paused?: boolean; appData?: Params }): Promise<MediaProducer>;
  consume(options: { producerId: string; rtpCapabilities: Params; paused?: boolean }): Promise<MediaConsumer>;
  close(): void;
}

export interface MediaRouter {
  readonly id: string;
  readonly rtpCapabilities: Params;
  readonly closed: boolean;
  createWebRtcTransport(options: Params): Promise<MediaWebRtcTransport>;
  canConsume(options: { producerId: string; rtpCapabilities: Params }): boolean;
  /**
   * Makes a producer of this router consumable on another (on another
   * worker), keeping its id. Optional: without it a call stays on one router.
   */
  pipeToRouter?(options: { producerId?: string; router: MediaRouter }): Promise<unknown>;
  close(): void;
}

export interface MediaWorker {
  readonly pid: number;
  readonly closed: boolean;
  createRouter(options: { mediaCodecs?: Params[] }): Promise<MediaRouter>;
  /** CPU time used so far, in ms (mediasoup's `ru_utime` + `ru_stime`): how busy it is. */
  getResourceUsage?(): Promise<{ ru_utime: number; ru_stime: number }>;
  on(event: 'died', listener: (error: Error) => void): unknown;
  close(): void;
}

/** mediasoup's `createWorker`, or anything shaped like it. */
export type MediaWorkerFactory = (settings?: Params) => Promise<MediaWorker>;

/**
 * The default factory: opencall's own `createWorker`. Loaded on first use so
 * that importing `opencall/call` (or running its unit tests) never loads the
 * native addon.
 */
export const defaultWorkerFactory: MediaWorkerFactory = async (settings) => {
  // A type-only view of the module: tsc checks here that opencall's own
  // classes fit the interfaces above, while `require` defers the native load.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const media = require('../index') as typeof import('../index');
  return media.createWorker(settings);
};

/** The codecs a call's router offers unless the gateway configures others. */
export const DEFAULT_MEDIA_CODECS: Params[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];
