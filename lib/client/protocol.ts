/**
 * The wire protocol of `opencall/call` (documented in the README, "The call layer"), as the
 * browser sees it. The shared state shapes come from the server's own types
 * (type-only: nothing of the server is bundled), so both sides stay in step.
 */
import type { Socket } from 'socket.io-client';
import type { types as ms } from 'mediasoup-client';
import type {
  CallMode,
  CallState,
  ChatMessage,
  ConversationType,
  MediaState,
  ParticipantRole,
  ParticipantState,
  QualitySample,
  TransitionTrigger,
} from '../call/types';

export type {
  CallMode,
  CallState,
  ChatMessage,
  ConversationType,
  MediaState,
  ParticipantRole,
  ParticipantState,
  QualitySample,
  TransitionTrigger,
};

export interface ProducerInfo {
  producerId: string;
  participantId: string;
  kind: ms.MediaKind;
  appData: Record<string, unknown>;
}

export interface JoinResponse {
  participantId: string;
  call: CallState;
  rtpCapabilities?: ms.RtpCapabilities;
  producers: ProducerInfo[];
  chatHistory: ChatMessage[];
}

export interface TransportInfo {
  id: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
  sctpParameters?: ms.SctpParameters;
}

export interface ConsumerInfo {
  id: string;
  producerId: string;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  type?: string;
  producerPaused?: boolean;
}

export interface ModeSwitchPayload {
  callId: string;
  transitionId: string;
  mode: CallMode;
  trigger: TransitionTrigger;
  rtpCapabilities?: ms.RtpCapabilities;
  initiator?: string;
}

export interface ModeSwitchedPayload {
  callId: string;
  transitionId: string;
  success: boolean;
  mode: CallMode;
  reason?: string;
}

/** P2P signaling as relayed by the server (`from` added, `to` removed). */
export interface RelayedOffer {
  callId: string;
  from: string;
  sdp: string;
  /** The sender's connection generation: a new one means it rebuilt its RTCPeerConnection. */
  generation: string;
  /** Numbers the offers of one connection (a resent offer keeps its number). */
  offerId?: number;
}
export interface RelayedAnswer {
  callId: string;
  from: string;
  sdp: string;
  generation: string;
  /** The offer it answers. */
  offerId?: number;
}
export interface RelayedCandidate {
  callId: string;
  from: string;
  candidate: RTCIceCandidateInit | null;
  generation: string;
}

export interface WireError {
  code: string;
  message: string;
}

/** A refused request: `code` is the server's (`NOT_IN_CALL`, `NO_ROUTER`, ...). */
export class CallRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly event: string,
  ) {
    super(`${event}: ${message}`);
    this.name = 'CallRequestError';
  }
}

type Answer = ({ ok: true } & Record<string, unknown>) | { ok: false; error: WireError };

/** Sends a client → server event and resolves with its acknowledgement, or throws the server's error. */
export async function request<T>(socket: Socket, event: string, payload: object, timeoutMs: number): Promise<T> {
  let answer: Answer;
  try {
    answer = (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as Answer;
  } catch {
    throw new CallRequestError('TIMEOUT', `no answer within ${timeoutMs} ms`, event);
  }
  if (!answer || answer.ok !== true) {
    const error = (answer as { error?: WireError } | undefined)?.error;
    throw new CallRequestError(error?.code ?? 'INTERNAL', error?.message ?? 'request failed', event);
  }
  return answer as unknown as T;
}
