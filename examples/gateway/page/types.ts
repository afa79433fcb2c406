// What the page shows, independent of how the call carries it (P2P or SFU).

export type CallMode = 'p2p' | 'sfu';

export interface MediaState {
  audio: boolean;
  video: boolean;
  screen: boolean;
}

export interface ParticipantView {
  id: string;
  displayName: string;
  media: MediaState;
}

/** The latest quality figures, worst stream first; undefined fields are unknown yet. */
export interface QualityView {
  bitrateKbps?: number;
  packetLossPercent?: number;
  rttMs?: number;
  jitterMs?: number;
}

export interface ChatMessageView {
  id: string;
  participantId: string;
  text: string;
  sentAt: number;
}

/** Fetched from the gateway's /config.json before joining. */
export interface GatewayConfig {
  iceServers: RTCIceServer[];
  p2pParticipantLimit: number;
}
