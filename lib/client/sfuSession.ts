/**
 * The SFU path: a mediasoup-client Device with one send and one receive
 * transport on the call's router, producing the same local tracks the P2P
 * path sends, and consuming the other participants' producers.
 *
 * A session can be built ahead of time (`call:prewarm`) in *standby*: device
 * loaded, transports created, the local tracks produced **paused** (client:
 * `zeroRtpOnPause`, so the sender's transceiver is inactive and no RTP leaves;
 * server: the producer is created paused) and the other participants'
 * producers consumed with the server consumers left paused. mediasoup-client
 * connects a transport (ICE + DTLS) only on its first produce or consume, and
 * does its SDP work per produce/consume: standby does all of that ahead, so
 * the switch (`activate()`) only resumes, and costs about one keyframe.
 *
 * A transport whose connection is lost (`failed`, or `disconnected` for
 * `iceRestartDelayMs`: a network change, an outage) restarts ICE with new
 * credentials from the server (`sfu:restart-ice`), and again, less and less
 * often, until it connects (see `IceRecovery`): the path comes back without
 * a rebuild.
 *
 * Screen sharing: a second video producer tagged `appData.source = 'screen'`.
 * On the receiving side, a participant's screen consumer is announced as its
 * video in place of its camera (the camera consumer is kept, and announced
 * again when the screen stops), matching the P2P path, where the screen
 * replaces the camera track on the same sender.
 */
import { Device, type types as ms } from 'mediasoup-client';
import { Emitter } from './emitter';
import { IceRecovery } from './iceRecovery';
import type { ConsumerInfo, ProducerInfo, TransportInfo } from './protocol';
import type { TrackKind } from './remoteParticipant';

/** What a producer carries, as `appData.source` tells the other participants. */
export type MediaSourceTag = 'microphone' | 'camera' | 'screen';

export interface SfuSessionOptions {
  rtpCapabilities: ms.RtpCapabilities;
  /** Sends an `sfu:*` request (callId added by the caller) and resolves with its acknowledgement. */
  request<T>(event: string, payload: Record<string, unknown>): Promise<T>;
  /** ICE servers for the transports (TURN relays, when the SFU is only reachable through one). */
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Build in standby: produce and consume paused, send and render nothing until `activate()`. */
  standby?: boolean;
  /** The camera's encodings (simulcast, or SVC); default one. */
  videoEncodings?: ms.RtpEncodingParameters[];
  /** How long a transport may stay `disconnected` before it restarts ICE (default 2 s; `failed` restarts at once). */
  iceRestartDelayMs?: number;
}


interface ConsumerEntry {
  consumer: ms.Consumer;
  participantId: string;
  source: MediaSourceTag;
}

export type SfuSessionEvents = {
  consumer: [participantId: string, kind: TrackKind, consumerId: string, track: MediaStreamTrack, receiver: RTCRtpReceiver];
  consumerclosed: [participantId: string, kind: TrackKind, consumerId: string];
  /** A transport's connection state, per direction. */
  connectionstatechange: [direction: 'send' | 'recv', state: string];
  /** A transport lost its connection and restarted ICE with new credentials from the server. */
  icerestart: [direction: 'send' | 'recv'];
  /** A step of leaving standby done (`sending:<kind>`, `resumed:<kind>`, `consumer-resumed:<participant>:<kind>`), for switch timelines. */
  milestone: [label: string];
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
  private standby: boolean;
  private readonly producers = new Map<string, ms.Producer>();
  /** Produce calls in flight, by track, so a track is never produced twice. */
  private readonly producing = new Map<MediaStreamTrack, Promise<ms.Producer | null>>();
  /** Whether each producer's sender is sending (what we asked for last). */
  private readonly sending = new Map<string, boolean>();
  /** Whether the server's copy of each producer is paused (what we asked for last). */
  private readonly serverPaused = new Map<string, boolean>();
  /** Consumers by producer id, with whose they are. */
  private readonly consumers = new Map<string, ConsumerEntry>();
  private readonly consuming = new Set<string>();
  /** The video consumer announced per participant (screen over camera). */
  private readonly announcedVideo = new Map<string, string>();
  /** Each transport's ICE restarts while its connection is lost. */
  private readonly iceRecoveries: IceRecovery[] = [];
  closed = false;

  constructor(private readonly options: SfuSessionOptions) {
    super();
    this.standby = options.standby ?? false;
  }

  /** In standby: built, paused, nothing sent or rendered yet. */
  get isStandby(): boolean {
    return this.standby;
  }

  /** Loads the device and creates both transports (idempotent). */
  prepare(): Promise<void> {
    this.prepared ??= this.doPrepare();
    return this.prepared;
  }

  /**
   * Leaves standby: resumes every producer (here and on the server: the
   * server then asks for a keyframe) and every consumer, and announces the
   * consumers. Produce and consume calls still in flight finish active.
   */
  activate(): void {
    if (!this.standby || this.closed) return;
    this.standby = false;
    for (const producer of this.producers.values()) void this.syncPause(producer);
    for (const entry of this.consumers.values()) void this.startConsumer(entry);
  }

  /** Produces every local track (the same track objects the P2P path sends). */
  async produce(localStream: MediaStream): Promise<void> {
    // Video first: mediasoup-client runs produce() calls one after the other,
    // and a switch waits for video to decode on the other side, not audio.
    const tracks = [...localStream.getVideoTracks(), ...localStream.getAudioTracks()];
    for (const track of tracks) await this.produceTrack(track, track.kind === 'audio' ? 'microphone' : 'camera');
  }

  /**
   * Produces one track tagged `source` (once per track; resolves with the
   * producer, or null if the session closed or cannot send that kind).
   */
  produceTrack(track: MediaStreamTrack, source: MediaSourceTag): Promise<ms.Producer | null> {
    const existing = [...this.producers.values()].find((p) => p.track === track) ?? null;
    if (existing) return Promise.resolve(existing);
    let pending = this.producing.get(track);
    if (!pending) {
      pending = this.doProduce(track, source).finally(() => this.producing.delete(track));
      this.producing.set(track, pending);
    }
    return pending;
  }

  /** Closes the producer of `track` (here and on the server), e.g. a screen share that stopped. */
  async closeProducerOf(track: MediaStreamTrack): Promise<void> {
    const producer = [...this.producers.values()].find((p) => p.track === track) ?? (await this.producing.get(track));
    if (!producer || producer.closed) return;
    this.producers.delete(producer.id);
    this.serverPaused.delete(producer.id);
    producer.close();
    if (this.closed) return;
    await this.options.request('sfu:close-producer', { producerId: producer.id }).catch((error: Error & { code?: string }) => {
      if (error.code !== 'MEDIA_OBJECT_NOT_FOUND' && !this.closed) this.emit('error', error);
    });
  }

  /** Consumes one remote producer: created paused by the server, resumed once ours exists (and the session is active). */
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
      const entry: ConsumerEntry = { consumer, participantId: producer.participantId, source: sourceOf(producer) };
      this.consumers.set(producer.producerId, entry);
      // In standby the server consumer stays paused (nothing flows, nothing
      // is rendered); activate() starts it.
      if (!this.standby) await this.startConsumer(entry);
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
    const { consumer, participantId } = entry;
    if (consumer.kind === 'video' && this.announcedVideo.get(participantId) === consumer.id) {
      this.announcedVideo.delete(participantId);
      // The screen stopped: put the camera back before the screen's track goes,
      // so the participant's video never goes empty.
      const fallback = this.videoConsumerToShow(participantId);
      if (fallback && !this.standby) this.announce(fallback);
    }
    consumer.close();
    this.emit('consumerclosed', participantId, consumer.kind, consumer.id);
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
    for (const recovery of this.iceRecoveries) recovery.stop();
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.producers.clear();
    this.consumers.clear();
    this.announcedVideo.clear();
  }

  private async doProduce(track: MediaStreamTrack, source: MediaSourceTag): Promise<ms.Producer | null> {
    await this.prepare();
    const kind = track.kind as ms.MediaKind;
    if (this.closed || !this.device.canProduce(kind) || track.readyState === 'ended') return null;
    const producer = await this.sendTransport!.produce({
      track,
      // Copied: mediasoup-client fills in what it is given.
      encodings:
        source === 'camera' && this.options.videoEncodings
          ? this.options.videoEncodings.map((e) => ({ ...e }))
          : undefined,
      // The track belongs to the call (and to the P2P path meanwhile):
      // closing or pausing this producer must neither stop nor disable it.
      stopTracks: false,
      disableTrackOnPause: false,
      // Paused here by deactivating the sender's encodings (see setSending),
      // not by mediasoup-client's pause(): that one would disable the shared
      // track, or (zeroRtpOnPause) renegotiate SDP on every pause and resume,
      // which is what a switch must not wait for.
      appData: { source },
    });
    if (this.closed) {
      producer.close();
      return null;
    }
    this.producers.set(producer.id, producer);
    await this.syncPause(producer);
    return producer;
  }

  /** Brings a producer's pause state, here and on the server, in line with standby. */
  private async syncPause(producer: ms.Producer): Promise<void> {
    const paused = this.standby;
    if (producer.closed) return;
    void this.setSending(producer, !paused);
    if (this.serverPaused.get(producer.id) === paused) return;
    this.serverPaused.set(producer.id, paused);
    try {
      await this.options.request(paused ? 'sfu:pause-producer' : 'sfu:resume-producer', { producerId: producer.id });
      if (!paused) this.emit('milestone', `resumed:${producer.kind}`);
    } catch (error) {
      this.serverPaused.delete(producer.id);
      const code = (error as { code?: string }).code;
      if (code !== 'MEDIA_OBJECT_NOT_FOUND' && !this.closed) this.emit('error', error as Error);
    }
  }

  /**
   * Starts or stops the RTP of one producer on the wire: `active` on its
   * sender's encodings. No SDP work, so resuming takes a few ms; an
   * encoding that becomes active starts with a keyframe. While inactive the
   * sender sends no RTP at all: a pre-warmed session costs no bandwidth.
   */
  private async setSending(producer: ms.Producer, active: boolean): Promise<void> {
    const sender = producer.rtpSender;
    if (!sender || this.sending.get(producer.id) === active) return;
    this.sending.set(producer.id, active);
    try {
      const parameters = sender.getParameters();
      if (parameters.encodings.every((e) => e.active === active)) return;
      for (const encoding of parameters.encodings) encoding.active = active;
      await sender.setParameters(parameters);
      if (active) this.emit('milestone', `sending:${producer.kind}`);
    } catch (error) {
      this.sending.delete(producer.id);
      if (!this.closed && !producer.closed) this.emit('error', error as Error);
    }
  }

  /** Announces a consumer (if it is the one to show) and resumes it on the server. */
  private async startConsumer(entry: ConsumerEntry): Promise<void> {
    if (this.closed || entry.consumer.closed) return;
    const { consumer, participantId } = entry;
    if (consumer.kind === 'audio') {
      this.announce(entry);
    } else {
      const show = this.videoConsumerToShow(participantId);
      if (show === entry && this.announcedVideo.get(participantId) !== consumer.id) this.announce(entry);
    }
    // Announced before the resume round trip, so the watcher of the switch
    // sees the first frame the moment it decodes.
    await this.options.request('sfu:resume-consumer', { consumerId: consumer.id });
    this.emit('milestone', `consumer-resumed:${participantId}:${consumer.kind}`);
  }

  private announce(entry: ConsumerEntry): void {
    const { consumer, participantId } = entry;
    if (consumer.kind === 'video') this.announcedVideo.set(participantId, consumer.id);
    this.emit('consumer', participantId, consumer.kind, consumer.id, consumer.track, consumer.rtpReceiver!);
  }

  /** A participant's video to show: its screen while it shares, else its camera. */
  private videoConsumerToShow(participantId: string): ConsumerEntry | undefined {
    let camera: ConsumerEntry | undefined;
    for (const entry of this.consumers.values()) {
      if (entry.participantId !== participantId || entry.consumer.kind !== 'video' || entry.consumer.closed) continue;
      if (entry.source === 'screen') return entry;
      camera ??= entry;
    }
    return camera;
  }

  /** ICE restarts waiting for their backoff run now (the signaling is back after an outage). */
  retryIceRestartsNow(): void {
    for (const recovery of this.iceRecoveries) recovery.retryNow();
  }

  /** New credentials from the server, then mediasoup-client's `restartIce()` with them. */
  private async restartIce(transport: ms.Transport): Promise<boolean> {
    const { iceParameters } = await this.options.request<{ iceParameters: ms.IceParameters }>('sfu:restart-ice', {
      transportId: transport.id,
    });
    if (this.closed || transport.closed) return false;
    await transport.restartIce({ iceParameters });
    return true;
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
    const recovery = new IceRecovery({
      restart: () => this.restartIce(transport),
      state: () => transport.connectionState,
      restarted: () => this.emit('icerestart', direction),
      report: (error) => this.emit('error', new Error(`SFU ${direction} transport: ${error.message}`)),
      firstDelayMs: this.options.iceRestartDelayMs,
    });
    this.iceRecoveries.push(recovery);
    transport.on('connectionstatechange', (state) => {
      if (this.closed) return;
      this.emit('connectionstatechange', direction, state);
      recovery.onState(state);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        // Created paused on the server when in standby: the client pauses its
        // side right after, and the server drops whatever slips through.
        const paused = this.standby;
        this.options
          .request<{ id: string }>('sfu:produce', { transportId: transport.id, kind, rtpParameters, appData, paused })
          .then(({ id }) => {
            this.serverPaused.set(id, paused);
            callback({ id });
          }, errback);
      });
    }
    return transport;
  }
}

function sourceOf(producer: ProducerInfo): MediaSourceTag {
  const source = producer.appData?.source;
  if (source === 'screen' || source === 'camera' || source === 'microphone') return source;
  return producer.kind === 'audio' ? 'microphone' : 'camera';
}
