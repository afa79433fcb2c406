// SFU test page: the real, unmodified mediasoup-client, talking to the server
// through the harness's signaling bridge with the usual mediasoup demo flow
// (load device, send/recv transports, produce, consume paused then resume).
import { Device, type types } from 'mediasoup-client';
import { attachRemoteTrack, detachRemoteTrack, getLocalMedia, inboundFigures, showLocalVideo, type RemoteTrackView } from './media';
import type { DataMessage, RemoteTrackStats, SfuConsumeOptions, SfuJoinOptions, SfuJoinResult } from './types';

/** What the server returns for createWebRtcTransport (mediasoup's transport fields). */
interface TransportInfo {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
  sctpParameters?: types.SctpParameters;
}

interface DataConsumerInfo {
  id: string;
  dataProducerId: string;
  sctpStreamParameters: types.SctpStreamParameters;
  label: string;
  protocol: string;
}

interface ConsumerInfo {
  id: string;
  producerId: string;
  kind: types.MediaKind;
  rtpParameters: types.RtpParameters;
}

interface RemoteEntry {
  consumer: types.Consumer;
  view: RemoteTrackView;
  /** Figures from before the consumer closed (its getStats() throws after that). */
  last: RemoteTrackStats | null;
  /** When this page asked the server for the consumer. */
  consumeStartedAt: number;
}

const signal = <T>(method: string, data?: unknown): Promise<T> => window.signal(method, data) as Promise<T>;

let device: Device | null = null;
let sendTransport: types.Transport | null = null;
let recvTransport: types.Transport | null = null;
let local: MediaStream | null = null;
let joinStartedAt = 0;
const producers = new Map<types.MediaKind, types.Producer>();
const remotes = new Map<string, RemoteEntry>();
/** Connection states seen per transport direction, in order, for the test to inspect. */
const transportStates: Record<'send' | 'recv', string[]> = { send: [], recv: [] };

async function createTransport(direction: 'send' | 'recv', tcpOnly: boolean): Promise<types.Transport> {
  if (!device) throw new Error('device not loaded');
  const info = await signal<TransportInfo>('createWebRtcTransport', {
    direction,
    tcpOnly,
    sctp: dataChannels,
  });
  const transport =
    direction === 'send' ? device.createSendTransport(info) : device.createRecvTransport(info);
  transport.on('connect', ({ dtlsParameters }, callback, errback) => {
    signal('connectTransport', { transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
  });
  transport.on('connectionstatechange', (state) => transportStates[direction].push(state));
  if (direction === 'send') {
    transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
      signal<{ id: string }>('produce', { transportId: transport.id, kind, rtpParameters, appData }).then(
        callback,
        errback,
      );
    });
    transport.on('producedata', ({ sctpStreamParameters, label, protocol }, callback, errback) => {
      signal<{ id: string }>('produceData', { transportId: transport.id, sctpStreamParameters, label, protocol }).then(
        callback,
        errback,
      );
    });
  }
  return transport;
}

/** Video as simulcast (see SfuJoinOptions). */
let simulcast = false;
/** Video as one encoding of this scalability mode (see SfuJoinOptions). */
let scalabilityMode: string | undefined;
/** Transports with SCTP (see SfuJoinOptions). */
let dataChannels = false;
const dataProducers = new Map<string, types.DataProducer>();
const dataConsumers = new Map<string, types.DataConsumer>();
const dataReceived: DataMessage[] = [];

async function join(opts: SfuJoinOptions = {}): Promise<SfuJoinResult> {
  joinStartedAt = performance.now();
  device = new Device();
  const routerRtpCapabilities = await signal<types.RtpCapabilities>('getRouterRtpCapabilities');
  await device.load({ routerRtpCapabilities });
  const deviceLoadMs = performance.now() - joinStartedAt;

  const tcpOnly = opts.tcpOnly ?? false;
  dataChannels = opts.data ?? false;
  recvTransport = await createTransport('recv', tcpOnly);
  // Others' media first: it does not wait for this page's camera.
  const consuming = Promise.all((opts.consume ?? []).map((id) => consume(id)));

  const gumStart = performance.now();
  local = await getLocalMedia(opts);
  const getUserMediaMs = performance.now() - gumStart;
  showLocalVideo(local);

  sendTransport = await createTransport('send', tcpOnly);

  simulcast = opts.simulcast ?? false;
  scalabilityMode = opts.scalabilityMode;
  const audioProducerId = opts.audio === false ? null : await produce('audio');
  const videoProducerId = opts.video === false ? null : await produce('video');
  await consuming;
  return { audioProducerId, videoProducerId, deviceLoadMs, getUserMediaMs };
}

/** Produces the local track of `kind` (again after closeProducer: a fresh clone of it). */
async function produce(kind: types.MediaKind): Promise<string | null> {
  const source = kind === 'audio' ? local?.getAudioTracks()[0] : local?.getVideoTracks()[0];
  if (!source || !sendTransport || !device?.canProduce(kind)) return null;
  const track = source.readyState === 'live' ? source.clone() : source;
  let encodings: types.RtpEncodingParameters[] | undefined;
  if (kind === 'video' && simulcast) {
    encodings = [
      { scaleResolutionDownBy: 2, maxBitrate: 150_000 },
      { scaleResolutionDownBy: 1, maxBitrate: 900_000 },
    ];
  } else if (kind === 'video' && scalabilityMode) {
    encodings = [{ scalabilityMode }];
  }
  const producer = await sendTransport.produce({ track, encodings, appData: { kind } });
  if (encodings && producer.rtpSender) {
    // The layered tests check each layer's resolution. On a busy machine
    // Chromium's CPU adaptation scales the camera down (seen: the 320 px
    // layer sent at 160 and the top one stopped); keeping the resolution
    // makes it drop frames first instead.
    const params = producer.rtpSender.getParameters();
    await producer.rtpSender.setParameters(Object.assign(params, { degradationPreference: 'maintain-resolution' }));
  }
  producers.set(kind, producer);
  return producer.id;
}

/** Consumes a remote producer; returns the consumer id. */
async function consume(producerId: string, opts: SfuConsumeOptions = {}): Promise<string> {
  if (!device || !recvTransport) throw new Error('join() first');
  const consumeStartedAt = performance.now();
  const info = await signal<ConsumerInfo>('consume', {
    transportId: recvTransport.id,
    producerId,
    rtpCapabilities: device.recvRtpCapabilities,
  });
  const consumer = await recvTransport.consume(info);
  const view = attachRemoteTrack(consumer.id, consumer.track, `${consumer.kind} of ${producerId}`);
  remotes.set(consumer.id, { consumer, view, last: null, consumeStartedAt });
  // The server creates consumers paused (so no packet is lost before the
  // client is ready); resuming here is the normal mediasoup flow.
  if (!opts.paused) await resumeConsumer(consumer.id);
  return consumer.id;
}

function entry(consumerId: string): RemoteEntry {
  const e = remotes.get(consumerId);
  if (!e) throw new Error(`no consumer ${consumerId}`);
  return e;
}

async function resumeConsumer(consumerId: string): Promise<void> {
  await signal('resumeConsumer', { consumerId });
  entry(consumerId).consumer.resume();
}

async function pauseConsumer(consumerId: string): Promise<void> {
  entry(consumerId).consumer.pause();
  await signal('pauseConsumer', { consumerId });
}

/** Server notification: the consumer's producer closed (mediasoup's 'producerclose'). */
async function consumerClosed(consumerId: string): Promise<void> {
  const e = remotes.get(consumerId);
  if (!e || e.consumer.closed) return;
  e.last = inboundFigures(await e.consumer.getStats(), consumerId, e.view);
  e.consumer.close(); // stops the track: readyState becomes 'ended'
  detachRemoteTrack(e.view);
}

async function closeProducer(kind: types.MediaKind): Promise<string> {
  const producer = producers.get(kind);
  if (!producer) throw new Error(`no ${kind} producer`);
  producer.close();
  producers.delete(kind);
  await signal('closeProducer', { producerId: producer.id });
  return producer.id;
}

async function stats(): Promise<RemoteTrackStats[]> {
  const out: RemoteTrackStats[] = [];
  for (const [id, e] of remotes) {
    if (e.consumer.closed) {
      out.push({ ...(e.last ?? inboundFigures(new Map() as RTCStatsReport, id, e.view)), trackState: e.view.track.readyState });
    } else {
      out.push(inboundFigures(await e.consumer.getStats(), id, e.view));
    }
  }
  return out;
}

/**
 * Per remote video, milliseconds to its first presented frame: from the start
 * of join() (device load, getUserMedia, transports, produce, consume), and
 * from the moment this page asked to consume it (the part the SFU drives:
 * consumer creation, recv-transport ICE/DTLS, keyframe request and delivery).
 */
function firstFrameDelays(): Record<string, { fromJoin: number; fromConsume: number }> {
  const out: Record<string, { fromJoin: number; fromConsume: number }> = {};
  for (const [id, e] of remotes) {
    if (e.consumer.kind === 'video' && e.view.firstFrameAt !== null) {
      out[id] = { fromJoin: e.view.firstFrameAt - joinStartedAt, fromConsume: e.view.firstFrameAt - e.consumeStartedAt };
    }
  }
  return out;
}

/** Resolves when a data channel endpoint opens (mediasoup-client's 'open'). */
function opened(endpoint: {
  readyState: string;
  on(event: 'open' | 'error', listener: (error?: unknown) => void): unknown;
}): Promise<void> {
  if (endpoint.readyState === 'open') return Promise.resolve();
  return new Promise((resolve, reject) => {
    endpoint.on('open', () => resolve());
    endpoint.on('error', (e) => reject(e));
  });
}

/** Opens a data channel to the server labelled `label`; returns the DataProducer id. */
async function produceData(label: string): Promise<string> {
  if (!sendTransport) throw new Error('join() first');
  const dp = await sendTransport.produceData({ label, ordered: true });
  dataProducers.set(label, dp);
  await opened(dp);
  return dp.id;
}

/** Sends text, or bytes when `bytes` is given, on the data channel labelled `label`. */
function sendData(label: string, text: string, bytes?: number[]): void {
  const dp = dataProducers.get(label);
  if (!dp) throw new Error(`no data producer ${label}`);
  dp.send(bytes ? new Uint8Array(bytes).buffer : text);
}

/** Consumes a data producer; returns the DataConsumer id once its channel is open. */
async function consumeData(dataProducerId: string): Promise<string> {
  if (!recvTransport) throw new Error('join() first');
  const info = await signal<DataConsumerInfo>('consumeData', { transportId: recvTransport.id, dataProducerId });
  const dc = await recvTransport.consumeData(info);
  dc.binaryType = 'arraybuffer';
  dc.on('message', (data: unknown) => {
    dataReceived.push(
      typeof data === 'string'
        ? { label: dc.label, text: data }
        : { label: dc.label, bytes: [...new Uint8Array(data as ArrayBuffer)] },
    );
  });
  dataConsumers.set(dc.id, dc);
  await opened(dc);
  return dc.id;
}

/** The page's data channels: each DataConsumer's readyState, by id. */
function dataChannelStates(): Record<string, string> {
  return Object.fromEntries([...dataConsumers].map(([id, dc]) => [id, dc.readyState]));
}

function dataMessages(): DataMessage[] {
  return dataReceived;
}

function getTransportStates(): Record<'send' | 'recv', string[]> {
  return transportStates;
}

function leave(): void {
  sendTransport?.close();
  recvTransport?.close();
  local?.getTracks().forEach((t) => t.stop());
}

/**
 * An ICE restart, as an application does on a network change: new ICE
 * credentials from the server's `transport.restartIce()`, handed to
 * mediasoup-client's `transport.restartIce()` (a new offer/answer inside).
 */
/** This page's transport in `direction`, once join() made it. */
function transportOf(direction: 'send' | 'recv'): types.Transport {
  const transport = direction === 'send' ? sendTransport : recvTransport;
  if (!transport) throw new Error(`no ${direction} transport`);
  return transport;
}

async function restartIce(direction: 'send' | 'recv'): Promise<string> {
  const transport = transportOf(direction);
  const iceParameters = await signal<types.IceParameters>('restartIce', { transportId: transport.id });
  await transport.restartIce({ iceParameters });
  return transport.id;
}

/**
 * The ICE username fragment of the remote candidate on the selected pair
 * of a transport, as the browser's stats give it: which credentials the
 * connection runs on.
 */
async function selectedRemoteUfrag(
  direction: 'send' | 'recv',
): Promise<{ transportId: string; pairId: string | null; ufrag: string | null }> {
  const transport = transportOf(direction);
  const report = await transport.getStats();
  const entries = [...report.values()] as Record<string, unknown>[];
  const byId = new Map(entries.map((e) => [e.id as string, e]));
  const pairId = (entries.find((e) => e.type === 'transport')?.selectedCandidatePairId as string | undefined) ?? null;
  const pair = pairId ? byId.get(pairId) : undefined;
  const remote = pair ? byId.get(pair.remoteCandidateId as string) : undefined;
  return { transportId: transport.id, pairId, ufrag: (remote?.usernameFragment as string | undefined) ?? null };
}

window.e2e = {
  join,
  consume,
  resumeConsumer,
  pauseConsumer,
  consumerClosed,
  closeProducer,
  produce,
  stats,
  firstFrameDelays,
  transportStates: getTransportStates,
  produceData,
  sendData,
  consumeData,
  dataChannelStates,
  dataMessages,
  restartIce,
  selectedRemoteUfrag,
  leave,
};
