// Shapes exchanged between the call tests and the call page (shared by
// ts-jest and esbuild).

/**
 * The call page's fake shared screen (a canvas): 16:9, where the camera is
 * 4:3, so that the aspect ratio tells which one a page decodes even when the
 * encoder scales it down.
 */
export const CALL_SCREEN_SIZE = { width: 640, height: 360 } as const;

export interface CallPageJoinOptions {
  /** Gateway's Socket.IO URL (another origin than the page: websocket transport only). */
  url: string;
  callId: string;
  participantId: string;
  width?: number;
  height?: number;
  frameRate?: number;
  toneHz?: number;
  qualityIntervalMs?: number;
  /**
   * Let socket.io-client reconnect after a drop (quickly: 200 ms to 1 s
   * between attempts), so that the client rejoins. Default: no reconnection.
   */
  reconnect?: boolean;
  /** P2P limit of the call, when this join creates it. */
  p2pParticipantLimit?: number;
  /** The client's `sfuVideoEncodings` (simulcast on the SFU path). */
  sfuVideoEncodings?: { scaleResolutionDownBy?: number; maxBitrate?: number; scalabilityMode?: string }[];
}

/** The client's reconnect events, as the page saw them. */
export interface CallPageReconnectEvent {
  event: 'reconnecting' | 'reconnected';
  reason?: string;
  seatKept?: boolean;
  at: number;
}

export interface CallPageTransition {
  transitionId: string;
  from: string;
  to: string;
  trigger: string;
  success: boolean;
  mode: string;
  reason?: string;
  /** mode-switch to mode-switched as the page saw it. */
  durationMs: number;
  /** Milestones in ms from mode-switch (see TransitionResult.timeline). */
  timeline: Record<string, number>;
}

export interface CallPageState {
  participantId: string | null;
  mode: string;
  isTransitioning: boolean;
  participants: string[];
  /** Remote participants' `media.screen`, as the call state says. */
  sharingScreen: Record<string, boolean>;
  transitions: CallPageTransition[];
  quality: { packetLossPercent: number; rttMs: number; bitrateKbps: number } | null;
  /** 'remotestream' events per participant: 1 means the stream object never changed. */
  remoteStreamEvents: Record<string, number>;
  /** Whether each participant's <video> still shows the stream it got first. */
  sameStreamObject: Record<string, boolean>;
  reconnects: CallPageReconnectEvent[];
  /** The client's `icerestart` events: the SFU transports (by direction) that restarted ICE. */
  iceRestarts: string[];
  /** Every 'activespeaker' event: the participant, or null for nobody. */
  speakers: (string | null)[];
  chat: { participantId: string; text: string }[];
  errors: string[];
}

export interface CallPageRemote {
  participantId: string;
  kind: 'audio' | 'video';
  mode: string;
  sourceId: string;
  packetsReceived: number;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
}

/** Per remote participant, over one monitoring window. */
export interface GapFigures {
  /** Longest time without framesDecoded progress of the rendered video (getStats sampled every intervalMs). */
  maxDecodeGapMs: number;
  /** Longest time between two frames presented by its <video> element (requestVideoFrameCallback). */
  maxPresentGapMs: number;
  samples: number;
  /** Rendered sources seen, in order (a switch adds one). */
  sources: string[];
  /** Longest time one getStats sample took (what limits the resolution of maxDecodeGapMs). */
  maxSampleMs: number;
}
