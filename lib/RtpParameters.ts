/**
 * RTP capability and parameter shapes, as mediasoup-client and gateways
 * exchange them (ORTC style, no SDP).
 *
 * These types serve code written against mediasoup 3.14 and against 3.27 at
 * once. Where the two versions disagree, the type here is the one both kinds
 * of code compile against: usually the wider of the two for input, and a
 * field present in either version for output.
 */

export type MediaKind = 'audio' | 'video';

/**
 * What an endpoint (or a router) can receive.
 */
export type RtpCapabilities = {
  codecs?: RtpCodecCapability[];
  headerExtensions?: RtpHeaderExtension[];
};

/**
 * One codec an endpoint or router can handle, with the parameters that make
 * it distinct (H264 profile and packetization mode, VP9 profile, ...).
 *
 * `preferredPayloadType` is optional: 3.14 declared it so, and 3.14 gateways
 * list router `mediaCodecs` as `RtpCodecCapability[]` without payload types
 * (the router picks them). 3.27 made it required here and moved the optional
 * form to `RouterRtpCodecCapability`; with the field optional, both styles
 * compile. A router's own capabilities always carry it: see
 * `RtpCapabilitiesWithPayloadTypes`.
 */
export type RtpCodecCapability = {
  kind: MediaKind;
  /** e.g. 'audio/opus', 'video/VP8'. */
  mimeType: string;
  /** In 96..127 when given. */
  preferredPayloadType?: number;
  /** Hertz. */
  clockRate: number;
  /** Audio only; 1 when absent. */
  channels?: number;
  /**
   * Codec parameters (fmtp). `any` rather than `Record<string, unknown>`
   * because 3.14 declared `any`, and gateways index into it directly
   * (`codec.parameters['profile-level-id']`); 3.27 code reading it as a record
   * compiles either way.
   */
  parameters?: any;
  rtcpFeedback?: RtcpFeedback[];
};

/**
 * The codec entries of `RouterOptions.mediaCodecs` (3.27's name). Identical to
 * `RtpCodecCapability` here, so values move between the two names freely.
 */
export type RouterRtpCodecCapability = RtpCodecCapability;

/**
 * 3.27's name for capabilities whose codecs may lack payload types
 * (`getSupportedRtpCapabilities()`). Identical to `RtpCapabilities` here.
 */
export type RouterRtpCapabilities = RtpCapabilities;

/** A codec capability after the router assigned its payload type. */
export type RtpCodecCapabilityWithPayloadType = RtpCodecCapability & {
  preferredPayloadType: number;
};

/**
 * `router.rtpCapabilities`: every codec has its payload type, so code written
 * for 3.27 (where the field is required) can read it as a `number`. Still
 * assignable to `RtpCapabilities` wherever that is expected.
 */
export type RtpCapabilitiesWithPayloadTypes = Omit<RtpCapabilities, 'codecs'> & {
  codecs?: RtpCodecCapabilityWithPayloadType[];
};

export type RtpHeaderExtensionDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/**
 * A header extension an endpoint or router supports. `direction` only has a
 * meaning in the router's capabilities; endpoints' values are ignored.
 */
export type RtpHeaderExtension = {
  kind: MediaKind;
  uri: RtpHeaderExtensionUri;
  /** The id that goes in RTP packets; unique per kind. */
  preferredId: number;
  /** RFC 6904 encryption; not supported, kept for shape compatibility. */
  preferredEncrypt?: boolean;
  direction?: RtpHeaderExtensionDirection;
};

/**
 * Header extension URIs: the union of those 3.14 and 3.27 know, so a literal
 * valid for either version type-checks.
 */
export type RtpHeaderExtensionUri =
  | 'urn:ietf:params:rtp-hdrext:sdes:mid'
  | 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id'
  | 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id'
  | 'http://tools.ietf.org/html/draft-ietf-avtext-framemarking-07'
  | 'urn:ietf:params:rtp-hdrext:framemarking'
  | 'urn:ietf:params:rtp-hdrext:ssrc-audio-level'
  | 'urn:3gpp:video-orientation'
  | 'urn:ietf:params:rtp-hdrext:toffset'
  | 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'
  | 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'
  | 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time'
  | 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay'
  | 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension'
  | 'urn:mediasoup:params:rtp-hdrext:packet-id';

/**
 * Parameters of one RTP stream (with its simulcast/SVC encodings): what an
 * endpoint sends to a Producer, or what a Consumer sends to an endpoint.
 * A consumer's parameters never carry `mid` unless one was requested, and
 * always have fresh SSRCs of the server's choosing.
 */
export type RtpParameters = {
  /** BUNDLE MID value the transport uses to demultiplex incoming packets. */
  mid?: string;
  codecs: RtpCodecParameters[];
  headerExtensions?: RtpHeaderExtensionParameters[];
  encodings?: RtpEncodingParameters[];
  rtcp?: RtcpParameters;
  /** WebRTC MediaStream id (RFC 8830), "<stream id> <track id>". */
  msid?: string;
};

/** A codec in use within RtpParameters. */
export type RtpCodecParameters = {
  mimeType: string;
  /** Unique within the RtpParameters. */
  payloadType: number;
  clockRate: number;
  channels?: number;
  /** `any` for the same reason as `RtpCodecCapability.parameters`. */
  parameters?: any;
  rtcpFeedback?: RtcpFeedback[];
};

/** An RTCP feedback mechanism (e.g. `{ type: 'nack', parameter: 'pli' }`). */
export type RtcpFeedback = {
  type: string;
  parameter?: string;
};

/** One RTP stream (plus its RTX stream) within RtpParameters. */
export type RtpEncodingParameters = {
  ssrc?: number;
  /** RID header extension value; unique within the RtpParameters. */
  rid?: string;
  /** The media codec this encoding uses; the first one when absent. */
  codecPayloadType?: number;
  rtx?: { ssrc: number };
  /** Discontinuous transmission: silences RTP inactivity checks. */
  dtx?: boolean;
  /** e.g. 'L1T3', 'L3T3_KEY', 'S3T3'. */
  scalabilityMode?: string;
  /** Present in 3.14's shape (browsers send it); ignored by the server. */
  scaleResolutionDownBy?: number;
  /** Bits per second. */
  maxBitrate?: number;
};

/** A header extension in use within RtpParameters. */
export type RtpHeaderExtensionParameters = {
  uri: RtpHeaderExtensionUri;
  id: number;
  encrypt?: boolean;
  /** `any` as in 3.14; no parameters are interpreted today. */
  parameters?: any;
};

/**
 * RTCP settings. A producer without `cname` gets one chosen by its
 * transport. Reduced-size RTCP is always assumed.
 */
export type RtcpParameters = {
  cname?: string;
  reducedSize?: boolean;
};
