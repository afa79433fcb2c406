import { CallError } from './errors';
import type {
  MediaConsumer,
  MediaProducer,
  MediaRouter,
  MediaWebRtcTransport,
  Params,
} from './media';

/** A producer as other participants learn about it (`new-producer`). */
export interface ProducerInfo {
  producerId: string;
  participantId: string;
  kind: string;
  /** Paused producers (pre-warmed, not yet switched to) send nothing until resumed. */
  paused: boolean;
  appData: Params;
}

export interface TransportInfo {
  id: string;
  iceParameters: Params;
  iceCandidates: Params[];
  dtlsParameters: Params;
  sctpParameters?: Params;
}

export interface ConsumerInfo {
  id: string;
  producerId: string;
  kind: string;
  rtpParameters: Params;
  type?: string;
  producerPaused?: boolean;
}

/** Sends a server → client event: to one participant, or to the whole call. */
export type SfuNotify = (to: string | null, event: string, payload: Record<string, unknown>, except?: string) => void;

interface Owned<T> {
  participantId: string;
  object: T;
}

/** Where a call gets further routers when it outgrows one (see MediaServerPool.addRouter). */
export interface RouterSource {
  /** Participants one router takes before the call spreads to another worker. */
  maxParticipantsPerRouter: number;
  /** A router on a worker the call does not use yet, or undefined if there is none. */
  add(): Promise<MediaRouter | undefined>;
  /** Gives back a further router the call no longer uses. */
  release(router: MediaRouter): void;
}

/**
 * One call's SFU side: its routers, and the transports, producers and
 * consumers of its participants. Every id a client sends is checked against
 * the participant that owns it, so a client can only touch its own media
 * objects.
 *
 * A call larger than `maxParticipantsPerRouter` spreads over several workers
 * (cores): each participant's transports live on one router of the call, and
 * a producer is piped (`pipeToRouter`, same id) to each other router where
 * somebody consumes it. What a worker spends is mostly the copies it sends,
 * so spreading the receivers spreads the load.
 */
export class SfuSession {
  private readonly transports = new Map<string, Owned<MediaWebRtcTransport> & { router: MediaRouter }>();
  private readonly producers = new Map<string, Owned<MediaProducer> & { router: MediaRouter }>();
  private readonly consumers = new Map<string, Owned<MediaConsumer>>();
  /** The call's routers (home first) and the participants placed on each. */
  private readonly placed = new Map<MediaRouter, Set<string>>();
  private readonly placements = new Map<string, Promise<MediaRouter>>();
  /** Serializes placements, so that concurrent joins do not each add a router. */
  private placing: Promise<unknown> = Promise.resolve();
  /** Producers made consumable on another router, by `producerId routerId`. */
  private readonly pipes = new Map<string, Promise<void>>();
  /** Abandoned or released: nothing new is placed. */
  private closed = false;

  constructor(
    readonly callId: string,
    readonly router: MediaRouter,
    private readonly transportOptions: Params,
    private readonly notify: SfuNotify,
    private readonly routerSource?: RouterSource,
  ) {
    this.placed.set(router, new Set());
  }

  /** The call's routers, the home router first. */
  get routers(): MediaRouter[] {
    return [...this.placed.keys()];
  }


  get rtpCapabilities(): Params {
    return this.router.rtpCapabilities;
  }

  /** Producers a participant could consume (everyone's but its own). */
  producersFor(participantId: string): ProducerInfo[] {
    return [...this.producers.values()]
      .filter((p) => p.participantId !== participantId && !p.object.closed)
      .map((p) => this.describe(p));
  }

  async createWebRtcTransport(participantId: string, appData: Params = {}): Promise<TransportInfo> {
    const placement = this.place(participantId);
    const router = await placement;
    const transport = await router.createWebRtcTransport({
      ...this.transportOptions,
      appData: { ...appData, callId: this.callId, participantId },
    });
    if (this.placements.get(participantId) !== placement || this.closed) {
      // The participant left (and maybe came back: a new placement) meanwhile.
      transport.close();
      throw this.left(participantId);
    }
    this.transports.set(transport.id, { participantId, object: transport, router });
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
      sctpParameters: transport.sctpParameters,
    };
  }

  async connectTransport(participantId: string, transportId: string, dtlsParameters: Params): Promise<void> {
    await this.owned(this.transports, participantId, transportId, 'transport').connect({ dtlsParameters });
  }

  /** New ICE credentials for a transport whose connection the client lost (a network change, an outage). */
  async restartIce(participantId: string, transportId: string): Promise<Params> {
    return this.owned(this.transports, participantId, transportId, 'transport').restartIce();
  }

  async produce(
    participantId: string,
    transportId: string,
    kind: string,
    rtpParameters: Params,
    appData: Params = {},
    paused = false,
  ): Promise<{ id: string }> {
    const { object: transport, router } = this.ownedEntry(this.transports, participantId, transportId, 'transport');
    const producer = await transport.produce({ kind, rtpParameters, paused, appData: { ...appData, participantId } });
    const entry = { participantId, object: producer, router };
    this.producers.set(producer.id, entry);
    producer.on('transportclose', () => this.forgetProducer(producer.id));
    this.notify(null, 'new-producer', { callId: this.callId, ...this.describe(entry) }, participantId);
    return { id: producer.id };
  }

  closeProducer(participantId: string, producerId: string): void {
    this.owned(this.producers, participantId, producerId, 'producer').close();
    this.forgetProducer(producerId);
  }

  async pauseProducer(participantId: string, producerId: string): Promise<void> {
    const producer = this.owned(this.producers, participantId, producerId, 'producer');
    if (!producer.paused) await producer.pause();
  }

  /**
   * Its consumers restart on a keyframe, which the router requests on resume.
   * Only if paused: a resume restarts the consumers' streams, and a redundant
   * one (the switch already resumed it, see resumeAll) would cut the video
   * that just started until the sender's next keyframe.
   */
  async resumeProducer(participantId: string, producerId: string): Promise<void> {
    const producer = this.owned(this.producers, participantId, producerId, 'producer');
    if (producer.paused) await producer.resume();
  }

  async consume(
    participantId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: Params,
  ): Promise<ConsumerInfo> {
    const { object: transport, router } = this.ownedEntry(this.transports, participantId, transportId, 'transport');
    const producer = this.producers.get(producerId);
    if (!producer) {
      throw new CallError('MEDIA_OBJECT_NOT_FOUND', `producer ${producerId} not found in call ${this.callId}`);
    }
    if (producer.router !== router) {
      try {
        await this.pipe(producerId, producer.router, router);
      } catch (error) {
        if (!this.producers.has(producerId)) {
          throw new CallError('MEDIA_OBJECT_NOT_FOUND', `producer ${producerId} closed in call ${this.callId}`);
        }
        throw error;
      }
    }
    if (!router.canConsume({ producerId, rtpCapabilities })) {
      throw new TypeError(`cannot consume producer ${producerId} with the given rtpCapabilities`);
    }
    // Paused first, as mediasoup recommends: the client resumes once its
    // consumer exists, so the first keyframe is not lost.
    const consumer = await transport.consume({ producerId, rtpCapabilities, paused: true });
    this.consumers.set(consumer.id, { participantId, object: consumer });
    const forget = () => this.consumers.delete(consumer.id);
    consumer.on('transportclose', forget);
    consumer.on('producerclose', forget);
    return {
      id: consumer.id,
      producerId: consumer.producerId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  /** Only if paused, for the same reason as resumeProducer. */
  async resumeConsumer(participantId: string, consumerId: string): Promise<void> {
    const consumer = this.owned(this.consumers, participantId, consumerId, 'consumer');
    if (consumer.paused) await consumer.resume();
  }

  /**
   * Resumes every paused producer and consumer: the media pre-warmed for a
   * P2P -> SFU switch, at the moment the switch starts. Done here, before the
   * clients hear of the switch, so that the keyframe each sender emits when
   * it starts sending again reaches consumers that already forward it (a
   * keyframe dropped by a paused consumer would make the router hold that
   * consumer's own request for the sender's keyframe spacing, ~300 ms).
   */
  async resumeAll(): Promise<void> {
    const paused = [
      ...[...this.producers.values()].filter((p) => p.object.paused && !p.object.closed),
      ...[...this.consumers.values()].filter((c) => c.object.paused && !c.object.closed),
    ];
    await Promise.all(paused.map((entry) => entry.object.resume().catch(() => undefined)));
  }

  /** Closes one participant's transports (and so its producers and consumers). */
  removeParticipant(participantId: string): void {
    for (const [id, entry] of this.transports) {
      if (entry.participantId !== participantId) continue;
      this.transports.delete(id);
      entry.object.close();
    }
    for (const [id, entry] of this.producers) {
      if (entry.participantId === participantId) this.forgetProducer(id);
    }
    for (const [id, entry] of this.consumers) {
      if (entry.participantId === participantId) this.consumers.delete(id);
    }
    this.unplace(participantId);
  }

  /** Closes every participant's media but keeps the router (back to pre-warmed). */
  removeAllParticipants(): void {
    const participants = new Set([...this.transports.values()].map((t) => t.participantId));
    for (const participantId of this.placements.keys()) participants.add(participantId);
    for (const participantId of participants) this.removeParticipant(participantId);
  }

  /** Nothing new is placed from now on; the owner releases the routers. */
  close(): void {
    this.closed = true;
  }

  /** Forgets every media object without signaling: the routers are gone. */
  abandon(): void {
    this.closed = true;
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
    this.placements.clear();
    this.pipes.clear();
    for (const members of this.placed.values()) members.clear();
  }

  /**
   * The participant's router: the first of the call's routers with room
   * (home first), else a new one on another worker, else the least full.
   */
  private place(participantId: string): Promise<MediaRouter> {
    const existing = this.placements.get(participantId);
    if (existing) return existing;
    // Whether this placement is still the participant's (no leave since).
    const current = (): boolean => !this.closed && this.placements.get(participantId) === placement;
    const placement: Promise<MediaRouter> = this.placing.then(() => this.choose(participantId, current));
    this.placing = placement.catch(() => undefined);
    this.placements.set(participantId, placement);
    placement.catch(() => {
      if (this.placements.get(participantId) === placement) this.placements.delete(participantId);
    });
    return placement;
  }

  private async choose(participantId: string, current: () => boolean): Promise<MediaRouter> {
    if (!current()) throw this.left(participantId);
    const limit = this.routerSource?.maxParticipantsPerRouter ?? Infinity;
    const open = (): [MediaRouter, Set<string>][] => [...this.placed].filter(([router]) => !router.closed);
    let router = open().find(([, members]) => members.size < limit)?.[0];
    if (!router && this.routerSource && this.router.pipeToRouter) {
      let added: MediaRouter | undefined;
      try {
        added = await this.routerSource.add();
      } catch {
        // No further router: the call stays on those it has.
      }
      if (added && !current()) {
        this.routerSource.release(added);
        throw this.left(participantId);
      }
      if (added) this.placed.set(added, new Set());
      router = added;
    }
    if (!current()) throw this.left(participantId);
    // Read again: routers may have been released or lost while adding one.
    router ??= open().sort(([, a], [, b]) => a.size - b.size)[0]?.[0];
    const members = router && this.placed.get(router);
    if (!router || !members) throw new CallError('NO_ROUTER', `call ${this.callId} has no router left`);
    members.add(participantId);
    return router;
  }

  private left(participantId: string): CallError {
    return new CallError('MEDIA_OBJECT_NOT_FOUND', `participant ${participantId} left call ${this.callId}`);
  }

  /** Takes the participant off its router; a further router left empty is given back. */
  private unplace(participantId: string): void {
    this.placements.delete(participantId);
    for (const [router, members] of this.placed) {
      if (!members.delete(participantId) || members.size > 0 || router === this.router) continue;
      this.placed.delete(router);
      for (const key of this.pipes.keys()) if (key.endsWith(` ${router.id}`)) this.pipes.delete(key);
      this.routerSource?.release(router);
    }
  }

  /** Makes the producer consumable on `to` (once per router; same id there). */
  private pipe(producerId: string, from: MediaRouter, to: MediaRouter): Promise<void> {
    const key = `${producerId} ${to.id}`;
    let piped = this.pipes.get(key);
    if (!piped) {
      piped = (async () => {
        await from.pipeToRouter!({ producerId, router: to });
      })();
      this.pipes.set(key, piped);
      piped.catch(() => this.pipes.delete(key));
    }
    return piped;
  }

  private forgetProducer(producerId: string): void {
    const entry = this.producers.get(producerId);
    if (!entry) return;
    this.producers.delete(producerId);
    // Its piped copies close with it.
    for (const key of this.pipes.keys()) if (key.startsWith(`${producerId} `)) this.pipes.delete(key);
    if (!entry.object.closed) entry.object.close();
    this.notify(null, 'producer-closed', {
      callId: this.callId,
      producerId,
      participantId: entry.participantId,
    });
  }

  private describe(entry: Owned<MediaProducer>): ProducerInfo {
    return {
      producerId: entry.object.id,
      participantId: entry.participantId,
      kind: entry.object.kind,
      paused: entry.object.paused,
      appData: entry.object.appData,
    };
  }

  private owned<T>(map: Map<string, Owned<T>>, participantId: string, id: string, what: string): T {
    return this.ownedEntry(map, participantId, id, what).object;
  }

  private ownedEntry<E extends Owned<unknown>>(map: Map<string, E>, participantId: string, id: string, what: string): E {
    const entry = map.get(id);
    if (!entry || entry.participantId !== participantId) {
      throw new CallError('MEDIA_OBJECT_NOT_FOUND', `${what} ${id} not found for participant ${participantId}`);
    }
    return entry;
  }
}
