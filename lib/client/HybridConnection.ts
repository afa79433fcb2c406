/**
 * One participant's side of an `opencall/call` call: joins over Socket.IO,
 * carries the call's media over P2P (a mesh of RTCPeerConnections) or the SFU
 * (mediasoup-client), and follows the server's mode switches make-before-break:
 * the new path is built while the old one keeps playing, each remote
 * participant's tracks are swapped (inside a stream that stays the same
 * object) once the new path decodes them, the switch is acknowledged, and the
 * old path is closed only when the server confirms.
 *
 * The local tracks are the caller's: both paths send the same track objects,
 * nothing here calls getUserMedia or stops a local track.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { ActiveSpeakerDetector } from './activeSpeaker';
import { Emitter } from './emitter';
import { P2PMesh, type P2PSignal } from './p2pMesh';
import {
  request,
  type CallMode,
  type ChatMessage,
  type ConversationType,
  type JoinResponse,
  type MediaState,
  type ModeSwitchedPayload,
  type ModeSwitchPayload,
  type ParticipantRole,
  type ParticipantState,
  type ProducerInfo,
  type QualitySample,
  type RelayedAnswer,
  type RelayedCandidate,
  type RelayedOffer,
  type TransitionTrigger,
} from './protocol';
import { QualitySampler, type StatsSource } from './qualitySampler';
import { RemoteParticipant, type TrackKind, type TrackSource } from './remoteParticipant';
import { SfuSession } from './sfuSession';
import type { types as ms } from 'mediasoup-client';

export interface HybridConnectionOptions {
  /** The gateway's Socket.IO URL (a connection is opened and owned), or ... */
  url?: string;
  /** ... an already created socket (left open by `leave()`). */
  socket?: Socket;
  /** Options for the socket opened from `url` (e.g. `auth: { token }`, `transports`). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  callId: string;
  /** Used if this join creates the call (default `group`). */
  conversationType?: ConversationType;
  /** The camera/microphone tracks to send, on whichever path. */
  localStream: MediaStream;
  /** Own id when the gateway has no authentication (else the server decides). */
  participantId?: string;
  displayName?: string;
  role?: ParticipantRole;
  media?: Partial<MediaState>;
  p2pParticipantLimit?: number;
  /**
   * How the camera is sent on the SFU path (mediasoup-client's `encodings`):
   * several for simulcast (e.g. `[{ scaleResolutionDownBy: 2, maxBitrate:
   * 150_000 }, { maxBitrate: 900_000 }]`), or one with a `scalabilityMode`
   * for SVC when the routers' first video codec is VP9 (`L3T3_KEY`). The SFU
   * then gives each receiver the layer its bandwidth allows. Default: one
   * encoding. The P2P path always sends one.
   */
  sfuVideoEncodings?: ms.RtpEncodingParameters[];
  /** STUN/TURN servers for the P2P path and the SFU transports. */
  iceServers?: RTCIceServer[];
  /** `relay` to force TURN. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Quality sample period (default 2000 ms; 0 disables sampling and reporting). */
  qualityIntervalMs?: number;
  /**
   * While the call is pre-warmed (`call:prewarm`), also produce the local
   * tracks and consume the others' paused on the SFU (default true): no RTP
   * flows, but the transports are connected and the SDP work is done, so a
   * P2P -> SFU switch only resumes. false: transports only.
   */
  prewarmMedia?: boolean;
  /** How long the new path has to decode everyone before the switch is refused (default 4000 ms, under the server's 5 s). */
  switchTimeoutMs?: number;
  /** Acknowledgement timeout of every request (default 10 s). */
  requestTimeoutMs?: number;
  /**
   * When the signaling connection drops, join again as soon as the socket
   * reconnects (default true), keeping the seat, the media paths and what
   * is on screen: the server holds a dropped participant's seat for its
   * `reconnectGraceMs`. false: a drop leaves the call (`error`, `closed`).
   */
  reconnect?: boolean;
  /** Give up reconnecting (and leave: `error`, `closed`) after this long (default 60 000 ms). */
  reconnectTimeoutMs?: number;
  /**
   * How often the remote participants' audio levels are sampled to tell who
   * speaks (`activespeaker`; default 300 ms, 0 = off).
   */
  activeSpeakerIntervalMs?: number;
}

export interface TransitionInfo {
  transitionId: string;
  from: CallMode;
  to: CallMode;
  trigger: TransitionTrigger;
  initiator?: string;
}

export interface TransitionResult extends TransitionInfo {
  success: boolean;
  /** The call's mode after it. */
  mode: CallMode;
  reason?: string;
  /** From `call:mode-switch` to `call:mode-switched`, as this client saw it. */
  durationMs: number;
  /**
   * Milestones of the switch on this client, in ms from `call:mode-switch`:
   * `produced`, `track:<participant>:<kind>` (the new path delivered it),
   * `flowing:<participant>:<kind>` (decoded / received), `ack`; from a pre-warmed SFU
   * session also `resumed`, `sending:<kind>`, `resumed:<kind>`, `consumer-resumed:<participant>:<kind>`.
   * For diagnosing slow switches.
   */
  timeline: Record<string, number>;
}

/** Receive figures of what is rendered for one remote participant. */
export interface RemoteMediaStats {
  kind: TrackKind;
  mode: CallMode;
  /** `<mesh id>/<remote track id>` (P2P) or the consumer id (SFU): changes when a switch swaps the track. */
  sourceId: string;
  packetsReceived: number;
  bytesReceived: number;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
}

export type HybridConnectionEvents = {
  joined: [response: JoinResponse];
  modechange: [mode: CallMode, previous: CallMode];
  transitionstart: [info: TransitionInfo];
  transitionend: [result: TransitionResult];
  participantjoined: [participant: RemoteParticipant];
  participantleft: [participantId: string];
  participantupdated: [participant: RemoteParticipant];
  /** Once per remote participant, with the stream that will carry its media for the whole call. */
  remotestream: [participantId: string, stream: MediaStream];
  /** A remote participant's rendered track of one kind now comes from another path. */
  trackswitched: [participantId: string, kind: TrackKind, mode: CallMode];
  quality: [sample: QualitySample];
  chat: [message: ChatMessage];
  /** The remote participant speaking now (null: nobody), whenever it changes; both paths. */
  activespeaker: [participantId: string | null];
  /** An SFU transport lost its connection (a network change, an outage) and restarted ICE. */
  icerestart: [direction: 'send' | 'recv'];
  /** The signaling connection dropped; media keeps flowing while the client reconnects. */
  reconnecting: [reason: string];
  /** Back in the call after a drop: `seatKept` false if the server had let the seat go (everything was rebuilt). */
  reconnected: [info: { seatKept: boolean }];
  error: [error: Error];
  closed: [];
};

type MediaPath = P2PMesh | SfuSession;

interface PendingTransition extends TransitionInfo {
  path: MediaPath;
  startedAt: number;
  timeline: Record<string, number>;
  acked: boolean;
  deadline: ReturnType<typeof setTimeout> | null;
  /** A failure acknowledgement lost with the signaling connection, sent again after the rejoin. */
  unsentFailure?: string;
}

/** Server events this class listens to, queued until the join is acknowledged. */
const SERVER_EVENTS = [
  'call:participant-joined',
  'call:participant-left',
  'call:participant-updated',
  'call:prewarm',
  'call:prewarm-released',
  'call:mode-switch',
  'call:mode-switched',
  'webrtc:offer',
  'webrtc:answer',
  'webrtc:ice-candidate',
  'new-producer',
  'producer-closed',
  'chat:message',
] as const;
type ServerEvent = (typeof SERVER_EVENTS)[number];

/** Triggers after which the call's router is a new one: nothing pre-warmed or announced before is valid. */
const NEW_ROUTER_TRIGGERS: TransitionTrigger[] = ['media-server-lost', 'node-takeover'];

export class HybridConnection extends Emitter<HybridConnectionEvents> {
  readonly callId: string;
  readonly socket: Socket;
  private readonly options: HybridConnectionOptions;
  private readonly ownsSocket: boolean;
  private readonly localStream: MediaStream;
  private readonly requestTimeoutMs: number;
  private selfId: string | null = null;
  private selfJoinedAt = 0;
  private currentMode: CallMode = 'p2p';
  private active: MediaPath | null = null;
  private transition: PendingTransition | null = null;
  private prewarmed: SfuSession | null = null;
  /** The screen being shared (sent in place of the camera on P2P, as a second producer on the SFU), or null. */
  private screenTrack: MediaStreamTrack | null = null;
  /** P2P offers that arrived before we knew of the switch they belong to. */
  private earlyMesh: P2PMesh | null = null;
  private readonly remotes = new Map<string, RemoteParticipant>();
  /** Remote producers announced on the call's router (consumed by whichever SFU session is live). */
  private readonly producers = new Map<string, ProducerInfo>();
  private readonly sampler = new QualitySampler();
  private lastQuality: QualitySample | null = null;
  private qualityTimer: ReturnType<typeof setInterval> | null = null;
  private speakerTimer: ReturnType<typeof setInterval> | null = null;
  private readonly speakers = new ActiveSpeakerDetector();
  private queue: [ServerEvent, unknown][] | null = null;
  private readonly socketListeners: [ServerEvent, (payload: unknown) => void][] = [];
  private state: 'new' | 'joining' | 'joined' | 'closed' = 'new';
  /** Socket and page listeners added by join(), removed by teardown(). */
  private readonly cleanups: (() => void)[] = [];
  /** The signaling connection dropped and the call waits for it to come back. */
  private reconnecting = false;
  private reconnectDeadline: ReturnType<typeof setTimeout> | null = null;
  /** A rejoin in flight (leave() waits for it, or its join would keep the seat). */
  private rejoining: Promise<void> | null = null;
  private reconnectRetry: ReturnType<typeof setTimeout> | null = null;

  constructor(options: HybridConnectionOptions) {
    super();
    if (!options.socket && !options.url) throw new TypeError('HybridConnection needs a url or a socket');
    if (!options.localStream) throw new TypeError('HybridConnection needs a localStream');
    this.options = options;
    this.callId = options.callId;
    this.localStream = options.localStream;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.ownsSocket = !options.socket;
    this.socket = options.socket ?? io(options.url!, { autoConnect: true, ...options.socketOptions });
  }

  // ------------------------------------------------------------- state for a UI

  get participantId(): string | null {
    return this.selfId;
  }

  /** The call's confirmed mode: the path that carries what is rendered (until a switch completes). */
  get mode(): CallMode {
    return this.currentMode;
  }

  get isTransitioning(): boolean {
    return this.transition !== null;
  }

  /** The remote participant speaking now, or null (see `activespeaker`). */
  get activeSpeaker(): string | null {
    return this.speakers.speaker;
  }

  /** The latest quality sample of the active path (null before the first one). */
  get quality(): QualitySample | null {
    return this.lastQuality;
  }

  get participants(): ReadonlyMap<string, RemoteParticipant> {
    return this.remotes;
  }

  // ---------------------------------------------------------------- actions

  /** Connects (if needed) and joins the call; resolves once the call's current path is being built. */
  async join(): Promise<JoinResponse> {
    if (this.state !== 'new') throw new Error(`join() called twice (state ${this.state})`);
    this.state = 'joining';
    this.queue = [];
    for (const event of SERVER_EVENTS) {
      const listener = (payload: unknown): void => {
        if (this.state === 'closed') return;
        if (this.queue) this.queue.push([event, payload]);
        else this.dispatch(event, payload);
      };
      this.socket.on(event, listener);
      this.socketListeners.push([event, listener]);
    }
    if (!this.socket.connected) await this.connected();
    this.watchConnection();

    const response = await this.request<JoinResponse>('call:join', this.joinPayload());
    if (this.state !== 'joining') return response; // left meanwhile
    this.state = 'joined';
    this.enter(response);
    this.emit('joined', response);
    this.flushQueue();
    this.startQualityReports();
    this.startSpeakerDetection();
    return response;
  }

  /** What `call:join` sends; a rejoin names the seat it had. */
  private joinPayload(): Record<string, unknown> {
    const o = this.options;
    return {
      conversationType: o.conversationType ?? 'group',
      role: o.role,
      media: o.media,
      displayName: o.displayName,
      p2pParticipantLimit: o.p2pParticipantLimit,
      participantId: this.selfId ?? o.participantId,
      // A rejoin keeps the media state the server has (mute, screen): the
      // constructor's would undo what setMedia() said since.
      ...(this.selfId ? { media: undefined } : {}),
    };
  }

  /**
   * A dropped signaling connection is not a leave: media paths do not go
   * through it. The client joins again when the socket is back (see
   * `reconnect`); leaving the page leaves at once.
   */
  private watchConnection(): void {
    const reconnect = this.options.reconnect ?? true;
    const onDisconnect = (reason: string): void => {
      if (this.state !== 'joined' && this.state !== 'joining') return;
      // The server, or our own disconnect(), ended the connection on purpose.
      const deliberate = reason === 'io server disconnect' || reason === 'io client disconnect';
      if (!reconnect || deliberate || this.state === 'joining' || !this.socket.io.reconnection()) {
        this.state = 'closed';
        this.emit('error', new Error(`signaling connection lost (${reason}): left the call`));
        this.teardown();
        return;
      }
      this.reconnecting = true;
      if (this.reconnectDeadline) return; // dropped again before the rejoin: same outage, same deadline
      const timeoutMs = this.options.reconnectTimeoutMs ?? 60_000;
      this.reconnectDeadline = setTimeout(() => {
        if (!this.reconnecting || this.state !== 'joined') return;
        this.state = 'closed';
        this.emit('error', new Error(`signaling connection lost (${reason}) and not back after ${timeoutMs} ms: left the call`));
        this.teardown();
      }, timeoutMs);
      this.emit('reconnecting', reason);
    };
    const onConnect = (): void => {
      if (this.reconnecting && this.state === 'joined') void this.rejoin();
    };
    const onConnectError = (): void => {
      // A middleware refusal (e.g. auth briefly unavailable) stops
      // socket.io-client's own retries: go on, until the deadline.
      if (!this.reconnecting || this.socket.active || this.reconnectRetry) return;
      this.reconnectRetry = setTimeout(() => {
        this.reconnectRetry = null;
        if (this.reconnecting && this.state === 'joined') this.socket.connect();
      }, 1_000);
    };
    this.socket.on('disconnect', onDisconnect);
    this.socket.on('connect', onConnect);
    this.socket.on('connect_error', onConnectError);
    this.cleanups.push(() => {
      this.socket.off('disconnect', onDisconnect);
      this.socket.off('connect', onConnect);
      this.socket.off('connect_error', onConnectError);
      this.stopReconnecting();
    });
    if (typeof window !== 'undefined') {
      // Closing the tab: tell the server now rather than after its grace period.
      const onPageHide = (): void => {
        if (this.state === 'joined' && this.socket.connected) this.socket.emit('call:leave', { callId: this.callId });
      };
      window.addEventListener('pagehide', onPageHide);
      this.cleanups.push(() => window.removeEventListener('pagehide', onPageHide));
    }
  }

  /**
   * Joins again after a reconnect. With the seat kept, nothing is rebuilt:
   * what changed meanwhile (participants, producers, a switch) is taken
   * from the join acknowledgement; events that arrive before it wait.
   * Without it (the grace period ran out), the call is entered afresh.
   */
  private rejoin(): Promise<void> {
    this.rejoining = this.doRejoin().finally(() => {
      this.rejoining = null;
    });
    return this.rejoining;
  }

  private async doRejoin(): Promise<void> {
    this.queue = [];
    let response: JoinResponse;
    try {
      response = await this.request<JoinResponse>('call:join', this.joinPayload());
    } catch (error) {
      if (this.state !== 'joined') return;
      if (!this.socket.connected) return; // dropped again: the next connect retries
      this.queue = null;
      this.state = 'closed';
      this.emit('error', new Error(`could not rejoin the call: ${(error as Error).message}`));
      this.teardown();
      return;
    }
    if (this.state !== 'joined') return;
    this.stopReconnecting();
    const self = response.call.participants.find((p) => p.id === this.selfId);
    const seatKept = response.participantId === this.selfId && self?.joinedAt === this.selfJoinedAt;
    if (!(seatKept && this.resync(response))) {
      this.resetMedia();
      this.enter(response);
    }
    this.flushQueue();
    this.emit('reconnected', { seatKept });
  }

  private stopReconnecting(): void {
    this.reconnecting = false;
    if (this.reconnectDeadline) clearTimeout(this.reconnectDeadline);
    if (this.reconnectRetry) clearTimeout(this.reconnectRetry);
    this.reconnectDeadline = this.reconnectRetry = null;
  }

  /**
   * Catches up with what happened while the signaling connection was down;
   * false when the paths cannot be kept (the call's mode moved without us).
   */
  private resync(response: JoinResponse): boolean {
    const { call } = response;
    const serverTransition = call.transition;
    const ours = this.transition;
    if (ours && serverTransition?.id !== ours.transitionId) {
      // Its outcome was announced while we were away: the call's mode says which.
      this.finishTransition({
        callId: this.callId,
        transitionId: ours.transitionId,
        success: call.mode === ours.to,
        mode: call.mode,
        reason: call.mode === ours.to ? undefined : 'ended while the signaling connection was down',
      });
    }
    if (!this.transition && !serverTransition && call.mode !== this.currentMode) return false;

    const present = new Set(call.participants.map((p) => p.id));
    for (const id of [...this.remotes.keys()]) if (!present.has(id)) this.removeParticipant(id);
    for (const p of call.participants) if (p.id !== this.selfId) this.upsertParticipant(p, true);

    const live = new Set(response.producers.map((p) => p.producerId));
    for (const id of [...this.producers.keys()]) {
      if (!live.has(id)) this.dispatch('producer-closed', { callId: this.callId, producerId: id });
    }
    for (const producer of response.producers) {
      if (!this.producers.has(producer.producerId)) this.dispatch('new-producer', { callId: this.callId, ...producer });
    }

    if (serverTransition?.pending.includes(this.selfId!) && serverTransition.id !== this.transition?.transitionId) {
      this.startTransition({
        callId: this.callId,
        transitionId: serverTransition.id,
        mode: serverTransition.to,
        trigger: serverTransition.trigger,
        rtpCapabilities: response.rtpCapabilities,
        initiator: serverTransition.initiator,
      });
    } else if (call.mode === 'p2p' && call.prewarmed && response.rtpCapabilities && !this.transition) {
      this.prewarm(response.rtpCapabilities);
    }
    // An acknowledgement lost with the connection is sent again: a failure
    // as it was, a success once the path is ready.
    const pending = this.transition;
    if (pending && !pending.acked && pending.unsentFailure !== undefined) {
      void this.acknowledge(pending.transitionId, false, pending.unsentFailure);
    } else {
      this.checkReady();
    }
    // P2P offers that went unanswered while the connection was down, and
    // SFU ICE restarts that could not be asked for (the same outage may
    // have cut both): now, not at the end of their backoff.
    for (const path of this.paths()) {
      if (path instanceof P2PMesh) path.resendPendingOffers();
      else path.retryIceRestartsNow();
    }
    return true;
  }

  /** Closes every path and forgets every remote participant (a rejoin into a seat that was let go). */
  private resetMedia(): void {
    this.closePaths();
    for (const id of [...this.remotes.keys()]) this.removeParticipant(id);
    this.producers.clear();
  }

  /** Closes every path: active, pre-warmed, early, and the one a switch is building. */
  private closePaths(): void {
    for (const path of new Set([this.active, this.prewarmed, this.earlyMesh, this.transition?.path])) path?.close();
    this.clearTransition();
    this.active = this.prewarmed = this.earlyMesh = null;
  }

  private flushQueue(): void {
    const queued = this.queue ?? [];
    this.queue = null;
    for (const [event, payload] of queued) this.dispatch(event, payload);
  }

  /** Takes the call as the join acknowledgement describes it and builds its current path. */
  private enter(response: JoinResponse): void {
    this.selfId = response.participantId;
    const { call } = response;
    this.currentMode = call.mode;
    for (const p of call.participants) {
      if (p.id === this.selfId) this.selfJoinedAt = p.joinedAt;
      else this.upsertParticipant(p, false);
    }
    for (const producer of response.producers) this.producers.set(producer.producerId, producer);

    if (call.transition && call.transition.pending.includes(this.selfId)) {
      // Joined during a switch whose announcement we may never get (it was
      // sent before we were in the room): we owe it an acknowledgement.
      this.startTransition({
        callId: this.callId,
        transitionId: call.transition.id,
        mode: call.transition.to,
        trigger: call.transition.trigger,
        rtpCapabilities: response.rtpCapabilities,
        initiator: call.transition.initiator,
      });
    } else if (call.mode === 'p2p') {
      const mesh = this.adoptEarlyMesh();
      this.active = mesh;
      for (const p of this.remotes.values()) mesh.connect(p.id, this.shouldOffer(p.state));
      if (call.prewarmed && response.rtpCapabilities) this.prewarm(response.rtpCapabilities);
    } else if (response.rtpCapabilities) {
      const session = this.createSfu(response.rtpCapabilities);
      this.active = session;
      this.activateSfu(session);
    }
  }

  /** Leaves the call and closes every path (local tracks are left running: they are the caller's). */
  async leave(): Promise<void> {
    if (this.state === 'closed') return;
    const wasJoined = this.state === 'joined';
    this.state = 'closed';
    // A rejoin in flight would take the seat again after our leave.
    if (this.rejoining) await this.rejoining.catch(() => undefined);
    this.stopReconnecting();
    if (wasJoined && this.socket.connected) {
      await this.request('call:leave', {}).catch(() => undefined);
    }
    this.teardown();
  }

  /** Mute / camera off: toggles the local tracks (the same on both paths) and tells the others. */
  async setMedia(media: Partial<MediaState>): Promise<ParticipantState> {
    if (typeof media.audio === 'boolean') this.localStream.getAudioTracks().forEach((t) => (t.enabled = media.audio!));
    if (typeof media.video === 'boolean') this.localStream.getVideoTracks().forEach((t) => (t.enabled = media.video!));
    const { participant } = await this.request<{ participant: ParticipantState }>('call:media', media);
    return participant;
  }

  async sendChat(text: string): Promise<ChatMessage> {
    const { message } = await this.request<{ message: ChatMessage }>('chat:message', { text });
    return message;
  }

  async chatHistory(): Promise<ChatMessage[]> {
    const { messages } = await this.request<{ messages: ChatMessage[] }>('chat:history', {});
    return messages;
  }

  /**
   * Shares a screen (e.g. from `getDisplayMedia()`), or stops with null. P2P:
   * the screen replaces the camera on each connection's video sender; SFU: a
   * second producer tagged `appData.source = 'screen'`. Either way the others
   * see it in place of this participant's camera, in the same stream (see
   * the README), and `media.screen` tells their UI. Survives mode switches:
   * a path built later carries the screen too. The track stays the caller's
   * (never stopped here); if it ends (the browser's own "stop sharing"), the
   * share stops.
   */
  async shareScreen(track: MediaStreamTrack | null): Promise<void> {
    if (track && track.kind !== 'video') throw new TypeError('shareScreen() takes a video track, or null to stop');
    if (this.state === 'closed') throw new Error('the call is closed');
    if (track === this.screenTrack) return;
    const previous = this.screenTrack;
    this.screenTrack = track;
    track?.addEventListener('ended', () => {
      if (this.screenTrack === track) void this.shareScreen(null).catch((error: Error) => this.emit('error', error));
    });
    const work: Promise<unknown>[] = [];
    for (const path of this.paths()) {
      if (path instanceof P2PMesh) work.push(path.setVideoOverride(track));
      else {
        if (previous) work.push(path.closeProducerOf(previous));
        if (track) work.push(path.produceTrack(track, 'screen'));
      }
    }
    await Promise.all(work);
    if (this.state === 'joined') await this.setMedia({ screen: track !== null });
  }

  /** The screen being shared, or null. */
  get sharedScreen(): MediaStreamTrack | null {
    return this.screenTrack;
  }

  /** Receive figures of the tracks rendered for one remote participant (for a UI's stats overlay, or tests). */
  async getRemoteStats(participantId: string): Promise<RemoteMediaStats[]> {
    const participant = this.remotes.get(participantId);
    if (!participant) return [];
    const out: RemoteMediaStats[] = [];
    for (const kind of ['video', 'audio'] as const) {
      const source = participant.renderedSource(kind);
      if (!source) continue;
      const inbound = await inboundOf(source.receiver);
      out.push({
        kind,
        mode: source.mode,
        sourceId: source.id,
        packetsReceived: num(inbound.packetsReceived),
        bytesReceived: num(inbound.bytesReceived),
        framesDecoded: num(inbound.framesDecoded),
        frameWidth: num(inbound.frameWidth),
        frameHeight: num(inbound.frameHeight),
      });
    }
    return out;
  }

  // --------------------------------------------------------- server events

  private dispatch(event: ServerEvent, payload: unknown): void {
    const p = payload as Record<string, any>;
    if (!p || (p.callId !== undefined && p.callId !== this.callId)) return;
    switch (event) {
      case 'call:participant-joined':
        this.upsertParticipant(p.participant as ParticipantState, true);
        break;
      case 'call:participant-left':
        this.removeParticipant(p.participantId as string);
        break;
      case 'call:participant-updated':
        this.upsertParticipant(p.participant as ParticipantState, true);
        break;
      case 'call:prewarm':
        if (this.currentMode === 'p2p' && !this.transition) this.prewarm(p.rtpCapabilities as ms.RtpCapabilities);
        break;
      case 'call:prewarm-released':
        this.prewarmed?.close();
        this.prewarmed = null;
        break;
      case 'call:mode-switch':
        this.startTransition(p as ModeSwitchPayload);
        break;
      case 'call:mode-switched':
        this.finishTransition(p as ModeSwitchedPayload);
        break;
      case 'webrtc:offer':
        void this.meshFor(p.from as string, true)!.handleOffer(p as RelayedOffer);
        break;
      case 'webrtc:answer':
        void this.meshFor(p.from as string, false)?.handleAnswer(p as RelayedAnswer);
        break;
      case 'webrtc:ice-candidate':
        void this.meshFor(p.from as string, false)?.handleCandidate(p as RelayedCandidate);
        break;
      case 'new-producer': {
        const producer = p as ProducerInfo;
        if (producer.participantId === this.selfId) break;
        this.producers.set(producer.producerId, producer);
        for (const session of this.liveSfuSessions()) void session.consume(producer);
        if (this.prewarmed && !this.prewarmed.closed && this.prewarmed.isStandby) void this.prewarmed.consume(producer);
        break;
      }
      case 'producer-closed':
        this.producers.delete(p.producerId as string);
        for (const path of [this.active, this.transition?.path, this.prewarmed]) {
          if (path instanceof SfuSession) path.closeConsumerOf(p.producerId as string);
        }
        break;
      case 'chat:message':
        this.emit('chat', p.message as ChatMessage);
        break;
    }
  }

  // ------------------------------------------------------------ transitions

  private startTransition(payload: ModeSwitchPayload): void {
    if (this.transition?.transitionId === payload.transitionId) return;
    if (this.transition) {
      // A newer switch supersedes one whose outcome we never heard.
      this.dropPath(this.transition.path);
      this.clearTransition();
    }
    const newRouter = NEW_ROUTER_TRIGGERS.includes(payload.trigger);
    let path: MediaPath;
    if (payload.mode === 'p2p') {
      const mesh = this.adoptEarlyMesh();
      for (const p of this.remotes.values()) mesh.connect(p.id, this.shouldOffer(p.state));
      path = mesh;
    } else {
      if (newRouter) this.producers.clear();
      let session = !newRouter && this.prewarmed && !this.prewarmed.closed ? this.prewarmed : null;
      if (session !== this.prewarmed) this.prewarmed?.close();
      this.prewarmed = null;
      if (!session) {
        if (!payload.rtpCapabilities) {
          void this.acknowledge(payload.transitionId, false, 'no router capabilities in call:mode-switch');
          return;
        }
        session = this.createSfu(payload.rtpCapabilities);
      }
      path = session;
    }
    const transition: PendingTransition = {
      transitionId: payload.transitionId,
      from: this.currentMode,
      to: payload.mode,
      trigger: payload.trigger,
      initiator: payload.initiator,
      path,
      startedAt: performance.now(),
      timeline: {},
      acked: false,
      deadline: null,
    };
    const timeoutMs = this.options.switchTimeoutMs ?? 4_000;
    transition.deadline = setTimeout(() => {
      transition.deadline = null;
      if (this.transition === transition && !transition.acked) {
        void this.acknowledge(transition.transitionId, false, `new ${transition.to} path not decoding after ${timeoutMs} ms: ${this.notReady(transition).join(', ')}`);
      }
    }, timeoutMs);
    this.transition = transition;
    this.emit('transitionstart', this.info(transition));
    // Tracks the new path already had (an early mesh) count from now on.
    for (const participant of this.remotes.values()) {
      for (const source of participant.sources.get(path.id)?.values() ?? []) this.considerRender(participant, source);
    }
    if (path instanceof SfuSession) this.activateSfu(path);
    this.checkReady();
  }

  private finishTransition(payload: ModeSwitchedPayload): void {
    const t = this.transition;
    if (!t || t.transitionId !== payload.transitionId) {
      // A switch we took no part in (e.g. failed before we joined): follow the call's mode.
      if (!t && payload.success && payload.mode !== this.currentMode) this.setMode(payload.mode);
      return;
    }
    this.clearTransition();
    const durationMs = performance.now() - t.startedAt;
    if (payload.success) {
      const old = this.active;
      this.active = t.path;
      if (old && old !== t.path) this.dropPath(old);
      this.sampler.reset();
      this.setMode(payload.mode);
    } else {
      this.dropPath(t.path);
      this.setMode(payload.mode);
    }
    this.emit('transitionend', {
      ...this.info(t),
      success: payload.success,
      mode: payload.mode,
      reason: payload.reason,
      durationMs,
      timeline: t.timeline,
    });
  }

  /** Acknowledges the pending switch once every remote participant plays from the new path. */
  private checkReady(): void {
    const t = this.transition;
    if (!t || t.acked) return;
    if (this.notReady(t).length === 0) void this.acknowledge(t.transitionId, true);
  }

  /**
   * Remote participants the new path does not carry yet (for the ack and its
   * failure reason). Only those rendered from another path count: the
   * make-before-break set is what is on screen. A participant with nothing
   * on screen yet (one who joined into this switch, or whose old link never
   * delivered) has nothing to break: it shows up when its media arrives, as
   * on any join, and does not hold the switch. So a newcomer itself, with
   * nothing rendered, acknowledges at once.
   */
  private notReady(t: PendingTransition): string[] {
    const waiting: string[] = [];
    for (const participant of this.remotes.values()) {
      const onScreen = (['audio', 'video'] as const).some((kind) => {
        const rendered = participant.renderedSource(kind);
        return rendered !== undefined && rendered.pathId !== t.path.id;
      });
      if (!onScreen) continue;
      const fresh = participant.sources.get(t.path.id);
      const expected = new Set<TrackKind>(fresh?.keys() ?? []);
      for (const kind of ['audio', 'video'] as const) {
        const rendered = participant.renderedSource(kind);
        if (rendered && rendered.pathId !== t.path.id) expected.add(kind);
      }
      if (t.path instanceof SfuSession) {
        for (const producer of this.producers.values()) {
          if (producer.participantId === participant.id) expected.add(producer.kind);
        }
      }
      const ready =
        expected.size > 0 &&
        [...expected].every((kind) => participant.renderedSource(kind)?.pathId === t.path.id && fresh?.get(kind)?.flowing);
      if (!ready) waiting.push(participant.id);
    }
    return waiting;
  }

  private async acknowledge(transitionId: string, success: boolean, reason?: string): Promise<void> {
    const t = this.transition;
    if (t && t.transitionId === transitionId) {
      this.mark(t.path, 'ack');
      t.acked = true;
      if (t.deadline) clearTimeout(t.deadline);
      t.deadline = null;
    }
    try {
      await this.request('call:mode-switch-ack', { transitionId, success, ...(reason ? { reason } : {}) });
    } catch (error) {
      // While reconnecting, the rejoin acknowledges again if the switch still waits for us.
      if (t && t.transitionId === transitionId && this.reconnecting) {
        t.acked = false;
        if (!success) t.unsentFailure = reason ?? 'failed';
      } else {
        this.emit('error', error as Error);
      }
    }
  }

  /** Records a milestone of the switch that is building `path`. */
  private mark(path: MediaPath, label: string): void {
    const t = this.transition;
    if (t?.path === path && !(label in t.timeline)) t.timeline[label] = Math.round(performance.now() - t.startedAt);
  }

  private clearTransition(): void {
    if (this.transition?.deadline) clearTimeout(this.transition.deadline);
    this.transition = null;
  }

  private info(t: PendingTransition): TransitionInfo {
    return { transitionId: t.transitionId, from: t.from, to: t.to, trigger: t.trigger, initiator: t.initiator };
  }

  private setMode(mode: CallMode): void {
    const previous = this.currentMode;
    this.currentMode = mode;
    if (previous !== mode) this.emit('modechange', mode, previous);
  }

  // ------------------------------------------------------------------ paths

  /** Every path that sends: active, being built, pre-warmed, or an early mesh. */
  private paths(): MediaPath[] {
    const all = [this.active, this.transition?.path, this.prewarmed, this.earlyMesh];
    return [...new Set(all)].filter((p): p is MediaPath => Boolean(p) && !p!.closed);
  }

  private createMesh(): P2PMesh {
    const mesh = new P2PMesh({
      localStream: this.localStream,
      rtcConfiguration: {
        iceServers: this.options.iceServers ?? [],
        iceTransportPolicy: this.options.iceTransportPolicy ?? 'all',
      },
      send: async (signal: P2PSignal) => {
        const { event, ...payload } = signal;
        await this.request(event, payload);
      },
    });
    // Remote track ids repeat across meshes (they are the sender's own track ids): prefix the mesh.
    mesh.on('track', (peerId, kind, track, receiver) =>
      this.addSource(mesh, peerId, kind, `${mesh.id}/${track.id}`, track, receiver),
    );
    mesh.on('linkerror', (peerId, error) => {
      // Signaling lost while reconnecting is sent again (offers are retried).
      if (!this.reconnecting) this.emit('error', new Error(`P2P link to ${peerId}: ${error.message}`));
    });
    if (this.screenTrack) void mesh.setVideoOverride(this.screenTrack);
    return mesh;
  }

  private adoptEarlyMesh(): P2PMesh {
    const mesh = this.earlyMesh ?? this.createMesh();
    this.earlyMesh = null;
    return mesh;
  }

  /** The mesh a P2P message from `peerId` belongs to: active, being built, or (offers only) a new early one. */
  private meshFor(peerId: string, create: boolean): P2PMesh | null {
    const candidates = [this.transition?.path, this.active, this.earlyMesh].filter((p): p is P2PMesh => p instanceof P2PMesh);
    const withLink = candidates.find((m) => m.has(peerId));
    if (withLink) return withLink;
    if (candidates[0]) return create ? candidates[0] : null;
    if (!create) return null;
    this.earlyMesh = this.createMesh();
    return this.earlyMesh;
  }

  private createSfu(rtpCapabilities: ms.RtpCapabilities, standby = false): SfuSession {
    const session = new SfuSession({
      rtpCapabilities,
      standby,
      request: (event, payload) => this.request(event, payload),
      iceServers: this.options.iceServers,
      iceTransportPolicy: this.options.iceTransportPolicy,
      videoEncodings: this.options.sfuVideoEncodings,
    });
    session.on('consumer', (participantId, kind, consumerId, track, receiver) =>
      this.addSource(session, participantId, kind, consumerId, track, receiver),
    );
    session.on('consumerclosed', (participantId, kind, consumerId) => {
      const participant = this.remotes.get(participantId);
      const source = participant?.sources.get(session.id)?.get(kind);
      if (participant && source?.id === consumerId) this.removeSource(participant, source);
    });
    session.on('milestone', (label) => this.mark(session, label));
    session.on('icerestart', (direction) => this.emit('icerestart', direction));
    session.on('connectionstatechange', (direction, state) => {
      if (state === 'failed' && this.transition?.path === session && !this.transition.acked) {
        void this.acknowledge(this.transition.transitionId, false, `SFU ${direction} transport failed`);
      }
    });
    session.on('error', (error) => {
      if (this.transition?.path === session && !this.transition.acked) {
        void this.acknowledge(this.transition.transitionId, false, error.message);
      } else {
        this.emit('error', error);
      }
    });
    return session;
  }

  /**
   * Produces the local tracks (and the screen) and consumes every known
   * producer. A pre-warmed session has done both already, paused: it only
   * resumes (`activate`), and the rest is deduplicated.
   */
  private activateSfu(session: SfuSession): void {
    const standby = session.isStandby;
    session.activate();
    if (standby) this.mark(session, 'resumed');
    void session.prepare().then(() => this.mark(session, 'prepared'), () => undefined);
    this.produceOn(session).then(() => this.mark(session, 'produced'), (error: Error) => {
      if (this.transition?.path === session && !this.transition.acked) {
        void this.acknowledge(this.transition.transitionId, false, `produce failed: ${error.message}`);
      } else if (!session.closed) {
        this.emit('error', error);
      }
    });
    this.consumeKnown(session);
  }

  private async produceOn(session: SfuSession): Promise<void> {
    await session.produce(this.localStream);
    if (this.screenTrack) await session.produceTrack(this.screenTrack, 'screen');
  }

  private consumeKnown(session: SfuSession): void {
    // Video first, for the same reason as in SfuSession.produce().
    const known = [...this.producers.values()].sort((x, y) => Number(x.kind === 'audio') - Number(y.kind === 'audio'));
    for (const producer of known) void session.consume(producer);
  }

  private prewarm(rtpCapabilities: ms.RtpCapabilities): void {
    if (this.prewarmed && !this.prewarmed.closed) return;
    const withMedia = this.options.prewarmMedia ?? true;
    const session = this.createSfu(rtpCapabilities, withMedia);
    this.prewarmed = session;
    const dropped = (): void => {
      // Only an optimization: the switch builds a fresh session if this one is unusable.
      session.close();
      if (this.prewarmed === session) this.prewarmed = null;
    };
    session.prepare().then(() => {
      // The switch may have taken the session over meanwhile (then activateSfu does this).
      if (!withMedia || !session.isStandby || session.closed) return;
      this.produceOn(session).catch(() => {
        if (session.isStandby) dropped();
      });
      this.consumeKnown(session);
    }, dropped);
  }

  /** SFU sessions that should consume: the active one, and the one a switch is building. */
  private liveSfuSessions(): SfuSession[] {
    return [this.active, this.transition?.path].filter((p): p is SfuSession => p instanceof SfuSession && !p.closed);
  }

  /** Closes a path and moves whatever it rendered back onto what remains. */
  private dropPath(path: MediaPath): void {
    path.close();
    for (const participant of this.remotes.values()) {
      for (const kind of participant.removePath(path.id)) this.renderFallback(participant, kind);
    }
    this.checkReady();
  }

  // -------------------------------------------------------------- rendering

  private addSource(
    path: MediaPath,
    participantId: string,
    kind: TrackKind,
    sourceId: string,
    track: MediaStreamTrack,
    receiver: RTCRtpReceiver,
  ): void {
    if (path.closed || participantId === this.selfId) return;
    const participant = this.remotes.get(participantId) ?? this.upsertParticipant(placeholder(participantId), false);
    const source: TrackSource = { pathId: path.id, mode: path.mode, id: sourceId, kind, track, receiver, flowing: false };
    const previous = participant.sources.get(path.id)?.get(kind);
    participant.addSource(source);
    if (previous && previous !== source && participant.renderedSource(kind) === previous) participant.render(source);
    track.addEventListener('ended', () => this.removeSource(participant, source));
    this.mark(path, `track:${participantId}:${kind}`);
    this.considerRender(participant, source);
    void this.watchFlow(participant, source, path);
  }

  private removeSource(participant: RemoteParticipant, source: TrackSource): void {
    if (participant.removeSource(source)) this.renderFallback(participant, source.kind);
    this.checkReady();
  }

  /** Puts a source on screen when the rules allow: see the class comment. */
  private considerRender(participant: RemoteParticipant, source: TrackSource): void {
    const pending = this.transition?.path.id;
    const isActive = source.pathId === this.active?.id;
    const isPending = source.pathId === pending;
    if (!isActive && !isPending) return;
    // A source its path has replaced since (a camera the screen took over,
    // or the other way round) must not come back when it starts flowing late.
    if (participant.sources.get(source.pathId)?.get(source.kind) !== source) return;
    const current = participant.renderedSource(source.kind);
    let swap = false;
    if (!current) swap = true; // nothing to break
    else if (current === source) swap = false;
    else if (isPending) swap = source.flowing && current.pathId !== pending;
    else swap = current.pathId !== pending; // a newer track of the same (active) path
    if (!swap) return;
    const hadStream = participant.stream.getTracks().length > 0;
    participant.render(source);
    if (!hadStream) this.emit('remotestream', participant.id, participant.stream);
    if (current && current.mode !== source.mode) this.emit('trackswitched', participant.id, source.kind, source.mode);
  }

  private renderFallback(participant: RemoteParticipant, kind: TrackKind): void {
    const ids = [this.transition?.path.id, this.active?.id].filter((id): id is string => Boolean(id));
    const candidates = ids.map((id) => participant.sources.get(id)?.get(kind)).filter((s): s is TrackSource => Boolean(s));
    const best = candidates.find((s) => s.flowing) ?? candidates[0];
    if (best) participant.render(best);
  }

  /** Polls the receiver until it decodes (video) or receives (audio), then lets the switch move on. */
  private async watchFlow(participant: RemoteParticipant, source: TrackSource, path: MediaPath): Promise<void> {
    const started = performance.now();
    while (!path.closed && source.track.readyState === 'live' && this.state !== 'closed') {
      const inbound = await inboundOf(source.receiver).catch(() => ({}) as Record<string, unknown>);
      const flowing = source.kind === 'video' ? num(inbound.framesDecoded) > 0 : num(inbound.packetsReceived) > 0;
      if (flowing) {
        source.flowing = true;
        this.mark(path, `flowing:${participant.id}:${source.kind}`);
        this.considerRender(participant, source);
        this.checkReady();
        return;
      }
      // Fine-grained while a switch may be waiting on it, relaxed after.
      await sleep(performance.now() - started < 10_000 ? 20 : 250);
    }
  }

  // ---------------------------------------------------------- participants

  private upsertParticipant(state: ParticipantState, announce: boolean): RemoteParticipant {
    let participant = this.remotes.get(state.id);
    if (state.id === this.selfId) return participant ?? new RemoteParticipant(state);
    if (participant) {
      participant.state = state;
      if (announce) this.emit('participantupdated', participant);
      return participant;
    }
    participant = new RemoteParticipant(state);
    this.remotes.set(state.id, participant);
    if (announce) this.emit('participantjoined', participant);
    return participant;
  }

  private removeParticipant(participantId: string): void {
    const participant = this.remotes.get(participantId);
    for (const path of [this.active, this.transition?.path, this.earlyMesh]) {
      if (path instanceof P2PMesh) path.remove(participantId);
    }
    for (const [id, producer] of this.producers) {
      if (producer.participantId === participantId) this.producers.delete(id);
    }
    if (!participant) return;
    this.remotes.delete(participantId);
    participant.clear();
    this.emit('participantleft', participantId);
    this.checkReady();
  }

  /** The participant who joined later offers (ties: the larger id), so a pair never both offer. */
  private shouldOffer(other: ParticipantState): boolean {
    if (this.selfJoinedAt !== other.joinedAt) return this.selfJoinedAt > other.joinedAt;
    return (this.selfId ?? '') > other.id;
  }

  // --------------------------------------------------------------- quality

  private startSpeakerDetection(): void {
    const period = this.options.activeSpeakerIntervalMs ?? 300;
    if (period <= 0) return;
    this.speakerTimer = setInterval(() => {
      const levels = new Map<string, number>();
      for (const participant of this.remotes.values()) {
        const source = participant.renderedSource('audio');
        const level = source?.receiver.getSynchronizationSources()[0]?.audioLevel;
        if (typeof level === 'number') levels.set(participant.id, level);
      }
      const changed = this.speakers.update(levels);
      if (changed !== undefined) this.emit('activespeaker', changed);
    }, period);
  }

  private startQualityReports(): void {
    const period = this.options.qualityIntervalMs ?? 2_000;
    if (period <= 0) return;
    this.qualityTimer = setInterval(() => void this.reportQuality(), period);
  }

  private async reportQuality(): Promise<void> {
    const path = this.active;
    if (!path || this.state !== 'joined' || this.reconnecting) return;
    const sources = new Map<string, StatsSource>();
    if (path instanceof P2PMesh) for (const [id, pc] of path.connections()) sources.set(id, pc);
    else for (const [id, transport] of path.transports()) sources.set(id, transport);
    const sample = await this.sampler.sample(sources);
    if (!sample || path !== this.active) return;
    this.lastQuality = sample;
    this.emit('quality', sample);
    await this.request('call:quality', { ...sample }).catch(() => undefined);
  }

  // ------------------------------------------------------------------ misc

  private request<T = Record<string, unknown>>(event: string, payload: Record<string, unknown>): Promise<T> {
    // Not buffered for later: the server would get it before our rejoin, from
    // a socket that is in no call yet. What matters is redone after the rejoin.
    if (!this.socket.connected || (this.reconnecting && event !== 'call:join')) {
      return Promise.reject(new Error(`signaling connection is down: ${event} not sent`));
    }
    return request<T>(this.socket, event, { ...payload, callId: this.callId }, this.requestTimeoutMs);
  }

  private connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onConnect = (): void => {
        this.socket.off('connect_error', onError);
        resolve();
      };
      const onError = (error: Error): void => {
        // socket.io-client keeps retrying; a first failure is reported, not fatal to the socket.
        this.socket.off('connect', onConnect);
        reject(error);
      };
      this.socket.once('connect', onConnect);
      this.socket.once('connect_error', onError);
      if (this.ownsSocket && !this.socket.active) this.socket.connect();
    });
  }

  private teardown(): void {
    if (this.qualityTimer) clearInterval(this.qualityTimer);
    if (this.speakerTimer) clearInterval(this.speakerTimer);
    this.qualityTimer = this.speakerTimer = null;
    this.closePaths();
    for (const [event, listener] of this.socketListeners) this.socket.off(event, listener);
    this.socketListeners.length = 0;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const participant of this.remotes.values()) participant.clear();
    this.remotes.clear();
    this.producers.clear();
    if (this.ownsSocket) this.socket.disconnect();
    this.emit('closed');
  }
}

function placeholder(id: string): ParticipantState {
  // Media arrived before the participant's announcement (the two travel separately).
  return { id, role: 'participant', media: { audio: true, video: true, screen: false }, joinedAt: Date.now(), nodeId: '' };
}

async function inboundOf(receiver: RTCRtpReceiver): Promise<Record<string, unknown>> {
  const report = await receiver.getStats();
  let inbound: Record<string, unknown> = {};
  report.forEach((s: Record<string, unknown>) => {
    if (s.type === 'inbound-rtp') inbound = s;
  });
  return inbound;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
