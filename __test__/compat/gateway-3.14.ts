/**
 * A gateway written the way mediasoup 3.14 users wrote them. It must
 * type-check unchanged (`tsc --strict`) against real mediasoup 3.14 and
 * against opencall installed under the name `mediasoup`; the compat test
 * checks the latter. Never executed: only its types matter.
 */
import * as mediasoup from 'mediasoup';
import { types } from 'mediasoup';

type PeerAppData = { peerId: string; displayName?: string };
type TransportAppData = { peerId: string; consuming: boolean };

interface Peer {
  id: string;
  transports: Map<string, types.Transport>;
  producers: Map<string, types.Producer>;
  consumers: Map<string, types.Consumer>;
  dataProducers: Map<string, types.DataProducer>;
  dataConsumers: Map<string, types.DataConsumer>;
  rtpCapabilities?: types.RtpCapabilities;
  sctpCapabilities?: types.SctpCapabilities;
}

interface Room {
  id: string;
  router: types.Router<{ roomId: string }>;
  audioLevelObserver: types.AudioLevelObserver;
  activeSpeakerObserver: types.ActiveSpeakerObserver;
  peers: Map<string, Peer>;
}

const config = {
  numWorkers: 2,
  workerSettings: {
    logLevel: 'warn',
    logTags: ['info', 'ice', 'dtls', 'rtp', 'srtp', 'rtcp', 'rtx', 'bwe', 'score', 'simulcast', 'svc', 'sctp'],
    rtcMinPort: 40000,
    rtcMaxPort: 49999,
    disableLiburing: false,
  } as types.WorkerSettings,
  // 3.14 style: RtpCodecCapability[], payload types left to the router
  // except where the app pins one.
  mediaCodecs: [
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
    {
      kind: 'video',
      mimeType: 'video/VP8',
      clockRate: 90000,
      parameters: { 'x-google-start-bitrate': 1000 },
    },
    {
      kind: 'video',
      mimeType: 'video/VP9',
      clockRate: 90000,
      parameters: { 'profile-id': 2, 'x-google-start-bitrate': 1000 },
    },
    {
      kind: 'video',
      mimeType: 'video/H264',
      preferredPayloadType: 125,
      clockRate: 90000,
      parameters: {
        'packetization-mode': 1,
        'profile-level-id': '42e01f',
        'level-asymmetry-allowed': 1,
      },
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
    },
  ] as types.RtpCodecCapability[],
  webRtcTransportOptions: {
    listenIps: [{ ip: '0.0.0.0', announcedIp: '203.0.113.10' }, '127.0.0.1'],
    initialAvailableOutgoingBitrate: 1_000_000,
    maxSctpMessageSize: 262144,
    maxIncomingBitrate: 1_500_000,
  },
  plainTransportOptions: {
    listenInfo: { protocol: 'udp', ip: '0.0.0.0', announcedIp: '203.0.113.10' } as types.TransportListenInfo,
    maxSctpMessageSize: 262144,
  },
};

// Annotated (not cast) so that a missing preferredPayloadType is checked.
const recordingCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }] },
];

const workers: types.Worker[] = [];
let nextWorkerIdx = 0;
const rooms = new Map<string, Room>();

mediasoup.setLogEventListeners({
  onwarn: (namespace: string, log: string) => console.warn(`${namespace} ${log}`),
  onerror: (namespace: string, log: string, error?: Error) =>
    console.error(`${namespace} ${log}`, error ?? ''),
});

mediasoup.observer.on('newworker', (worker: types.Worker) => {
  console.log('new worker pid:%d (mediasoup %s)', worker.pid, mediasoup.version);
  worker.observer.on('newrouter', (router: types.Router) => {
    router.observer.on('newtransport', (transport: types.Transport) => {
      transport.observer.on('newproducer', (producer: types.Producer) => {
        console.log('producer %s kind %s', producer.id, producer.kind);
      });
    });
  });
});

export async function runMediasoupWorkers(): Promise<void> {
  for (let i = 0; i < config.numWorkers; ++i) {
    const worker = await mediasoup.createWorker<{ index: number }>({
      ...config.workerSettings,
      appData: { index: i },
    });

    worker.on('died', (error: Error) => {
      console.error('worker %d died: %s, exiting in 2 seconds', worker.pid, error.message);
      setTimeout(() => process.exit(1), 2000);
    });
    worker.on('subprocessclose', () => console.warn('subprocess closed'));

    workers.push(worker);

    setInterval(async () => {
      const usage: types.WorkerResourceUsage = await worker.getResourceUsage();
      console.info(
        'worker %d [index:%d] cpu user %d sys %d rss %d ctxsw %d/%d',
        worker.pid,
        worker.appData.index,
        usage.ru_utime,
        usage.ru_stime,
        usage.ru_maxrss,
        usage.ru_nvcsw,
        usage.ru_nivcsw,
      );
    }, 120_000);
  }

  await workers[0].updateSettings({ logLevel: 'debug', logTags: ['ice'] });
  const dump: types.WorkerDump = await workers[0].dump();
  console.log(dump.routerIds.length, dump.webRtcServerIds);
}

function getMediasoupWorker(): types.Worker {
  const worker = workers[nextWorkerIdx];
  if (++nextWorkerIdx === workers.length) nextWorkerIdx = 0;
  return worker;
}

export async function getOrCreateRoom(roomId: string): Promise<Room> {
  const existing = rooms.get(roomId);
  if (existing) return existing;

  const worker = getMediasoupWorker();
  const router = await worker.createRouter({
    mediaCodecs: config.mediaCodecs,
    appData: { roomId },
  });

  const audioLevelObserver = await router.createAudioLevelObserver({
    maxEntries: 1,
    threshold: -80,
    interval: 800,
  });
  audioLevelObserver.on('volumes', (volumes: types.AudioLevelObserverVolume[]) => {
    const { producer, volume } = volumes[0];
    console.log('loudest: %s at %d dB', producer.id, volume);
  });
  audioLevelObserver.on('silence', () => console.log('silence'));

  const activeSpeakerObserver = await router.createActiveSpeakerObserver({ interval: 300 });
  activeSpeakerObserver.on('dominantspeaker', ({ producer }) => {
    console.log('dominant speaker: %s', producer.appData.peerId);
  });

  const room: Room = { id: roomId, router, audioLevelObserver, activeSpeakerObserver, peers: new Map() };
  rooms.set(roomId, room);

  router.on('workerclose', () => rooms.delete(roomId));
  router.observer.on('close', () => console.log('router %s closed', router.appData.roomId));

  return room;
}

// Signaling handlers, as a Socket.IO/protoo server would call them.

export function getRouterRtpCapabilities(room: Room): types.RtpCapabilities {
  const caps = room.router.rtpCapabilities;
  // 3.14 declared preferredPayloadType optional, so code handled undefined.
  const opus = caps.codecs?.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
  const opusPt: number = opus?.preferredPayloadType ?? 100;
  console.log('opus pt', opusPt);
  return caps;
}

export async function createWebRtcTransport(
  room: Room,
  peer: Peer,
  { producing, consuming, forceTcp, sctpCapabilities }: {
    producing: boolean;
    consuming: boolean;
    forceTcp?: boolean;
    sctpCapabilities?: types.SctpCapabilities;
  },
) {
  const { maxIncomingBitrate, ...transportOptions } = config.webRtcTransportOptions;

  const transport = await room.router.createWebRtcTransport<TransportAppData>({
    ...transportOptions,
    enableUdp: !forceTcp,
    enableTcp: true,
    preferUdp: true,
    iceConsentTimeout: 20,
    enableSctp: Boolean(sctpCapabilities),
    numSctpStreams: sctpCapabilities?.numStreams ?? { OS: 1024, MIS: 1024 },
    sctpSendBufferSize: 262144,
    appData: { peerId: peer.id, consuming },
  });

  transport.on('icestatechange', (iceState: types.IceState) => {
    if (iceState === 'disconnected' || iceState === 'closed') {
      console.warn('ice state %s', iceState);
    }
  });
  transport.on('iceselectedtuplechange', (tuple: types.TransportTuple) => {
    console.log('selected tuple %s:%d', tuple.remoteIp, tuple.remotePort);
  });
  transport.on('dtlsstatechange', (dtlsState: types.DtlsState) => {
    if (dtlsState === 'failed' || dtlsState === 'closed') transport.close();
  });
  transport.on('sctpstatechange', (sctpState: types.SctpState) => console.log(sctpState));
  transport.on('routerclose', () => peer.transports.delete(transport.id));
  transport.observer.on('close', () => peer.transports.delete(transport.id));

  await transport.enableTraceEvent(['bwe']);
  transport.on('trace', (trace: types.TransportTraceEventData) => {
    if (trace.type === 'bwe' && trace.direction === 'out') {
      console.log('available bitrate', trace.info.availableBitrate);
    }
  });

  if (maxIncomingBitrate) {
    try {
      await transport.setMaxIncomingBitrate(maxIncomingBitrate);
    } catch (error) {
      // Ignore.
    }
  }

  peer.transports.set(transport.id, transport);
  console.log(producing, transport.appData.consuming);

  const iceParameters: types.IceParameters = transport.iceParameters;
  const iceCandidates: types.IceCandidate[] = transport.iceCandidates;
  const dtlsParameters: types.DtlsParameters = transport.dtlsParameters;
  const sctpParameters: types.SctpParameters | undefined = transport.sctpParameters;

  return { id: transport.id, iceParameters, iceCandidates, dtlsParameters, sctpParameters };
}

export async function connectWebRtcTransport(
  peer: Peer,
  { transportId, dtlsParameters }: { transportId: string; dtlsParameters: types.DtlsParameters },
): Promise<void> {
  const transport = peer.transports.get(transportId);
  if (!transport) throw new Error(`transport with id "${transportId}" not found`);
  await transport.connect({ dtlsParameters });
}

export async function restartIce(peer: Peer, transportId: string): Promise<types.IceParameters> {
  const transport = peer.transports.get(transportId) as types.WebRtcTransport;
  return transport.restartIce();
}

export async function produce(
  room: Room,
  peer: Peer,
  {
    transportId,
    kind,
    rtpParameters,
    appData,
  }: {
    transportId: string;
    kind: types.MediaKind;
    rtpParameters: types.RtpParameters;
    appData: PeerAppData;
  },
): Promise<{ id: string }> {
  const transport = peer.transports.get(transportId);
  if (!transport) throw new Error(`transport with id "${transportId}" not found`);

  const producer = await transport.produce<PeerAppData>({
    kind,
    rtpParameters,
    keyFrameRequestDelay: 5000,
    appData: { ...appData, peerId: peer.id },
  });

  peer.producers.set(producer.id, producer);

  producer.on('score', (score: types.ProducerScore[]) => {
    console.log('producer score', score.map((s) => `${s.ssrc}:${s.score}`).join(','));
  });
  producer.on('videoorientationchange', (videoOrientation: types.ProducerVideoOrientation) => {
    console.log('rotation %d', videoOrientation.rotation);
  });
  producer.on('transportclose', () => peer.producers.delete(producer.id));

  const encodings: types.RtpEncodingParameters[] = producer.rtpParameters.encodings ?? [];
  for (const encoding of encodings) {
    const { spatialLayers, temporalLayers }: types.ScalabilityMode = mediasoup.parseScalabilityMode(
      encoding.scalabilityMode,
    );
    console.log(encoding.rid, spatialLayers, temporalLayers);
  }

  if (producer.kind === 'audio') {
    room.audioLevelObserver.addProducer({ producerId: producer.id }).catch(() => {});
    room.activeSpeakerObserver.addProducer({ producerId: producer.id }).catch(() => {});
  }

  for (const otherPeer of room.peers.values()) {
    if (otherPeer.id !== peer.id) await createConsumer(room, otherPeer, producer);
  }

  return { id: producer.id };
}

export async function createConsumer(room: Room, consumerPeer: Peer, producer: types.Producer): Promise<void> {
  if (
    !consumerPeer.rtpCapabilities ||
    !room.router.canConsume({ producerId: producer.id, rtpCapabilities: consumerPeer.rtpCapabilities })
  ) {
    return;
  }

  const transport = Array.from(consumerPeer.transports.values()).find(
    (t) => (t.appData as TransportAppData).consuming,
  );
  if (!transport) return;

  let consumer: types.Consumer<{ peerId: string; producerId: string }>;
  try {
    consumer = await transport.consume({
      producerId: producer.id,
      rtpCapabilities: consumerPeer.rtpCapabilities,
      paused: true,
      enableRtx: true,
      ignoreDtx: true,
      appData: { peerId: consumerPeer.id, producerId: producer.id },
    });
  } catch (error) {
    if (error instanceof types.UnsupportedError) return;
    throw error;
  }

  consumerPeer.consumers.set(consumer.id, consumer);

  consumer.on('transportclose', () => consumerPeer.consumers.delete(consumer.id));
  consumer.on('producerclose', () => consumerPeer.consumers.delete(consumer.id));
  consumer.on('producerpause', () => console.log('producer paused'));
  consumer.on('producerresume', () => console.log('producer resumed'));
  consumer.on('score', (score: types.ConsumerScore) => console.log(score.score, score.producerScores));
  consumer.on('layerschange', (layers?: types.ConsumerLayers) => {
    console.log('layers', layers ? layers.spatialLayer : null, layers?.temporalLayer);
  });

  const info = {
    producerId: producer.id,
    id: consumer.id,
    kind: consumer.kind,
    rtpParameters: consumer.rtpParameters,
    type: consumer.type,
    producerPaused: consumer.producerPaused,
  };
  console.log(info);

  await consumer.resume();
  if (consumer.type === 'simulcast' || consumer.type === 'svc') {
    await consumer.setPreferredLayers({ spatialLayer: 2, temporalLayer: 2 });
  }
  await consumer.setPriority(2);
  await consumer.requestKeyFrame();

  const stats = await consumer.getStats();
  for (const stat of stats) {
    console.log(stat.type, stat.ssrc, stat.packetsLost, stat.bitrate);
  }
}

export async function produceData(
  peer: Peer,
  {
    transportId,
    sctpStreamParameters,
    label,
    protocol,
  }: { transportId: string; sctpStreamParameters: types.SctpStreamParameters; label: string; protocol: string },
): Promise<string> {
  const transport = peer.transports.get(transportId)!;
  const dataProducer = await transport.produceData({
    sctpStreamParameters,
    label,
    protocol,
    appData: { peerId: peer.id },
  });
  peer.dataProducers.set(dataProducer.id, dataProducer);
  dataProducer.on('transportclose', () => peer.dataProducers.delete(dataProducer.id));
  return dataProducer.id;
}

export async function consumeData(peer: Peer, dataProducer: types.DataProducer): Promise<void> {
  const transport = Array.from(peer.transports.values())[0];
  const dataConsumer = await transport.consumeData({ dataProducerId: dataProducer.id });
  peer.dataConsumers.set(dataConsumer.id, dataConsumer);

  dataConsumer.on('dataproducerclose', () => peer.dataConsumers.delete(dataConsumer.id));
  dataConsumer.on('message', (message: Buffer, ppid: number) => console.log(message.length, ppid));
  dataConsumer.on('bufferedamountlow', (bufferedAmount: number) => console.log(bufferedAmount));

  const streamId: number | undefined = dataConsumer.sctpStreamParameters?.streamId;
  console.log(streamId, dataConsumer.label, dataConsumer.protocol);

  await dataConsumer.setBufferedAmountLowThreshold(65536);
  await dataConsumer.send('welcome');
}

export async function getTransportStats(peer: Peer, transportId: string): Promise<types.WebRtcTransportStat[]> {
  const transport = peer.transports.get(transportId) as types.WebRtcTransport;
  const stats = await transport.getStats();
  console.log(stats[0].bytesReceived, stats[0].iceState, stats[0].availableOutgoingBitrate);
  return stats;
}

export async function getProducerStats(producer: types.Producer): Promise<types.ProducerStat[]> {
  const stats = await producer.getStats();
  for (const s of stats) console.log(s.jitter, s.bitrateByLayer);
  await producer.pause();
  await producer.resume();
  return stats;
}

// Recording: RTP out to FFmpeg through a PlainTransport.
export async function startRecording(room: Room, producer: types.Producer): Promise<types.PlainTransport> {
  const plainTransport = await room.router.createPlainTransport({
    ...config.plainTransportOptions,
    rtcpMux: false,
    comedia: false,
    enableSrtp: false,
  });

  await plainTransport.connect({ ip: '127.0.0.1', port: 5004, rtcpPort: 5005 });
  console.log(plainTransport.tuple.localPort, plainTransport.rtcpTuple?.localPort);

  plainTransport.on('tuple', (tuple: types.TransportTuple) => console.log(tuple.protocol));

  const rtpConsumer = await plainTransport.consume({
    producerId: producer.id,
    rtpCapabilities: room.router.rtpCapabilities,
    paused: true,
  });
  await rtpConsumer.resume();

  return plainTransport;
}

// Receiving RTP from GStreamer with SRTP, the old listenIp form.
export async function ingest(room: Room): Promise<types.Producer> {
  const transport = await room.router.createPlainTransport({
    listenIp: { ip: '0.0.0.0', announcedIp: '203.0.113.10' },
    rtcpMux: true,
    comedia: true,
    enableSrtp: true,
    srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
  });
  const srtp: types.SrtpParameters | undefined = transport.srtpParameters;
  console.log(srtp?.cryptoSuite);

  return transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [
        {
          mimeType: 'video/VP8',
          payloadType: 102,
          clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
        },
      ],
      encodings: [{ ssrc: 22222222 }],
      headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1 }],
      rtcp: { cname: 'gstreamer' },
    },
  });
}

// Scaling out: pipe a producer to a router on another worker.
export async function pipeToOtherRouter(room: Room, producer: types.Producer): Promise<types.Router> {
  const otherRouter = await workers[1].createRouter({ mediaCodecs: recordingCodecs });
  const result: types.PipeToRouterResult = await room.router.pipeToRouter({
    producerId: producer.id,
    router: otherRouter,
    enableSrtp: false,
    numSctpStreams: { OS: 1024, MIS: 1024 },
  });
  console.log(result.pipeConsumer?.id, result.pipeProducer?.paused);

  const pipeTransport = await room.router.createPipeTransport({
    listenIp: '127.0.0.1',
    enableSctp: true,
    numSctpStreams: { OS: 1024, MIS: 1024 },
    enableRtx: true,
  });
  await pipeTransport.connect({ ip: '127.0.0.1', port: 40000 });
  const pipeConsumer = await pipeTransport.consume({ producerId: producer.id });
  console.log(pipeConsumer.type);

  return otherRouter;
}

// A shared WebRtcServer (one port for all transports), as 3.14 apps set it up.
export async function createServerTransport(worker: types.Worker, router: types.Router): Promise<void> {
  const webRtcServer = await worker.createWebRtcServer({
    listenInfos: [
      { protocol: 'udp', ip: '0.0.0.0', announcedAddress: '203.0.113.10', port: 44444 },
      { protocol: 'tcp', ip: '0.0.0.0', announcedAddress: '203.0.113.10', port: 44444 },
    ],
  });
  const transport = await router.createWebRtcTransport({ webRtcServer, enableSctp: true });
  console.log(transport.iceCandidates.map((c) => `${c.protocol} ${c.ip}:${c.port}`));
  const direct = await router.createDirectTransport({ maxMessageSize: 262144 });
  direct.on('rtcp', (packet: Buffer) => console.log(packet.length));
  webRtcServer.close();
}

export function closePeer(peer: Peer): void {
  for (const transport of peer.transports.values()) transport.close();
}

export const supported: types.RtpCapabilities = mediasoup.getSupportedRtpCapabilities();
