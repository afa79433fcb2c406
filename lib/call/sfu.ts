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

/**
 * One call's SFU side: its router, and the transports, producers and consumers
 * of its participants. Every id a client sends is checked against the
 * participant that owns it, so a client can only touch its own media objects.
 */
export class SfuSession {
  private readonly transports = new Map<string, Owned<MediaWebRtcTransport>>();
  private readonly producers = new Map<string, Owned<MediaProducer>>();
  private readonly consumers = new Map<string, Owned<MediaConsumer>>();

  constructor(
    readonly callId: string,
    readonly router: MediaRouter,
    private readonly transportOptions: Params,
    private readonly notify: SfuNotify,
  ) {}

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
    const transport = await this.router.createWebRtcTransport({
      ...this.transportOptions,
      appData: { ...appData, callId: this.callId, participantId },
    });
    this.transports.set(transport.id, { participantId, object: transport });
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

  async produce(
    participantId: string,
    transportId: string,
    kind: string,
    rtpParameters: Params,
    appData: Params = {},
    paused = false,
  ): Promise<{ id: string }> {
    const transport = this.owned(this.transports, participantId, transportId, 'transport');
    const producer = await transport.produce({ kind, rtpParameters, paused, appData: { ...appData, participantId } });
    const entry = { participantId, object: producer };
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
    const transport = this.owned(this.transports, participantId, transportId, 'transport');
    if (!this.producers.has(producerId)) {
      throw new CallError('MEDIA_OBJECT_NOT_FOUND', `producer ${producerId} not found in call ${this.callId}`);
    }
    if (!this.router.canConsume({ producerId, rtpCapabilities })) {
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
  }

  /** Closes every participant's media but keeps the router (back to pre-warmed). */
  removeAllParticipants(): void {
    const participants = new Set([...this.transports.values()].map((t) => t.participantId));
    for (const participantId of participants) this.removeParticipant(participantId);
  }

  /** Forgets every media object without signaling: the router is gone. */
  abandon(): void {
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
  }

  private forgetProducer(producerId: string): void {
    const entry = this.producers.get(producerId);
    if (!entry) return;
    this.producers.delete(producerId);
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
    const entry = map.get(id);
    if (!entry || entry.participantId !== participantId) {
      throw new CallError('MEDIA_OBJECT_NOT_FOUND', `${what} ${id} not found for participant ${participantId}`);
    }
    return entry.object;
  }
}
