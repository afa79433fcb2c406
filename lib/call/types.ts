/**
 * Plain data shared by the call layer: what the store persists, what the
 * Socket.IO binding sends, what clients receive. Everything here is JSON-safe
 * on purpose, so that the Redis store and cross-node forwarding need no
 * custom serialization.
 */

/** `direct`: a one-to-one conversation; `group`: any number of people. */
export type ConversationType = 'direct' | 'group';

/** `p2p`: browsers connect to each other (mesh); `sfu`: media goes through a router. */
export type CallMode = 'p2p' | 'sfu';

export type ParticipantRole = 'host' | 'participant' | 'viewer';

export interface MediaState {
  audio: boolean;
  video: boolean;
  screen: boolean;
}

export interface ParticipantState {
  id: string;
  role: ParticipantRole;
  media: MediaState;
  displayName?: string;
  joinedAt: number;
  /** The gateway node whose socket this participant is connected to. */
  nodeId: string;
}

/** What started a transition. */
export type TransitionTrigger =
  | 'participant-joined'
  | 'participant-left'
  | 'quality-degraded'
  | 'media-server-lost'
  | 'node-takeover';

export interface TransitionState {
  id: string;
  from: CallMode;
  to: CallMode;
  trigger: TransitionTrigger;
  initiator?: string;
  startedAt: number;
  /** Participants whose acknowledgement is still awaited. */
  pending: string[];
}

export interface CallState {
  id: string;
  conversationType: ConversationType;
  mode: CallMode;
  /** Per-call override of the service's P2P limit, fixed when the call is created. */
  p2pParticipantLimit: number;
  participants: ParticipantState[];
  transition: TransitionState | null;
  /** Node that runs this call's timers and owns its router (if any). */
  ownerNodeId: string;
  /** Router id while the call has one (SFU mode or pre-warmed). */
  routerId: string | null;
  prewarmed: boolean;
  createdAt: number;
  updatedAt: number;
  lastTransitionAt: number | null;
}

export interface ChatMessage {
  id: string;
  callId: string;
  participantId: string;
  text: string;
  sentAt: number;
}

/**
 * One quality report, as a client derives it from `RTCPeerConnection.getStats()`
 * (for the worst of its inbound/outbound streams).
 */
export interface QualitySample {
  /** Fraction of packets lost, in percent (0-100). */
  packetLossPercent: number;
  rttMs: number;
  bitrateKbps: number;
}

/** A gateway process, as registered in the store with a heartbeat. */
export interface NodeInfo {
  id: string;
  /** Address announced in this node's ICE candidates (informational). */
  announcedAddress?: string;
}
