/**
 * The SFU path: a mediasoup-client Device with one send and one receive
 * transport on the call's router, producing the same local tracks the P2P
 * path sends, and consuming the other participants' producers.
 *
 * A session can be built ahead of time (`call:prewarm`: device loaded,
 * transports created, nothing produced) and activated when the switch comes.
 * mediasoup-client connects a transport (ICE + DTLS) on its first produce or
 * consume, so a pre-warmed session saves the round trips, not the handshake.
 */
import { Device, type types as ms } from 'mediasoup-client';
import { Emitter } from './emitter';
import type { ConsumerInfo, ProducerInfo, TransportInfo } from './protocol';
import type { TrackKind } from './remoteParticipant';

export interface SfuSessionOptions {
  rtpCapabilities: ms.RtpCapabilities;
  /** Sends an `sfu:*` request (callId added by the caller) and resolves with its acknowledgement. */
  request<T>(event: string, payload: Record<string, unknown>): Promise<T>;
  /** ICE servers for the transports (TURN relays, when the SFU is only reachable through one). */
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
}

export type SfuSessionEvents = {
  consumer: [participantId: string, kind: TrackKind, consumerId: string, track: MediaStreamTrack, receiver: RTCRtpReceiver];
  consumerclosed: [participantId: string, kind: TrackKind, consumerId: string];
  /** A transport's connection state, per direction. */
  connectionstatechange: [direction: 'send' | 'recv', state: string];
  error: [error: Error];
};

let sessionCounter = 0;

export class SfuSession extends Emitter<SfuSessionEvents> {
  readonly id = `sfu-${++sessionCounter}`;
  readonly mode = 'sfu' as const;
  readonly device = new Device();
  private sendTransport: ms.Transport | null = null;
  private recvTransport: ms.Transport | null = null;
  private prepared: Promise<void> | null = null;
  private readonly producers = new Map<string, ms.Producer>();
  /** Consumers by producer id, with whose they are. */
  private readonly consumers = new Map<string, { consumer: ms.Consumer; participantId: string }>();
  private readonly consuming = new Set<string>();
  closed = false;

  constructor(private readonly options: SfuSessionOptions) {
    super();
  }

  /** Loads the device and creates both transports (idempotent). */
  prepare(): Promise<void> {
    this.prepared ??= this.doPrepare();
    return this.prepared;
  }

  /** Produces every local track (the same track objects the P2P path sends). */
  async produce(localStream: MediaStream): Promise<void> {
    await this.prepare();
    const send = this.sendTransport!;
    // Video first: mediasoup-client runs produce() calls one after the other,
    // and a switch waits for video to decode on the other side, not audio.
    const tracks = [...localStream.getVideoTracks(), ...localStream.getAudioTracks()];
    for (const track of tracks) {
      const kind = track.kind as ms.MediaKind;
      if (this.closed || !this.device.canProduce(kind) || [...this.producers.values()].some((p) => p.track === track)) continue;
      const producer = await send.produce({
        track,
        // The track belongs to the call (and to the P2P path meanwhile):
        // closing this producer must not stop it.
        stopTracks: false,
        appData: { source: kind === 'audio' ? 'microphone' : 'camera' },
      });
      if (this.closed) producer.close();
      else this.producers.set(producer.id, producer);
    }
  }

  /** Consumes one remote producer: created paused by the server, resumed once ours exists. */
  async consume(producer: ProducerInfo): Promise<void> {
    if (this.closed || this.consumers.has(producer.producerId) || this.consuming.has(producer.producerId)) return;
    this.consuming.add(producer.producerId);
    try {
      await this.prepare();
      const recv = this.recvTransport!;
      const { consumer: info } = await this.options.request<{ consumer: ConsumerInfo }>('sfu:consume', {
        transportId: recv.id,
        producerId: producer.producerId,
        rtpCapabilities: this.device.recvRtpCapabilities,
      });
      if (this.closed) return;
      const consumer = await recv.consume({
        id: info.id,
        producerId: info.producerId,
        kind: info.kind,
        rtpParameters: info.rtpParameters,
        appData: { participantId: producer.participantId },
      });
      if (this.closed) {
        consumer.close();
        return;
      }
      this.consumers.set(producer.producerId, { consumer, participantId: producer.participantId });
      // Announced before the resume round trip, so the watcher of the switch
      // sees the first frame the moment it decodes.
      this.emit('consumer', producer.participantId, consumer.kind, consumer.id, consumer.track, consumer.rtpReceiver!);
      await this.options.request('sfu:resume-consumer', { consumerId: consumer.id });
    } catch (error) {
      // A producer that closed in the meantime is not an error of the session.
      const code = (error as { code?: string }).code;
      if (code !== 'MEDIA_OBJECT_NOT_FOUND' && !this.closed) this.emit('error', error as Error);
    } finally {
      this.consuming.delete(producer.producerId);
    }
  }

  /** The producer went away (`producer-closed`): drop its consumer. */
  closeConsumerOf(producerId: string): void {
    const entry = this.consumers.get(producerId);
    if (!entry) return;
    this.consumers.delete(producerId);
    entry.consumer.close();
    this.emit('consumerclosed', entry.participantId, entry.consumer.kind, entry.consumer.id);
  }

  /** Transport handles, for quality sampling. */
  transports(): Map<string, ms.Transport> {
    const out = new Map<string, ms.Transport>();
    if (this.sendTransport) out.set('send', this.sendTransport);
    if (this.recvTransport) out.set('recv', this.recvTransport);
    return out;
  }

  get hasProducers(): boolean {
    return this.producers.size > 0;
  }

  /**
   * Closes the transports (and so producers and consumers) locally. The server
   * closes its side itself when the switch completes or fails.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.producers.clear();
    this.consumers.clear();
  }

  private async doPrepare(): Promise<void> {
    await this.device.load({ routerRtpCapabilities: this.options.rtpCapabilities });
    const [send, recv] = await Promise.all([this.createTransport('send'), this.createTransport('recv')]);
    if (this.closed) {
      send.close();
      recv.close();
      throw new Error('SFU session closed while preparing');
    }
    this.sendTransport = send;
    this.recvTransport = recv;
  }

  private async createTransport(direction: 'send' | 'recv'): Promise<ms.Transport> {
    const { transport: info } = await this.options.request<{ transport: TransportInfo }>('sfu:create-transport', {
      appData: { direction },
    });
    const params = {
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      sctpParameters: info.sctpParameters,
      iceServers: this.options.iceServers,
      iceTransportPolicy: this.options.iceTransportPolicy,
    };
    const transport =
      direction === 'send' ? this.device.createSendTransport(params) : this.device.createRecvTransport(params);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.options
        .request('sfu:connect-transport', { transportId: transport.id, dtlsParameters })
        .then(() => callback(), errback);
    });
    transport.on('connectionstatechange', (state) => {
      if (!this.closed) this.emit('connectionstatechange', direction, state);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        this.options
          .request<{ id: string }>('sfu:produce', { transportId: transport.id, kind, rtpParameters, appData })
          .then(({ id }) => callback({ id }), errback);
      });
    }
    return transport;
  }
}
