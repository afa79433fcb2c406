// Shapes exchanged between the test process and the test pages. Type-only, so
// both ts-jest (Node side) and esbuild (page side) can import it.

/** Receive-side figures of one remote track, read from RTCPeerConnection.getStats(). */
export interface RemoteTrackStats {
  /** Consumer id (SFU page) or remote track id (P2P page). */
  id: string;
  kind: 'audio' | 'video';
  /** 'live' or 'ended': MediaStreamTrack.readyState in the page. */
  trackState: string;
  packetsReceived: number;
  bytesReceived: number;
  /** Video only. */
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  /** Audio only: 0..1, non-zero only while the track plays in an <audio> element. */
  audioLevel: number;
  totalAudioEnergy: number;
  /** performance.now() in the page when the first video frame was presented, if any. */
  firstFrameAt: number | null;
}

/** Local capture settings for a participant page. */
export interface LocalMediaOptions {
  width?: number;
  height?: number;
  frameRate?: number;
  /** Frequency of the steady test tone sent as the audio track. */
  toneHz?: number;
}

/** Options of window.e2e.join() on the SFU page. */
export interface SfuJoinOptions extends LocalMediaOptions {
  /** Ask the server for TCP-only ICE candidates. */
  tcpOnly?: boolean;
  /** Produce audio / video (both by default). */
  audio?: boolean;
  video?: boolean;
  /**
   * Producers to consume as soon as the receive transport exists, before
   * this page's own capture and produce: a participant joining a call in
   * progress, whose first frames are timed from the start of join().
   */
  consume?: string[];
  /** Send video as two simulcast encodings (half and full resolution). */
  simulcast?: boolean;
  /** Send video as one encoding of this scalability mode (e.g. L2T3_KEY: SVC). */
  scalabilityMode?: string;
  /** Create both transports with SCTP, for data channels. */
  data?: boolean;
}

/** A data channel message as a page received it. */
export interface DataMessage {
  /** The DataConsumer's label. */
  label: string;
  /** Text, or the bytes of a binary message as numbers. */
  text?: string;
  bytes?: number[];
}

export interface SfuJoinResult {
  audioProducerId: string | null;
  videoProducerId: string | null;
  /** Milliseconds spent in Device.load() and getUserMedia, for the report. */
  deviceLoadMs: number;
  getUserMediaMs: number;
}

/** Options of window.e2e.consume() on the SFU page. */
export interface SfuConsumeOptions {
  /** Keep the consumer paused (server and client side) after creating it. */
  paused?: boolean;
}
