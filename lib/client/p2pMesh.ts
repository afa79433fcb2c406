/**
 * The P2P path: one RTCPeerConnection per remote participant, all sending the
 * same local tracks. Signaling goes through the server's relay
 * (`webrtc:offer` / `webrtc:answer` / `webrtc:ice-candidate`); the server never
 * interprets it.
 *
 * Only one side of each pair ever offers (the participant who joined later),
 * so there is no offer glare to resolve. The offerer also owns ICE restarts:
 * when its connection fails, or stays disconnected, it re-offers with
 * `iceRestart` (new candidates, e.g. through TURN, are gathered on the way).
 */
import { Emitter } from './emitter';
import type { TrackKind } from './remoteParticipant';
import type { RelayedAnswer, RelayedCandidate, RelayedOffer } from './protocol';

export type P2PSignal =
  | { event: 'webrtc:offer'; to: string; sdp: string; generation: string; offerId: number }
  | { event: 'webrtc:answer'; to: string; sdp: string; generation: string; offerId?: number }
  | { event: 'webrtc:ice-candidate'; to: string; candidate: RTCIceCandidateInit | null; generation: string };

export interface P2PMeshOptions {
  localStream: MediaStream;
  rtcConfiguration: RTCConfiguration;
  send(signal: P2PSignal): Promise<void>;
  /** How long a link may stay `disconnected` before the offerer restarts ICE (default 2 s). */
  disconnectedRestartMs?: number;
  /**
   * How long an offer may go unanswered before it is sent again (default
   * 2 s): signaling can be lost, e.g. while the peer's socket reconnects.
   */
  offerRetryMs?: number;
}

/** An unanswered offer is sent again at most this many times. */
const MAX_OFFER_RETRIES = 15;

export type P2PMeshEvents = {
  track: [peerId: string, kind: TrackKind, track: MediaStreamTrack, receiver: RTCRtpReceiver];
  connectionstatechange: [peerId: string, state: RTCPeerConnectionState];
  /** Signaling or negotiation failed for one peer (the others carry on). */
  linkerror: [peerId: string, error: Error];
};

let meshCounter = 0;
const newGeneration = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly generation = newGeneration();
  /** The remote side's generation, once known; another one means it rebuilt its connection. */
  remoteGeneration: string | null = null;
  private readonly pendingCandidates: RTCIceCandidateInit[] = [];
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null;
  private offerRetryTimer: ReturnType<typeof setTimeout> | null = null;
  /** The offer awaiting its answer (offerer), and the last one answered (answerer). */
  private offerId = 0;
  private answeredOfferId: number | null = null;
  private negotiating = false;
  private restartWanted = false;
  closed = false;

  constructor(
    readonly peerId: string,
    readonly offerer: boolean,
    private readonly mesh: P2PMesh,
    private readonly options: P2PMeshOptions,
  ) {
    this.pc = new RTCPeerConnection(options.rtcConfiguration);
    if (offerer) {
      // The answerer adds its tracks after applying the offer, so that they
      // ride on the offer's transceivers instead of asking for new m-lines.
      for (const track of mesh.outgoingTracks()) this.pc.addTrack(track, options.localStream);
    }
    this.pc.addEventListener('icecandidate', (ev) => {
      void this.signal({
        event: 'webrtc:ice-candidate',
        to: peerId,
        candidate: ev.candidate ? ev.candidate.toJSON() : null,
        generation: this.generation,
      });
    });
    this.pc.addEventListener('track', (ev) => {
      const kind = ev.track.kind as TrackKind;
      mesh.emitTrack(peerId, kind, ev.track, ev.receiver);
    });
    this.pc.addEventListener('connectionstatechange', () => {
      mesh.emitState(peerId, this.pc.connectionState);
    });
    this.pc.addEventListener('iceconnectionstatechange', () => this.onIceState());
  }

  async offer(iceRestart = false): Promise<void> {
    if (this.closed) return;
    if (this.negotiating) {
      // One offer in flight at a time; the restart follows its answer.
      this.restartWanted = this.restartWanted || iceRestart;
      return;
    }
    this.negotiating = true;
    try {
      const offer = await this.pc.createOffer({ iceRestart });
      await this.pc.setLocalDescription(offer);
      this.offerId += 1;
      await this.signal({ event: 'webrtc:offer', to: this.peerId, sdp: offer.sdp ?? '', generation: this.generation, offerId: this.offerId });
      this.retryOffer(MAX_OFFER_RETRIES);
    } catch (error) {
      this.negotiating = false;
      this.mesh.emitError(this.peerId, error as Error);
    }
  }

  /**
   * Sends the pending offer again while it goes unanswered: the current
   * local description, which by then carries the gathered candidates too
   * (their trickled copies may have been lost with the offer).
   */
  private retryOffer(left: number): void {
    if (this.offerRetryTimer) clearTimeout(this.offerRetryTimer);
    this.offerRetryTimer = setTimeout(() => {
      this.offerRetryTimer = null;
      if (left > 0 && this.resendOffer()) this.retryOffer(left - 1);
    }, this.options.offerRetryMs ?? 2_000);
  }

  /** Sends the unanswered offer again, if there is one; false otherwise. */
  resendOffer(): boolean {
    const pending = this.pc.localDescription;
    if (this.closed || this.pc.signalingState !== 'have-local-offer' || pending?.type !== 'offer') return false;
    void this.signal({ event: 'webrtc:offer', to: this.peerId, sdp: pending.sdp, generation: this.generation, offerId: this.offerId });
    return true;
  }

  /** After signaling came back: an unanswered offer goes again, with its retries. */
  resendPending(): void {
    if (this.resendOffer()) this.retryOffer(MAX_OFFER_RETRIES);
  }

  async onOffer(payload: RelayedOffer): Promise<void> {
    const answer = this.pc.localDescription;
    if (payload.offerId !== undefined && payload.offerId === this.answeredOfferId && answer?.type === 'answer') {
      // A resent offer we answered already (the answer was lost): the same answer again.
      await this.signal({ event: 'webrtc:answer', to: this.peerId, sdp: answer.sdp, generation: this.generation, offerId: payload.offerId });
      return;
    }
    this.remoteGeneration = payload.generation;
    await this.pc.setRemoteDescription({ type: 'offer', sdp: payload.sdp });
    if (this.pc.getSenders().every((s) => !s.track)) {
      for (const track of this.mesh.outgoingTracks()) this.pc.addTrack(track, this.options.localStream);
    }
    await this.flushCandidates();
    const created = await this.pc.createAnswer();
    await this.pc.setLocalDescription(created);
    this.answeredOfferId = payload.offerId ?? null;
    await this.signal({ event: 'webrtc:answer', to: this.peerId, sdp: created.sdp ?? '', generation: this.generation, offerId: payload.offerId });
  }

  async onAnswer(payload: RelayedAnswer): Promise<void> {
    if (this.pc.signalingState !== 'have-local-offer') return; // late duplicate
    if (payload.offerId !== undefined && payload.offerId !== this.offerId) return; // answers an older offer
    this.remoteGeneration = payload.generation;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: payload.sdp });
    await this.flushCandidates();
    this.negotiating = false;
    if (this.restartWanted) {
      this.restartWanted = false;
      await this.offer(true);
    }
  }

  async onCandidate(payload: RelayedCandidate): Promise<void> {
    if (!payload.candidate) return; // end of candidates: nothing to do with trickle ICE
    if (!this.pc.remoteDescription || this.remoteGeneration !== payload.generation) {
      this.pendingCandidates.push(payload.candidate);
      return;
    }
    await this.pc.addIceCandidate(payload.candidate).catch(() => {
      // A candidate of an ICE generation that a restart replaced: harmless.
    });
  }

  /**
   * Swaps what the video sender carries (camera <-> screen): no
   * renegotiation, the remote side keeps the same track. A link without a
   * video sender (no camera, or the answerer before the offer) is left alone:
   * it picks the right track when it adds its own.
   */
  async replaceVideo(track: MediaStreamTrack): Promise<void> {
    const sender = this.pc.getSenders().find((s) => s.track?.kind === 'video');
    if (!sender || this.closed || sender.track === track) return;
    await sender.replaceTrack(track);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
    if (this.offerRetryTimer) clearTimeout(this.offerRetryTimer);
    // Our local tracks are shared with the other path: closing the connection
    // stops its senders, never the tracks.
    this.pc.close();
  }

  private async flushCandidates(): Promise<void> {
    const pending = this.pendingCandidates.splice(0);
    for (const candidate of pending) await this.pc.addIceCandidate(candidate).catch(() => undefined);
  }

  private onIceState(): void {
    const state = this.pc.iceConnectionState;
    if (this.disconnectedTimer && state !== 'disconnected') {
      clearTimeout(this.disconnectedTimer);
      this.disconnectedTimer = null;
    }
    if (!this.offerer || this.closed) return;
    if (state === 'failed') {
      void this.offer(true);
    } else if (state === 'disconnected' && !this.disconnectedTimer) {
      // Often recovers by itself (a lost burst); restart only if it lingers.
      this.disconnectedTimer = setTimeout(() => {
        this.disconnectedTimer = null;
        if (this.pc.iceConnectionState === 'disconnected') void this.offer(true);
      }, this.options.disconnectedRestartMs ?? 2_000);
    }
  }

  private async signal(signal: P2PSignal): Promise<void> {
    if (this.closed) return;
    try {
      await this.options.send(signal);
    } catch (error) {
      this.mesh.emitError(this.peerId, error as Error);
    }
  }
}

export class P2PMesh extends Emitter<P2PMeshEvents> {
  readonly id = `p2p-${++meshCounter}`;
  readonly mode = 'p2p' as const;
  private readonly links = new Map<string, PeerLink>();
  /** Sent instead of the camera (a screen share); null: the camera. */
  private videoOverride: MediaStreamTrack | null = null;
  closed = false;

  constructor(private readonly options: P2PMeshOptions) {
    super();
  }

  /**
   * Sends `track` in place of the camera on every link (and on links opened
   * later); null goes back to the camera. The screen rides on the camera's
   * sender, so the remote side sees the same track change content.
   */
  async setVideoOverride(track: MediaStreamTrack | null): Promise<void> {
    this.videoOverride = track;
    const video = this.outgoingTracks().find((t) => t.kind === 'video');
    if (!video) return;
    await Promise.all(
      [...this.links.values()].map((link) => link.replaceVideo(video).catch((error: Error) => this.emitError(link.peerId, error))),
    );
  }

  /** @internal What each link sends: the microphone, and the camera or the screen shared in its place. */
  outgoingTracks(): MediaStreamTrack[] {
    const audio = this.options.localStream.getAudioTracks();
    return [...audio, ...(this.videoOverride ? [this.videoOverride] : this.options.localStream.getVideoTracks())];
  }

  get peerIds(): string[] {
    return [...this.links.keys()];
  }

  has(peerId: string): boolean {
    return this.links.has(peerId);
  }

  /** Opens a link to `peerId`; the offerer sends its offer at once, the other side waits for it. */
  connect(peerId: string, offerer: boolean): void {
    if (this.closed || this.links.has(peerId)) return;
    const link = new PeerLink(peerId, offerer, this, this.options);
    this.links.set(peerId, link);
    if (offerer) void link.offer();
  }

  async handleOffer(payload: RelayedOffer): Promise<void> {
    if (this.closed) return;
    let link = this.links.get(payload.from);
    if (link && (link.offerer || (link.remoteGeneration !== null && link.remoteGeneration !== payload.generation))) {
      // The peer rebuilt its connection (or we both thought we offer): start over as the answerer.
      this.remove(payload.from);
      link = undefined;
    }
    if (!link) {
      link = new PeerLink(payload.from, false, this, this.options);
      this.links.set(payload.from, link);
    }
    await this.guard(payload.from, () => link.onOffer(payload));
  }

  async handleAnswer(payload: RelayedAnswer): Promise<void> {
    const link = this.links.get(payload.from);
    if (link) await this.guard(payload.from, () => link.onAnswer(payload));
  }

  async handleCandidate(payload: RelayedCandidate): Promise<void> {
    const link = this.links.get(payload.from);
    if (link) await this.guard(payload.from, () => link.onCandidate(payload));
  }

  /** Sends every offer still unanswered again (signaling was down). */
  resendPendingOffers(): void {
    for (const link of this.links.values()) link.resendPending();
  }

  remove(peerId: string): void {
    this.links.get(peerId)?.close();
    this.links.delete(peerId);
  }

  /** The connections, for quality sampling. */
  connections(): Map<string, RTCPeerConnection> {
    return new Map([...this.links].map(([id, link]) => [id, link.pc]));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /** @internal */
  emitTrack(peerId: string, kind: TrackKind, track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    if (!this.closed) this.emit('track', peerId, kind, track, receiver);
  }
  /** @internal */
  emitState(peerId: string, state: RTCPeerConnectionState): void {
    if (!this.closed) this.emit('connectionstatechange', peerId, state);
  }
  /** @internal */
  emitError(peerId: string, error: Error): void {
    if (!this.closed) this.emit('linkerror', peerId, error);
  }

  private async guard(peerId: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.emitError(peerId, error as Error);
    }
  }
}
