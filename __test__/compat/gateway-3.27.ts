/**
 * A gateway written the way mediasoup 3.27 users write them. It must
 * type-check unchanged (`tsc --strict`) against real mediasoup 3.27 and
 * against opencall installed under the name `mediasoup`; the compat test
 * checks the latter. Never executed: only its types matter.
 */
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';

type ProducerAppData = { peerId: string; source: 'mic' | 'webcam' | 'screen' };
type TransportAppData = { peerId: string; direction: 'send' | 'recv' };
type RouterAppData = { roomId: string; createdAt: number };

const mediaCodecs: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
  { kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 2 } },
  { kind: 'video', mimeType: 'video/AV1', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    preferredPayloadType: 110,
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '4d0032', 'level-asymmetry-allowed': 1 },
  },
];

const workerSettings: types.WorkerSettings<{ index: number }> = {
  logLevel: 'warn',
  logTags: ['info', 'ice', 'dtls', 'rtp', 'srtp', 'rtcp', 'bwe', 'score'],
  rtcMinPort: 40000,
  rtcMaxPort: 49999,
};

const listenInfos: types.TransportListenInfo[] = [
  {
    protocol: 'udp',
    ip: '0.0.0.0',
    announcedAddress: 'sfu.example.com',
    portRange: { min: 40000, max: 49999 },
    flags: { ipv6Only: false, udpReusePort: false },
  },
  { protocol: 'tcp', ip: '0.0.0.0', announcedAddress: 'sfu.example.com', exposeInternalIp: true },
];

class RoomServer {
  readonly #workers: types.Worker<{ index: number }>[] = [];
  readonly #routers = new Map<string, types.Router<RouterAppData>>();
  readonly #transports = new Map<string, types.WebRtcTransport<TransportAppData>>();
  readonly #producers = new Map<string, types.Producer<ProducerAppData>>();
  readonly #consumers = new Map<string, types.Consumer>();
  readonly #dataConsumers = new Map<string, types.DataConsumer>();
  #webRtcServer?: types.WebRtcServer;

  async start(numWorkers: number): Promise<void> {
    mediasoup.observer.on('newworker', (worker) => {
      worker.observer.on('newrouter', (router) => console.log('router %s', router.id));
      worker.observer.on('newwebrtcserver', (server) => console.log('server %s', server.id));
    });

    for (let index = 0; index < numWorkers; index++) {
      const worker = await mediasoup.createWorker({ ...workerSettings, appData: { index } });

      worker.on('died', (error) => {
        console.error('worker %d died: %o', worker.appData.index, error);
        this.#workers.splice(this.#workers.indexOf(worker), 1);
      });
      worker.on('listenererror', (eventName, error) => console.error(eventName, error));

      this.#workers.push(worker);
    }

    this.#webRtcServer = await this.#workers[0].createWebRtcServer({
      listenInfos: [
        { protocol: 'udp', ip: '0.0.0.0', announcedAddress: 'sfu.example.com', port: 44444 },
        { protocol: 'tcp', ip: '0.0.0.0', announcedAddress: 'sfu.example.com', port: 44444 },
      ],
      appData: { shared: true },
    });
    this.#webRtcServer.observer.on('webrtctransporthandled', (t) => console.log('handled %s', t.id));
  }

  async resourceUsage(): Promise<{ index: number; usage: types.WorkerResourceUsage }[]> {
    return Promise.all(
      this.#workers.map(async (worker) => ({
        index: worker.appData.index,
        usage: await worker.getResourceUsage(),
      })),
    );
  }

  async createRouter(roomId: string): Promise<types.Router<RouterAppData>> {
    const worker = this.#workers[Math.floor(Math.random() * this.#workers.length)];
    const options: types.RouterOptions<RouterAppData> = {
      mediaCodecs,
      appData: { roomId, createdAt: Date.now() },
    };
    const router = await worker.createRouter(options);
    router.observer.on('newtransport', (transport) => {
      console.log('transport %s of type %s', transport.id, transport.type);
    });
    this.#routers.set(roomId, router);
    return router;
  }

  routerRtpCapabilities(roomId: string): types.RtpCapabilities {
    const router = this.#routers.get(roomId)!;
    // 3.27: a router's codecs always carry their payload type.
    for (const codec of router.rtpCapabilities.codecs ?? []) {
      const pt: number = codec.preferredPayloadType;
      console.log(codec.mimeType, pt);
    }
    return router.rtpCapabilities;
  }

  async createTransport(
    roomId: string,
    peerId: string,
    direction: 'send' | 'recv',
    useServer: boolean,
  ): Promise<{
    id: string;
    iceParameters: types.IceParameters;
    iceCandidates: types.IceCandidate[];
    dtlsParameters: types.DtlsParameters;
    sctpParameters?: types.SctpParameters;
  }> {
    const router = this.#routers.get(roomId)!;
    const common = {
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      iceConsentTimeout: 30,
      initialAvailableOutgoingBitrate: 1_000_000,
      enableSctp: true,
      maxSendMessageSize: 262144,
      maxReceiveMessageSize: 262144,
      sctpSendBufferSize: 262144,
      appData: { peerId, direction },
    };
    const transport =
      useServer && this.#webRtcServer
        ? await router.createWebRtcTransport<TransportAppData>({ ...common, webRtcServer: this.#webRtcServer })
        : await router.createWebRtcTransport<TransportAppData>({ ...common, listenInfos });

    transport.on('icestatechange', (state) => {
      if (state === 'disconnected') console.warn('ice disconnected on %s', transport.appData.peerId);
    });
    transport.on('dtlsstatechange', (state) => {
      if (state === 'failed' || state === 'closed') transport.close();
    });
    transport.on('iceselectedtuplechange', (tuple) => console.log(tuple.localAddress, tuple.remotePort));
    transport.observer.on('newproducer', (producer) => console.log('producer %s', producer.id));
    transport.observer.on('close', () => this.#transports.delete(transport.id));

    await transport.setMaxIncomingBitrate(1_500_000);
    await transport.enableTraceEvent(['bwe']);
    transport.on('trace', (trace) => {
      if (trace.type === 'bwe') console.log(JSON.stringify(trace.info));
    });

    this.#transports.set(transport.id, transport);

    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
      sctpParameters: transport.sctpParameters,
    };
  }

  async connect(transportId: string, dtlsParameters: types.DtlsParameters): Promise<void> {
    await this.#transports.get(transportId)!.connect({ dtlsParameters });
  }

  async produce(
    transportId: string,
    kind: types.MediaKind,
    rtpParameters: types.RtpParameters,
    appData: ProducerAppData,
  ): Promise<string> {
    const transport = this.#transports.get(transportId)!;
    const producer = await transport.produce({ kind, rtpParameters, appData, paused: false });

    producer.on('score', (scores) => console.log(scores.map((s) => s.score)));
    producer.on('transportclose', () => this.#producers.delete(producer.id));
    producer.observer.on('pause', () => console.log('%s paused', producer.appData.source));

    if (producer.type === 'simulcast') {
      const { spatialLayers } = mediasoup.parseScalabilityMode(rtpParameters.encodings?.[0]?.scalabilityMode);
      console.log('layers', spatialLayers);
    }

    this.#producers.set(producer.id, producer);
    return producer.id;
  }

  async consume(
    roomId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
  ): Promise<{ id: string; kind: types.MediaKind; rtpParameters: types.RtpParameters; type: types.ConsumerType } | null> {
    const router = this.#routers.get(roomId)!;
    if (!router.canConsume({ producerId, rtpCapabilities })) return null;

    const transport = this.#transports.get(transportId)!;
    let consumer: types.Consumer;
    try {
      consumer = await transport.consume({
        producerId,
        rtpCapabilities,
        paused: true,
        preferredLayers: { spatialLayer: 1 },
        enableRtx: true,
        ignoreDtx: false,
      });
    } catch (error) {
      if (error instanceof mediasoup.errors.UnsupportedError) return null;
      throw error;
    }

    consumer.on('producerclose', () => {
      this.#consumers.delete(consumer.id);
    });
    consumer.on('producerpause', () => console.log('producer paused'));
    consumer.on('score', (score) => console.log(score.score, score.producerScore));
    consumer.on('layerschange', (layers) => console.log(layers?.spatialLayer ?? 'none'));

    this.#consumers.set(consumer.id, consumer);

    return {
      id: consumer.id,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
    };
  }

  async resumeConsumer(consumerId: string): Promise<void> {
    const consumer = this.#consumers.get(consumerId)!;
    await consumer.resume();
    await consumer.requestKeyFrame();
    await consumer.setPreferredLayers({ spatialLayer: 2, temporalLayer: 1 });
    const layers: types.ConsumerLayers | undefined = consumer.currentLayers;
    console.log(layers);
  }

  async consumerStats(consumerId: string): Promise<number> {
    const stats = await this.#consumers.get(consumerId)!.getStats();
    let total = 0;
    for (const stat of stats) {
      if (stat.type === 'outbound-rtp') total += stat.byteCount;
    }
    return total;
  }

  async transportStats(transportId: string): Promise<types.WebRtcTransportStat[]> {
    return this.#transports.get(transportId)!.getStats();
  }

  async produceAndConsumeData(transportId: string, sctpStreamParameters: types.SctpStreamParameters): Promise<void> {
    const transport = this.#transports.get(transportId)!;
    const dataProducer = await transport.produceData({ sctpStreamParameters, label: 'chat', protocol: '' });
    const dataConsumer = await transport.consumeData({
      dataProducerId: dataProducer.id,
      subchannels: [1, 2],
    });
    dataConsumer.on('message', (message, ppid) => console.log(message.toString(), ppid));
    dataConsumer.on('bufferedamountlow', (amount) => console.log(amount));
    const buffered: number = await dataConsumer.send('hello');
    console.log(buffered);
    await dataConsumer.addSubchannel(3);
    this.#dataConsumers.set(dataConsumer.id, dataConsumer);

    const stats: types.DataProducerStat[] = await dataProducer.getStats();
    console.log(stats[0]?.messagesReceived);
  }

  async observe(roomId: string): Promise<void> {
    const router = this.#routers.get(roomId)!;
    const audioLevelObserver = await router.createAudioLevelObserver({ maxEntries: 3, threshold: -70, interval: 500 });
    audioLevelObserver.on('volumes', (volumes) => {
      for (const { producer, volume } of volumes) console.log(producer.id, volume);
    });
    const activeSpeakerObserver: types.ActiveSpeakerObserver = await router.createActiveSpeakerObserver();
    activeSpeakerObserver.on('dominantspeaker', (speaker: types.ActiveSpeakerObserverDominantSpeaker) => {
      console.log(speaker.producer.id);
    });
    for (const producer of this.#producers.values()) {
      if (producer.kind === 'audio') {
        await audioLevelObserver.addProducer({ producerId: producer.id });
        await activeSpeakerObserver.addProducer({ producerId: producer.id });
      }
    }
  }

  async record(roomId: string, producerId: string): Promise<types.PlainTransport> {
    const router = this.#routers.get(roomId)!;
    const plain = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: false,
    });
    await plain.connect({ ip: '127.0.0.1', port: 5004 });
    const consumer = await plain.consume({ producerId, rtpCapabilities: router.rtpCapabilities, paused: true });
    console.log(plain.tuple.localPort, consumer.rtpParameters.codecs[0].payloadType);
    return plain;
  }

  async scaleOut(fromRoomId: string, toRoomId: string, producerId: string): Promise<void> {
    const from = this.#routers.get(fromRoomId)!;
    const to = this.#routers.get(toRoomId)!;
    const { pipeProducer, pipeConsumer } = await from.pipeToRouter({
      producerId,
      router: to,
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      keepId: true,
      enableRtx: true,
    });
    console.log(pipeProducer?.id, pipeConsumer?.type);

    const pipe = await from.createPipeTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, enableSrtp: true });
    const srtp: types.SrtpParameters | undefined = pipe.srtpParameters;
    await pipe.connect({ ip: '127.0.0.1', port: 40001, srtpParameters: srtp });
  }

  async direct(roomId: string): Promise<void> {
    const router = this.#routers.get(roomId)!;
    const direct = await router.createDirectTransport({ maxSendMessageSize: 65536, maxReceiveMessageSize: 65536 });
    const dataProducer = await direct.produceData({ label: 'bot' });
    dataProducer.send('hi from the server', 51, [1], 1);
    const dump: types.DirectTransportDump = await direct.dump();
    console.log(dump.producerIds);
  }

  close(): void {
    for (const router of this.#routers.values()) router.close();
    for (const worker of this.#workers) worker.close();
  }
}

export const supportedCapabilities: types.RouterRtpCapabilities = mediasoup.getSupportedRtpCapabilities();

export { RoomServer };
