/**
 * SCTP (DataChannel) shapes. 3.14 and 3.27 differ in what they report about
 * an association; the types carry the fields of both so that code written
 * for either reads what it expects.
 */

/** What an endpoint's SCTP stack supports (mediasoup-client sends this). */
export type SctpCapabilities = {
  numStreams: NumSctpStreams;
};

/**
 * Outgoing (OS) and maximum incoming (MIS) stream counts. 3.14 accepted this
 * as `numSctpStreams` when creating transports; 3.27 dropped the option but
 * still reports OS and MIS in `SctpParameters`.
 */
export type NumSctpStreams = {
  OS: number;
  MIS: number;
};

/** A transport's SCTP association parameters, handed to the remote endpoint. */
export type SctpParameters = {
  /** Always 5000, as in mediasoup. */
  port: number;
  OS: number;
  MIS: number;
  /** Largest message accepted in either direction (bytes). */
  maxMessageSize: number;
  // 3.27 reports the rest too (and split `maxMessageSize` into a send and a
  // receive limit); they are required so 3.27 code reads plain numbers.
  maxSendMessageSize: number;
  maxReceiveMessageSize: number;
  sendBufferSize: number;
  perStreamSendQueueLimit: number;
  maxReceiverWindowBufferSize: number;
  /** True when created for a WebRtcTransport (DataChannel framing). */
  isDataChannel: boolean;
};

/** 3.14's `dump()` form of SctpParameters. */
export type SctpParametersDump = {
  port: number;
  OS: number;
  MIS: number;
  maxMessageSize: number;
  sendBufferSize: number;
  sctpBufferedAmount: number;
  isDataChannel: boolean;
};

/** Stream counts agreed with the remote endpoint once SCTP is connected. */
export type SctpNegotiatedCapabilities = {
  negotiatedMaxOutboundStreams: number;
  negotiatedMaxInboundStreams: number;
};

/**
 * One SCTP stream (DataChannel). Reliable and ordered unless one of
 * `maxPacketLifeTime` / `maxRetransmits` is given (never both).
 */
export type SctpStreamParameters = {
  streamId: number;
  ordered?: boolean;
  /** Milliseconds. */
  maxPacketLifeTime?: number;
  maxRetransmits?: number;
};
