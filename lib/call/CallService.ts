import { randomUUID } from 'node:crypto';
import createDebug from 'debug';
import { EnhancedEventEmitter } from '../enhancedEvents';
import { CallError, MediaCapacityError, NotCallOwnerError } from './errors';
import type { Params } from './media';
import { MediaServerPool, resolveMaxParticipantsPerRouter, type MediaServerPoolOptions } from './pool';
import { assertConversationType, determineCallMode, resolveP2pParticipantLimit } from './policy';
import { assertQualitySample, QualityMonitor, type QualityOptions, type QualityProblem } from './quality';
import { SfuSession, type ConsumerInfo, type ProducerInfo, type TransportInfo } from './sfu';
import { MemoryCallStore } from './store/memory';
import type { CallStore } from './store/types';
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
  TransitionState,
} from './types';

const debug = createDebug('opencall:call');

export const DEFAULT_HYSTERESIS_MS = 10_000;
export const DEFAULT_MIN_TRANSITION_INTERVAL_MS = 10_000;
export const DEFAULT_TRANSITION_TIMEOUT_MS = 5_000;
export const DEFAULT_MESH_LIMIT = 4;
export const DEFAULT_CHAT_HISTORY_LIMIT = 200;
export const DEFAULT_NODE_TTL_MS = 15_000;
const MAX_CHAT_MESSAGE_LENGTH = 4_000;

export interface CallServiceOptions {
  /** This gateway's id in the store; default a random UUID. */
  nodeId?: string;
  /** Address announced in this node's ICE candidates (recorded for other nodes). */
  announcedAddress?: string;
  /** Largest `group` call kept in P2P; default `P2P_PARTICIPANT_LIMIT` or 2. */
  p2pParticipantLimit?: number;
  /** Largest call a P2P mesh may carry when no media server has capacity. */
  meshLimit?: number;
  /** How long the count must stay <= limit before SFU -> P2P. */
  hysteresisMs?: number;
  /** No SFU -> P2P switch (nor a retry) sooner than this after the previous transition. */
  minTransitionIntervalMs?: number;
  /** How long all participants have to acknowledge a mode switch. */
  transitionTimeoutMs?: number;
  quality?: QualityOptions;
  /** Create the router ahead of time when a P2P call reaches the limit (default true). */
  prewarm?: boolean;
  /** Also ask clients to build idle SFU transports while pre-warmed (default true). */
  prewarmTransports?: boolean;
  /** The media-server pool, or options for the default one (real opencall workers). */
  pool?: MediaServerPool | MediaServerPoolOptions;
  /**
   * Participants one router carries before an SFU call spreads to a router
   * on another worker (core), its producers piped between them; default
   * `MAX_PARTICIPANTS_PER_ROUTER` or 12.
   */
  maxParticipantsPerRouter?: number;
  store?: CallStore;
  /** Options of every `router.createWebRtcTransport()` (listenInfos, announced address, ...). */
  webRtcTransportOptions?: Params;
  chatHistoryLimit?: number;
  /** A node whose heartbeat is older than this is considered gone. */
  nodeTtlMs?: number;
}

export interface JoinOptions {
  participantId: string;
  /** Used when the call is created; a later join into an existing call keeps the call's type. */
  conversationType: ConversationType;
  role?: ParticipantRole;
  media?: Partial<MediaState>;
  displayName?: string;
  /** Per-call P2P limit, fixed when the call is created. */
  p2pParticipantLimit?: number;
  /** Gateway node of the participant's socket; default this node. */
  nodeId?: string;
  /**
   * The signaling connection (e.g. the socket id) the participant joins
   * from. A join with a new one is a reconnect; `leave(…, { connectionId })`
   * only applies while the participant is still on that connection.
   */
  connectionId?: string;
}

export interface JoinResult {
  call: CallState;
  /** The router's capabilities when the call is (or is becoming) SFU, or is pre-warmed. */
  rtpCapabilities?: Params;
  /** Producers to consume right away in SFU mode. */
  producers: ProducerInfo[];
  chatHistory: ChatMessage[];
}

/** A server -> client event. `to`: one participant; absent: everyone in the call. */
export interface CallSignal {
  callId: string;
  to?: string;
  except?: string;
  event: string;
  payload: Record<string, unknown>;
}

export interface TransitionEvent {
  callId: string;
  transitionId: string;
  from: CallMode;
  to: CallMode;
  trigger: TransitionTrigger;
  initiator?: string;
}

export type CallServiceEvents = {
  'meeting:transition:started': [TransitionEvent];
  'meeting:transition:completed': [TransitionEvent & { durationMs: number }];
  'meeting:transition:failed': [TransitionEvent & { reason: string }];
  'quality-update': [
    { callId: string; participantId: string; sample: QualitySample; problems: QualityProblem[]; sustained: boolean },
  ];
  /** Every server -> client event; the Socket.IO binding delivers them. */
  signal: [CallSignal];
  'call:created': [CallState];
  'call:ended': [{ callId: string }];
  /** A participant still in the call joined again from a new signaling connection. */
  'participant:reconnected': [{ callId: string; participantId: string }];
  /** A participant's client lost an SFU transport's connection and got new ICE credentials for it. */
  'sfu:ice-restart': [{ callId: string; participantId: string; transportId: string }];
  listenererror: [string, unknown];
};

/** The per-call state only the owning node holds: timers, router, quality runs. */
interface CallRuntime {
  state: CallState;
  sfu: SfuSession | null;
  quality: QualityMonitor;
  hysteresisTimer: NodeJS.Timeout | null;
  transitionTimer: NodeJS.Timeout | null;
  retryTimer: NodeJS.Timeout | null;
  /** No automatic P2P -> SFU retry before this time (after a failure). */
  retryNotBefore: number;
  /**
   * After a quality-triggered switch the call stays SFU while it keeps at
   * least this many participants: the count alone would send it straight back
   * to the mesh that was failing.
   */
  qualityHoldCount: number | null;
  /**
   * Each participant's signaling connection (`JoinOptions.connectionId`),
   * kept on the owner only: a connection's delayed leave must not remove a
   * participant who has reconnected since.
   */
  connections: Map<string, string>;
}

/**
 * Calls, their participants and their mode. Decides when a call moves
 * between P2P and SFU and runs the make-before-break switch with its clients.
 *
 * Each call is owned by one node (the one that created it, or took it over):
 * that node holds the call's timers and router; others get `NotCallOwnerError`
 * and forward (see `attachCallService`). Operations on one call are
 * serialized, so timers, joins and acknowledgements never interleave.
 */
export class CallService extends EnhancedEventEmitter<CallServiceEvents> {
  readonly nodeId: string;
  readonly store: CallStore;
  readonly pool: MediaServerPool;
  readonly p2pParticipantLimit: number;
  readonly meshLimit: number;
  readonly hysteresisMs: number;
  readonly minTransitionIntervalMs: number;
  readonly transitionTimeoutMs: number;
  readonly maxParticipantsPerRouter: number;
  private readonly options: CallServiceOptions;
  private readonly runtimes = new Map<string, CallRuntime>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly nodeTtlMs: number;
  private closed = false;

  constructor(options: CallServiceOptions = {}) {
    super();
    this.options = options;
    this.nodeId = options.nodeId ?? randomUUID();
    this.store = options.store ?? new MemoryCallStore();
    this.pool = options.pool instanceof MediaServerPool ? options.pool : new MediaServerPool(options.pool);
    this.p2pParticipantLimit = resolveP2pParticipantLimit(options.p2pParticipantLimit);
    this.meshLimit = options.meshLimit ?? Math.max(DEFAULT_MESH_LIMIT, this.p2pParticipantLimit);
    this.hysteresisMs = options.hysteresisMs ?? DEFAULT_HYSTERESIS_MS;
    this.minTransitionIntervalMs = options.minTransitionIntervalMs ?? DEFAULT_MIN_TRANSITION_INTERVAL_MS;
    this.transitionTimeoutMs = options.transitionTimeoutMs ?? DEFAULT_TRANSITION_TIMEOUT_MS;
    this.maxParticipantsPerRouter = resolveMaxParticipantsPerRouter(options.maxParticipantsPerRouter);
    this.nodeTtlMs = options.nodeTtlMs ?? DEFAULT_NODE_TTL_MS;
    // Validates the quality options once, up front.
    new QualityMonitor(options.quality);
    this.pool.on('routerslost', (callIds) => {
      for (const callId of callIds) this.background(callId, (rt) => this.onRouterLost(rt));
    });
    void this.beat();
    this.heartbeatTimer = setInterval(() => void this.beat(), Math.max(1, Math.floor(this.nodeTtlMs / 3)));
    this.heartbeatTimer.unref?.();
  }

  // ---------------------------------------------------------------- queries

  /** The call as stored (any node's), or undefined. */
  async getCall(callId: string): Promise<CallState | undefined> {
    const rt = this.runtimes.get(callId);
    return rt ? structuredClone(rt.state) : this.store.get(callId);
  }

  /** Calls this node owns right now. */
  get ownedCallIds(): string[] {
    return [...this.runtimes.keys()];
  }

  async chatHistory(callId: string): Promise<ChatMessage[]> {
    return this.store.chatHistory(callId);
  }

  // ---------------------------------------------------------- participants

  async join(callId: string, options: JoinOptions): Promise<JoinResult> {
    assertId(callId, 'callId');
    assertId(options.participantId, 'participantId');
    return this.withCall(callId, async () => {
      const rt = await this.ownedRuntime(callId, options);
      const { state } = rt;
      const existing = findParticipant(state, options.participantId);
      const previousConnection = rt.connections.get(options.participantId);
      if (existing) {
        if (options.connectionId !== undefined) rt.connections.set(options.participantId, options.connectionId);
        // A reconnect: same seat, media state kept unless the client says otherwise.
        existing.nodeId = options.nodeId ?? this.nodeId;
        Object.assign(existing.media, pickMedia(options.media));
        await this.persist(rt);
        if (options.connectionId !== undefined && options.connectionId !== previousConnection) {
          this.safeEmit('participant:reconnected', { callId, participantId: options.participantId });
        }
        return this.joinResult(rt, options.participantId);
      }

      await this.admit(rt, state.participants.length + 1);
      if (options.connectionId !== undefined) rt.connections.set(options.participantId, options.connectionId);
      const participant: ParticipantState = {
        id: options.participantId,
        role: options.role ?? (state.participants.length === 0 ? 'host' : 'participant'),
        media: { audio: true, video: true, screen: false, ...pickMedia(options.media) },
        displayName: options.displayName,
        joinedAt: Date.now(),
        nodeId: options.nodeId ?? this.nodeId,
      };
      state.participants.push(participant);
      if (state.transition) state.transition.pending.push(participant.id);
      await this.persist(rt);
      this.signal(callId, 'call:participant-joined', { callId, participant }, { except: participant.id });
      await this.evaluate(rt, 'participant-joined', participant.id);
      return this.joinResult(rt, participant.id);
    });
  }

  /**
   * Removes a participant. With `connectionId`, only if the participant is
   * still on that signaling connection: a dropped socket's delayed leave
   * does nothing once its participant has joined again from another.
   */
  async leave(callId: string, participantId: string, options: { connectionId?: string } = {}): Promise<void> {
    return this.withCall(callId, async () => {
      const rt = await this.ownedRuntime(callId);
      const { state } = rt;
      const index = state.participants.findIndex((p) => p.id === participantId);
      if (index === -1) return;
      const connection = rt.connections.get(participantId);
      if (options.connectionId !== undefined && connection !== undefined && connection !== options.connectionId) return;
      rt.connections.delete(participantId);
      state.participants.splice(index, 1);
      rt.quality.forget(participantId);
      rt.sfu?.removeParticipant(participantId);
      this.signal(callId, 'call:participant-left', { callId, participantId });
      if (state.participants.length === 0) {
        await this.endCall(rt);
        return;
      }
      if (rt.qualityHoldCount !== null && state.participants.length < rt.qualityHoldCount) {
        rt.qualityHoldCount = null;
      }
      if (state.transition) {
        state.transition.pending = state.transition.pending.filter((id) => id !== participantId);
        if (state.transition.pending.length === 0) {
          await this.completeTransition(rt);
          return;
        }
      }
      await this.persist(rt);
      await this.evaluate(rt, 'participant-left');
    });
  }

  /** Mute / camera / screen-share changes; kept across mode switches. */
  async updateMedia(callId: string, participantId: string, media: Partial<MediaState>): Promise<ParticipantState> {
    return this.withCall(callId, async () => {
      const rt = await this.ownedRuntime(callId);
      const participant = this.member(rt, participantId);
      Object.assign(participant.media, pickMedia(media));
      await this.persist(rt);
      this.signal(callId, 'call:participant-updated', { callId, participant });
      return structuredClone(participant);
    });
  }

  async sendChatMessage(callId: string, participantId: string, text: string): Promise<ChatMessage> {
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_CHAT_MESSAGE_LENGTH) {
      throw new TypeError(`chat text must be a non-empty string of at most ${MAX_CHAT_MESSAGE_LENGTH} characters`);
    }
    return this.withCall(callId, async () => {
      const rt = await this.ownedRuntime(callId);
      this.member(rt, participantId);
      const message: ChatMessage = { id: randomUUID(), callId, participantId, text, sentAt: Date.now() };
      await this.store.appendChat(callId, message, this.options.chatHistoryLimit ?? DEFAULT_CHAT_HISTORY_LIMIT);
      this.signal(callId, 'chat:message', { callId, message });
      return message;
    });
  }

  // ---------------------------------------------------------------- quality

  /** A client's quality sample (from `getStats()`); may trigger P2P -> SFU. */
  async reportQuality(callId: string, participantId: string, sample: QualitySample): Promise<void> {
    assertQualitySample(sample);
    return this.withCall(callId, async () => {
      const rt = await this.ownedRuntime(callId);
      this.member(rt, participantId);
      const verdict = rt.quality.record(participantId, sample, Date.now());
      this.safeEmit('quality-update', { callId, participantId, sample, ...verdict });
      const { state } = rt;
      const atLimit =
        state.conversationType === 'group' && state.participants.length >= state.p2pParticipantLimit;
      if (verdict.sustained && atLimit && state.mode === 'p2p' && !state.transition && this.mayTransition(rt)) {
        await this.startTransition(rt, 'sfu', 'quality-degraded', participantId);
      }
    });
  }

  // ------------------------------------------------------------ transitions

  /**
   * A client's answer to `call:mode-switch`: it has built the new path
   * (`success`), or could not. Answers to an older transition are ignored.
   */
  async acknowledgeTransition(
    callId: string,
    participantId: string,
    transitionId: string,
    success = true,
    error?: string,
  ): Promise<{ accepted: boolean }> {
    return this.withCall(callId, async () => {
      const rt = await this.ownedRuntime(callId);
      const transition = rt.state.transition;
      if (!transition || transition.id !== transitionId || !transition.pending.includes(participantId)) {
        return { accepted: false };
      }
      if (!success) {
        await this.failTransition(rt, `participant ${participantId} failed: ${error ?? 'unknown error'}`);
        return { accepted: true };
      }
      transition.pending = transition.pending.filter((id) => id !== participantId);
      if (transition.pending.length === 0) await this.completeTransition(rt);
      else await this.persist(rt);
      return { accepted: true };
    });
  }

  // -------------------------------------------------------------------- SFU

  async getRouterRtpCapabilities(callId: string, participantId: string): Promise<Params> {
    return (await this.session(callId, participantId)).rtpCapabilities;
  }

  async createWebRtcTransport(callId: string, participantId: string, appData?: Params): Promise<TransportInfo> {
    return (await this.session(callId, participantId)).createWebRtcTransport(participantId, appData);
  }

  async connectWebRtcTransport(
    callId: string,
    participantId: string,
    transportId: string,
    dtlsParameters: Params,
  ): Promise<void> {
    return (await this.session(callId, participantId)).connectTransport(participantId, transportId, dtlsParameters);
  }

  /**
   * New ICE credentials for one of the participant's transports (its client
   * lost the connection: a network change or an outage); emits `sfu:ice-restart`.
   */
  async restartIce(callId: string, participantId: string, transportId: string): Promise<Params> {
    const iceParameters = await (await this.session(callId, participantId)).restartIce(participantId, transportId);
    this.safeEmit('sfu:ice-restart', { callId, participantId, transportId });
    return iceParameters;
  }

  async produce(
    callId: string,
    participantId: string,
    options: { transportId: string; kind: string; rtpParameters: Params; paused?: boolean; appData?: Params },
  ): Promise<{ id: string }> {
    if (options.paused !== undefined && typeof options.paused !== 'boolean') {
      throw new TypeError('if given, paused must be a boolean');
    }
    const sfu = await this.session(callId, participantId);
    return sfu.produce(participantId, options.transportId, options.kind, options.rtpParameters, options.appData, options.paused);
  }

  async closeProducer(callId: string, participantId: string, producerId: string): Promise<void> {
    (await this.session(callId, participantId)).closeProducer(participantId, producerId);
  }

  /** Pre-warmed producers are created paused (no RTP, no cost) and resumed when the switch comes. */
  async pauseProducer(callId: string, participantId: string, producerId: string): Promise<void> {
    return (await this.session(callId, participantId)).pauseProducer(participantId, producerId);
  }

  async resumeProducer(callId: string, participantId: string, producerId: string): Promise<void> {
    return (await this.session(callId, participantId)).resumeProducer(participantId, producerId);
  }

  async consume(
    callId: string,
    participantId: string,
    options: { transportId: string; producerId: string; rtpCapabilities: Params },
  ): Promise<ConsumerInfo> {
    const sfu = await this.session(callId, participantId);
    return sfu.consume(participantId, options.transportId, options.producerId, options.rtpCapabilities);
  }

  async resumeConsumer(callId: string, participantId: string, consumerId: string): Promise<void> {
    return (await this.session(callId, participantId)).resumeConsumer(participantId, consumerId);
  }

  // ------------------------------------------------------------- lifecycle

  /**
   * Takes over calls whose owner node stopped heart-beating (runs with every
   * heartbeat; callable directly). Calls whose participants were all on the
   * dead node are deleted.
   */
  async adoptOrphanedCalls(): Promise<string[]> {
    if (this.closed) return [];
    const live = await this.liveNodeIds();
    const adopted: string[] = [];
    for (const call of await this.store.list()) {
      if (live.has(call.ownerNodeId) || this.runtimes.has(call.id)) continue;
      try {
        await this.withCall(call.id, () => this.ownedRuntime(call.id));
        if (this.runtimes.has(call.id)) adopted.push(call.id);
      } catch (error) {
        if (!(error instanceof CallError)) debug('adopting call %s failed: %o', call.id, error);
      }
    }
    return adopted;
  }

  /**
   * Stops timers and media, and leaves this node's calls in the store for
   * another node to take over (its heartbeat is removed at once).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    for (const rt of this.runtimes.values()) this.clearTimers(rt);
    this.runtimes.clear();
    this.pool.close();
    await this.store.removeNode(this.nodeId).catch(() => undefined);
  }

  // ================================================================ internals

  /** Runs `fn` after every earlier operation on the same call has settled. */
  private withCall<T>(callId: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new CallError('SERVICE_CLOSED', 'the call service is closed'));
    const previous = this.locks.get(callId) ?? Promise.resolve();
    const result = previous.then(fn);
    const tail = result.catch(() => undefined);
    this.locks.set(callId, tail);
    void tail.then(() => {
      if (this.locks.get(callId) === tail) this.locks.delete(callId);
    });
    return result;
  }

  /** For timers and pool events: run on the call if we still own it; log failures. */
  private background(callId: string, fn: (rt: CallRuntime) => Promise<void>): void {
    if (this.closed) return;
    this.withCall(callId, async () => {
      const rt = this.runtimes.get(callId);
      if (rt) await fn(rt);
    }).catch((error) => debug('background work on call %s failed: %o', callId, error));
  }

  /**
   * This node's runtime for the call: already held, created (when `create` is
   * given and the call does not exist), or taken over from a dead owner.
   */
  private async ownedRuntime(
    callId: string,
    create?: Pick<JoinOptions, 'conversationType' | 'p2pParticipantLimit'>,
  ): Promise<CallRuntime> {
    const held = this.runtimes.get(callId);
    if (held) return held;
    if (create) assertConversationType(create.conversationType);
    const limit = create ? resolveP2pParticipantLimit(create.p2pParticipantLimit ?? this.p2pParticipantLimit) : 0;
    const live = await this.liveNodeIds();
    let previousOwner: string | undefined;
    const now = Date.now();
    const stored = await this.store.update(callId, (current) => {
      previousOwner = current?.ownerNodeId;
      if (!current) {
        if (!create) return undefined;
        return {
          id: callId,
          conversationType: create.conversationType,
          mode: 'p2p',
          p2pParticipantLimit: limit,
          participants: [],
          transition: null,
          ownerNodeId: this.nodeId,
          routerId: null,
          prewarmed: false,
          createdAt: now,
          updatedAt: now,
          lastTransitionAt: null,
        };
      }
      if (current.ownerNodeId === this.nodeId || live.has(current.ownerNodeId)) return current;
      // Take-over: the owner is gone, and so is its router; participants whose
      // sockets were on the dead node are gone too.
      return {
        ...current,
        ownerNodeId: this.nodeId,
        participants: current.participants.filter((p) => live.has(p.nodeId)),
        routerId: null,
        prewarmed: false,
        updatedAt: now,
      };
    });
    if (!stored) throw new CallError('CALL_NOT_FOUND', `call ${callId} does not exist`);
    if (stored.ownerNodeId !== this.nodeId) throw new NotCallOwnerError(callId, stored.ownerNodeId);

    const rt: CallRuntime = {
      state: stored,
      sfu: null,
      quality: new QualityMonitor(this.options.quality),
      hysteresisTimer: null,
      transitionTimer: null,
      retryTimer: null,
      retryNotBefore: 0,
      qualityHoldCount: null,
      connections: new Map(),
    };
    this.runtimes.set(callId, rt);
    if (previousOwner === undefined) {
      this.safeEmit('call:created', structuredClone(stored));
    } else if (previousOwner !== this.nodeId) {
      await this.takeOver(rt, previousOwner);
    }
    return rt;
  }

  private async takeOver(rt: CallRuntime, previousOwner: string): Promise<void> {
    const { state } = rt;
    debug('node %s takes over call %s from %s', this.nodeId, state.id, previousOwner);
    if (state.participants.length === 0) {
      await this.endCall(rt);
      throw new CallError('CALL_NOT_FOUND', `call ${state.id} ended with its node`);
    }
    // A switch in flight died with the old owner: the call is still in its
    // `from` mode on the clients, which never got `mode-switched`.
    if (state.transition) {
      const { id, from } = state.transition;
      state.transition = null;
      this.signal(state.id, 'call:mode-switched', { callId: state.id, transitionId: id, success: false, mode: from });
    }
    await this.persist(rt);
    if (state.mode === 'sfu') await this.startTransition(rt, 'sfu', 'node-takeover');
    else await this.evaluate(rt, 'node-takeover');
  }

  /** Refuses a join the call could not carry: too big for a mesh and no SFU capacity. */
  private async admit(rt: CallRuntime, newCount: number): Promise<void> {
    const { state } = rt;
    const wanted = determineCallMode(state.conversationType, newCount, {
      p2pParticipantLimit: state.p2pParticipantLimit,
    });
    const carriedBySfu = state.mode === 'sfu' || state.transition?.to === 'sfu';
    if (newCount <= this.meshLimit || carriedBySfu) return;
    if (wanted === 'sfu') {
      try {
        await this.ensureSession(rt);
        return;
      } catch (error) {
        if (!(error instanceof MediaCapacityError)) throw error;
      }
    }
    throw new CallError(
      'CALL_CAPACITY_EXCEEDED',
      `call ${state.id} cannot take a participant: ${newCount} is more than a peer-to-peer mesh can carry ` +
        `(meshLimit ${this.meshLimit})` +
        (wanted === 'sfu' ? ' and no media server has capacity' : ` for a ${state.conversationType} call`),
    );
  }

  /** Applies the mode policy and its timing rules after any change of the call. */
  private async evaluate(rt: CallRuntime, trigger: TransitionTrigger, initiator?: string): Promise<void> {
    const { state } = rt;
    if (state.transition || state.participants.length === 0) return;
    const count = state.participants.length;
    const wanted = determineCallMode(state.conversationType, count, {
      p2pParticipantLimit: state.p2pParticipantLimit,
    });

    if (state.mode === 'p2p' && wanted === 'sfu') {
      const wait = rt.retryNotBefore - Date.now();
      if (wait > 0) this.armRetry(rt, wait);
      else await this.startTransition(rt, 'sfu', trigger, initiator);
      return;
    }
    if (state.mode === 'sfu') {
      const held = rt.qualityHoldCount !== null && count >= rt.qualityHoldCount;
      if (wanted === 'sfu' || held) this.cancelHysteresis(rt);
      else this.armHysteresis(rt);
      return;
    }
    // P2P and staying so: pre-warm at the limit, release below it.
    const atLimit = state.conversationType === 'group' && count >= state.p2pParticipantLimit;
    if (atLimit && this.options.prewarm !== false) await this.prewarm(rt);
    else if (!atLimit) await this.releasePrewarm(rt);
  }

  /** Whether the minimum interval since the previous transition has passed. */
  private mayTransition(rt: CallRuntime): boolean {
    const last = rt.state.lastTransitionAt;
    return last === null || Date.now() - last >= this.minTransitionIntervalMs;
  }

  private armHysteresis(rt: CallRuntime, delay = this.hysteresisMs): void {
    // Not re-armed while running: the delay counts from when the call first
    // dropped to the limit, not from the latest leave.
    if (rt.hysteresisTimer) return;
    rt.hysteresisTimer = setTimeout(() => {
      rt.hysteresisTimer = null;
      this.background(rt.state.id, async (current) => {
        if (current !== rt) return;
        const { state } = rt;
        const wanted = determineCallMode(state.conversationType, state.participants.length, {
          p2pParticipantLimit: state.p2pParticipantLimit,
        });
        const held = rt.qualityHoldCount !== null && state.participants.length >= rt.qualityHoldCount;
        if (state.mode !== 'sfu' || state.transition || wanted !== 'p2p' || held) return;
        const sinceLast = state.lastTransitionAt === null ? Infinity : Date.now() - state.lastTransitionAt;
        if (sinceLast < this.minTransitionIntervalMs) {
          this.armHysteresis(rt, this.minTransitionIntervalMs - sinceLast);
          return;
        }
        await this.startTransition(rt, 'p2p', 'participant-left');
      });
    }, delay);
  }

  private cancelHysteresis(rt: CallRuntime): void {
    if (rt.hysteresisTimer) clearTimeout(rt.hysteresisTimer);
    rt.hysteresisTimer = null;
  }

  private armRetry(rt: CallRuntime, delay: number): void {
    if (rt.retryTimer) return;
    rt.retryTimer = setTimeout(() => {
      rt.retryTimer = null;
      this.background(rt.state.id, (current) => (current === rt ? this.evaluate(rt, 'participant-joined') : Promise.resolve()));
    }, delay);
  }

  /** The call's SFU session, creating its router on the least-loaded worker if needed. */
  private async ensureSession(rt: CallRuntime): Promise<SfuSession> {
    if (rt.sfu && !rt.sfu.router.closed) return rt.sfu;
    const callId = rt.state.id;
    const router = await this.pool.acquireRouter(callId);
    rt.sfu = new SfuSession(
      callId,
      router,
      this.options.webRtcTransportOptions ?? {},
      (to, event, payload, except) => this.signal(callId, event, payload, { to: to ?? undefined, except }),
      {
        maxParticipantsPerRouter: this.maxParticipantsPerRouter,
        add: () => this.pool.addRouter(callId, router),
        release: (extra) => this.pool.releaseExtraRouter(callId, extra),
      },
    );
    rt.state.routerId = router.id;
    return rt.sfu;
  }

  private releaseSession(rt: CallRuntime): void {
    if (!rt.sfu) return;
    rt.sfu.removeAllParticipants();
    rt.sfu.close();
    rt.sfu = null;
    this.pool.releaseRouter(rt.state.id);
    rt.state.routerId = null;
    rt.state.prewarmed = false;
  }

  private async prewarm(rt: CallRuntime): Promise<void> {
    if (rt.state.prewarmed && rt.sfu) return;
    let session: SfuSession;
    try {
      session = await this.ensureSession(rt);
    } catch (error) {
      // Best effort: without capacity the switch will try again when needed.
      debug('pre-warming call %s failed: %s', rt.state.id, (error as Error).message);
      return;
    }
    rt.state.prewarmed = true;
    await this.persist(rt);
    if (this.options.prewarmTransports !== false) {
      this.signal(rt.state.id, 'call:prewarm', { callId: rt.state.id, rtpCapabilities: session.rtpCapabilities });
    }
  }

  private async releasePrewarm(rt: CallRuntime): Promise<void> {
    if (!rt.state.prewarmed && !rt.sfu) return;
    this.releaseSession(rt);
    await this.persist(rt);
    if (this.options.prewarmTransports !== false) {
      this.signal(rt.state.id, 'call:prewarm-released', { callId: rt.state.id });
    }
  }

  private async startTransition(
    rt: CallRuntime,
    to: CallMode,
    trigger: TransitionTrigger,
    initiator?: string,
  ): Promise<void> {
    const { state } = rt;
    const transition: TransitionState = {
      id: randomUUID(),
      from: state.mode,
      to,
      trigger,
      initiator,
      startedAt: Date.now(),
      pending: state.participants.map((p) => p.id),
    };
    this.cancelHysteresis(rt);
    const event = this.transitionEvent(state.id, transition);
    this.safeEmit('meeting:transition:started', event);

    let rtpCapabilities: Params | undefined;
    if (to === 'sfu') {
      try {
        const session = await this.ensureSession(rt);
        rtpCapabilities = session.rtpCapabilities;
        // Pre-warmed media goes live now, before the clients start sending (see resumeAll).
        await session.resumeAll();
      } catch (error) {
        if (!(error instanceof MediaCapacityError)) throw error;
        // Nothing was sent to clients yet: the call simply stays where it is
        // (or falls back to a mesh if its router died) and retries later.
        this.safeEmit('meeting:transition:failed', { ...event, reason: error.message });
        rt.retryNotBefore = Date.now() + this.minTransitionIntervalMs;
        if (state.mode === 'sfu') {
          rt.sfu = null;
          state.routerId = null;
          if (state.participants.length <= this.meshLimit) {
            await this.startTransition(rt, 'p2p', trigger, initiator);
            return;
          }
        }
        this.armRetry(rt, this.minTransitionIntervalMs);
        await this.persist(rt);
        return;
      }
      state.prewarmed = false;
    }

    state.transition = transition;
    await this.persist(rt);
    rt.transitionTimer = setTimeout(() => {
      rt.transitionTimer = null;
      this.background(state.id, async (current) => {
        if (current === rt && state.transition?.id === transition.id) {
          await this.failTransition(rt, `timed out after ${this.transitionTimeoutMs} ms`);
        }
      });
    }, this.transitionTimeoutMs);
    this.signal(state.id, 'call:mode-switch', {
      callId: state.id,
      transitionId: transition.id,
      mode: to,
      trigger,
      ...(rtpCapabilities ? { rtpCapabilities } : {}),
      ...(initiator ? { initiator } : {}),
    });
  }

  private async completeTransition(rt: CallRuntime): Promise<void> {
    const { state } = rt;
    const transition = state.transition!;
    this.clearTransitionTimer(rt);
    state.transition = null;
    state.mode = transition.to;
    state.lastTransitionAt = Date.now();
    rt.quality.reset();
    if (transition.to === 'p2p') {
      this.releaseSession(rt);
      rt.qualityHoldCount = null;
    } else if (transition.trigger === 'quality-degraded') {
      rt.qualityHoldCount = state.participants.length;
    }
    await this.persist(rt);
    this.signal(state.id, 'call:mode-switched', {
      callId: state.id,
      transitionId: transition.id,
      success: true,
      mode: state.mode,
    });
    this.safeEmit('meeting:transition:completed', {
      ...this.transitionEvent(state.id, transition),
      durationMs: state.lastTransitionAt - transition.startedAt,
    });
    // Whatever happened during the switch (joins, leaves) is looked at now.
    await this.evaluate(rt, transition.trigger);
  }

  /** Back to the previous mode: clients keep (or return to) their old path. */
  private async failTransition(rt: CallRuntime, error: string): Promise<void> {
    const { state } = rt;
    const transition = state.transition!;
    this.clearTransitionTimer(rt);
    state.transition = null;
    state.mode = transition.from;
    state.lastTransitionAt = Date.now();
    rt.retryNotBefore = Date.now() + this.minTransitionIntervalMs;
    // Transports built for the aborted SFU path are useless; the router is
    // kept only if the call still wants it pre-warmed (evaluate decides).
    if (transition.from === 'p2p') rt.sfu?.removeAllParticipants();
    await this.persist(rt);
    this.signal(state.id, 'call:mode-switched', {
      callId: state.id,
      transitionId: transition.id,
      success: false,
      mode: state.mode,
      reason: error,
    });
    this.safeEmit('meeting:transition:failed', { ...this.transitionEvent(state.id, transition), reason: error });
    await this.evaluate(rt, transition.trigger);
  }

  /** The call's worker died: its clients rebuild their SFU path on a new router. */
  private async onRouterLost(rt: CallRuntime): Promise<void> {
    const { state } = rt;
    // Rebuilt already, between the loss and its report (a switch that
    // found the home router closed made a new session): nothing was lost.
    if (rt.sfu && rt.sfu.routers.every((router) => !router.closed)) return;
    rt.sfu?.abandon();
    rt.sfu = null;
    state.routerId = null;
    state.prewarmed = false;
    if (state.transition) {
      // Its evaluation may already start the next switch (on a new router).
      await this.failTransition(rt, 'media server lost');
      if (state.transition) return;
    }
    if (state.mode === 'sfu') await this.startTransition(rt, 'sfu', 'media-server-lost');
    else await this.evaluate(rt, 'media-server-lost');
  }

  private async endCall(rt: CallRuntime): Promise<void> {
    const callId = rt.state.id;
    this.clearTimers(rt);
    this.releaseSession(rt);
    this.runtimes.delete(callId);
    await this.store.delete(callId);
    this.safeEmit('call:ended', { callId });
  }

  private clearTransitionTimer(rt: CallRuntime): void {
    if (rt.transitionTimer) clearTimeout(rt.transitionTimer);
    rt.transitionTimer = null;
  }

  private clearTimers(rt: CallRuntime): void {
    this.cancelHysteresis(rt);
    this.clearTransitionTimer(rt);
    if (rt.retryTimer) clearTimeout(rt.retryTimer);
    rt.retryTimer = null;
  }

  /** Writes the call to the store; a node that lost the call to another stops acting on it. */
  private async persist(rt: CallRuntime): Promise<void> {
    rt.state.updatedAt = Date.now();
    const snapshot = structuredClone(rt.state);
    const stored = await this.store.update(rt.state.id, (current) =>
      current && current.ownerNodeId !== this.nodeId ? current : snapshot,
    );
    if (stored && stored.ownerNodeId !== this.nodeId) {
      this.clearTimers(rt);
      this.releaseSession(rt);
      this.runtimes.delete(rt.state.id);
      throw new NotCallOwnerError(rt.state.id, stored.ownerNodeId);
    }
  }

  private async session(callId: string, participantId: string): Promise<SfuSession> {
    // Not serialized with the call's other operations: media requests do not
    // change call state, and a switch waits for clients that make them.
    const rt = this.runtimes.get(callId) ?? (await this.withCall(callId, () => this.ownedRuntime(callId)));
    this.member(rt, participantId);
    if (!rt.sfu) throw new CallError('NO_ROUTER', `call ${callId} has no router (mode ${rt.state.mode})`);
    return rt.sfu;
  }

  private member(rt: CallRuntime, participantId: string): ParticipantState {
    const participant = findParticipant(rt.state, participantId);
    if (!participant) {
      throw new CallError('NOT_IN_CALL', `participant ${participantId} is not in call ${rt.state.id}`);
    }
    return participant;
  }

  private async joinResult(rt: CallRuntime, participantId: string): Promise<JoinResult> {
    return {
      call: structuredClone(rt.state),
      rtpCapabilities: rt.sfu?.rtpCapabilities,
      // Pre-warmed (paused) producers too: a joiner's own pre-warmed session consumes them ahead of the switch.
      producers: rt.sfu ? rt.sfu.producersFor(participantId) : [],
      chatHistory: await this.store.chatHistory(rt.state.id),
    };
  }

  private transitionEvent(callId: string, t: TransitionState): TransitionEvent {
    return { callId, transitionId: t.id, from: t.from, to: t.to, trigger: t.trigger, initiator: t.initiator };
  }

  private signal(
    callId: string,
    event: string,
    payload: Record<string, unknown>,
    target: { to?: string; except?: string } = {},
  ): void {
    this.safeEmit('signal', { callId, event, payload: structuredClone(payload), ...target });
  }

  private async liveNodeIds(): Promise<Set<string>> {
    const ids = new Set((await this.store.liveNodes()).map((n) => n.id));
    ids.add(this.nodeId);
    return ids;
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      await this.store.heartbeat({ id: this.nodeId, announcedAddress: this.options.announcedAddress }, this.nodeTtlMs);
      await this.adoptOrphanedCalls();
    } catch (error) {
      debug('heartbeat failed: %o', error);
    }
  }
}

function findParticipant(state: CallState, participantId: string): ParticipantState | undefined {
  return state.participants.find((p) => p.id === participantId);
}

function pickMedia(media: Partial<MediaState> | undefined): Partial<MediaState> {
  const picked: Partial<MediaState> = {};
  for (const key of ['audio', 'video', 'screen'] as const) {
    if (typeof media?.[key] === 'boolean') picked[key] = media[key];
  }
  return picked;
}

function assertId(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw new TypeError(`${name} must be a non-empty string of at most 256 characters`);
  }
}
