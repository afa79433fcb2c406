// Server side of the SFU test page's signaling: turns each page's
// window.signal() calls into calls on a mediasoup-style Router and its
// transports, as a gateway written for mediasoup would. Typed structurally
// (the few members it uses) so it works with opencall and with mediasoup alike.
import type { Participant } from './harness';

/* eslint-disable @typescript-eslint/no-explicit-any -- parameters pass through opaque */
type Listener = (...args: any[]) => void;

export interface ConsumerLike {
  id: string;
  producerId: string;
  kind: string;
  rtpParameters: unknown;
  resume(): Promise<void>;
  pause(): Promise<void>;
  close(): void;
  on(event: 'producerclose', listener: Listener): unknown;
}

export interface ProducerLike {
  id: string;
  kind: string;
  close(): void;
}

export interface DataProducerLike {
  id: string;
  close(): void;
}

export interface DataConsumerLike {
  id: string;
  dataProducerId: string;
  sctpStreamParameters?: unknown;
  label: string;
  protocol: string;
  close(): void;
}

export interface WebRtcTransportLike {
  id: string;
  sctpParameters?: unknown;
  sctpState?: string;
  produceData(params: { sctpStreamParameters: any; label?: string; protocol?: string }): Promise<DataProducerLike>;
  consumeData(params: { dataProducerId: string }): Promise<DataConsumerLike>;
  iceParameters: unknown;
  iceCandidates: unknown;
  dtlsParameters: unknown;
  iceSelectedTuple?: { protocol: string } | undefined;
  connect(params: { dtlsParameters: any }): Promise<void>;
  restartIce(): Promise<unknown>;
  produce(params: { kind: any; rtpParameters: any; appData?: any }): Promise<ProducerLike>;
  consume(params: { producerId: string; rtpCapabilities: any; paused?: boolean }): Promise<ConsumerLike>;
  close(): void;
  on(event: 'dtlsstatechange', listener: Listener): unknown;
}

export interface RouterLike {
  rtpCapabilities: unknown;
  createWebRtcTransport(options: any): Promise<WebRtcTransportLike>;
  close(): void;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

interface DtlsParametersShape {
  role?: string;
  fingerprints: { algorithm: string; value: string }[];
}

/** Flips the last hex digit of every fingerprint: the peer's certificate no longer matches. */
export function tamperFingerprints(dtls: DtlsParametersShape): DtlsParametersShape {
  const flip = (v: string): string => v.slice(0, -1) + (v.endsWith('0') ? '1' : '0');
  return { ...dtls, fingerprints: dtls.fingerprints.map((f) => ({ ...f, value: flip(f.value) })) };
}

/** One participant's server-side objects and what happened to them. */
export class SfuPeer {
  readonly transports = new Map<string, WebRtcTransportLike>();
  readonly producers = new Map<string, ProducerLike>();
  readonly consumers = new Map<string, ConsumerLike>();
  readonly dataProducers = new Map<string, DataProducerLike>();
  readonly dataConsumers = new Map<string, DataConsumerLike>();
  /** 'dtlsstatechange' states of this peer's transports, in order. */
  readonly dtlsStates: string[] = [];
  /** Consumer ids that got 'producerclose'. */
  readonly producerClosed: string[] = [];
  /** Corrupt the DTLS fingerprints this peer sends in connect() (test (d)). */
  tamperDtls = false;

  constructor(
    readonly participant: Participant,
    private readonly room: SfuRoom,
  ) {
    participant.onSignal((method, data) => this.handle(method, data as Record<string, any>));
  }

  get name(): string {
    return this.participant.name;
  }

  /** The selected ICE tuple's protocol of every transport, once connected. */
  selectedProtocols(): (string | undefined)[] {
    return [...this.transports.values()].map((t) => t.iceSelectedTuple?.protocol);
  }

  producerIdOf(kind: 'audio' | 'video'): string | undefined {
    return [...this.producers.values()].find((p) => p.kind === kind)?.id;
  }

  private transport(id: string): WebRtcTransportLike {
    const t = this.transports.get(id);
    if (!t) throw new Error(`${this.name}: no transport ${id}`);
    return t;
  }

  private consumer(id: string): ConsumerLike {
    const c = this.consumers.get(id);
    if (!c) throw new Error(`${this.name}: no consumer ${id}`);
    return c;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async handle(method: string, data: Record<string, any>): Promise<unknown> {
    switch (method) {
      case 'getRouterRtpCapabilities':
        return this.room.router.rtpCapabilities;
      case 'createWebRtcTransport': {
        const options = this.room.transportOptions(Boolean(data.tcpOnly));
        if (data.sctp) {
          Object.assign(options, { enableSctp: true });
        }
        const t = await this.room.router.createWebRtcTransport(options);
        this.transports.set(t.id, t);
        t.on('dtlsstatechange', (state: string) => this.dtlsStates.push(state));
        return {
          id: t.id,
          iceParameters: t.iceParameters,
          iceCandidates: t.iceCandidates,
          dtlsParameters: t.dtlsParameters,
          sctpParameters: t.sctpParameters,
        };
      }
      case 'produceData': {
        const { sctpStreamParameters, label, protocol } = data;
        const dp = await this.transport(data.transportId).produceData({ sctpStreamParameters, label, protocol });
        this.dataProducers.set(dp.id, dp);
        return { id: dp.id };
      }
      case 'consumeData': {
        const dc = await this.transport(data.transportId).consumeData({ dataProducerId: data.dataProducerId });
        this.dataConsumers.set(dc.id, dc);
        const { id, dataProducerId, sctpStreamParameters, label, protocol } = dc;
        return { id, dataProducerId, sctpStreamParameters, label, protocol };
      }
      case 'connectTransport': {
        const dtls = this.tamperDtls ? tamperFingerprints(data.dtlsParameters) : data.dtlsParameters;
        await this.transport(data.transportId).connect({ dtlsParameters: dtls });
        return null;
      }
      case 'produce': {
        const { kind, rtpParameters, appData } = data;
        const producer = await this.transport(data.transportId).produce({ kind, rtpParameters, appData });
        this.producers.set(producer.id, producer);
        return { id: producer.id };
      }
      case 'consume': {
        // Paused on the server until the page has set up its side, as in mediasoup's demo.
        const { producerId, rtpCapabilities } = data;
        const c = await this.transport(data.transportId).consume({ producerId, rtpCapabilities, paused: true });
        this.consumers.set(c.id, c);
        c.on('producerclose', () => {
          this.producerClosed.push(c.id);
          this.participant.call('consumerClosed', c.id).catch(() => undefined);
        });
        return { id: c.id, producerId: c.producerId, kind: c.kind, rtpParameters: c.rtpParameters };
      }
      case 'restartIce':
        return this.transport(data.transportId).restartIce();
      case 'resumeConsumer':
        await this.consumer(data.consumerId).resume();
        return null;
      case 'pauseConsumer':
        await this.consumer(data.consumerId).pause();
        return null;
      case 'closeProducer':
        this.producers.get(data.producerId)?.close();
        this.producers.delete(data.producerId);
        return null;
      default:
        throw new Error(`${this.name}: unknown signal '${method}'`);
    }
  }
}

export interface SfuRoomOptions {
  /** Address the transports listen on (default 127.0.0.1). */
  listenIp?: string;
  /** Transports listen on this WebRtcServer's sockets instead. */
  webRtcServer?: unknown;
}

/** A router and the peers on it. */
export class SfuRoom {
  readonly peers = new Map<string, SfuPeer>();

  constructor(
    readonly router: RouterLike,
    private readonly opts: SfuRoomOptions = {},
  ) {}

  add(participant: Participant): SfuPeer {
    const peer = new SfuPeer(participant, this);
    this.peers.set(participant.name, peer);
    return peer;
  }

  transportOptions(tcpOnly: boolean): Record<string, unknown> {
    const ip = this.opts.listenIp ?? '127.0.0.1';
    if (this.opts.webRtcServer) return { webRtcServer: this.opts.webRtcServer, enableUdp: !tcpOnly, enableTcp: tcpOnly };
    return tcpOnly
      ? { listenInfos: [{ protocol: 'tcp', ip }], enableUdp: false, enableTcp: true }
      : { listenInfos: [{ protocol: 'udp', ip }] };
  }

  /** Makes `peer`'s page consume every producer of every other peer; returns the consumer ids. */
  async consumeOthers(peer: SfuPeer, opts: { paused?: boolean } = {}): Promise<string[]> {
    const ids: string[] = [];
    for (const other of this.peers.values()) {
      if (other === peer) continue;
      for (const producer of other.producers.values()) {
        ids.push(await peer.participant.call<string>('consume', producer.id, opts));
      }
    }
    return ids;
  }

  close(): void {
    this.router.close();
  }
}
