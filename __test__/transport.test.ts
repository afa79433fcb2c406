import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as mediasoup from '../lib';
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

const remoteDtlsParameters: types.DtlsParameters = {
  role: 'client',
  fingerprints: [
    {
      algorithm: 'sha-256',
      value:
        '82:5A:68:3D:36:C3:0A:DE:AF:E7:32:43:D2:88:83:57:AC:2D:65:E5:80:C4:B6:FB:AF:1A:A0:21:9F:6D:0C:AD',
    },
  ],
};

/** A UDP port that was free a moment ago. */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Whether binding this UDP port on 127.0.0.1 fails because someone holds it. */
async function udpPortTaken(port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.close();
      resolve(error.code === 'EADDRINUSE');
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(false)));
  });
}

async function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}


describe('WebRtcTransport', () => {
  let worker: types.Worker;
  let router: types.Router;

  beforeEach(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    router = await worker.createRouter({ mediaCodecs });
  });

  afterEach(() => worker.close());

  test('createWebRtcTransport() with listenInfos: shape, real sockets, observer', async () => {
    const onNewTransport = jest.fn();
    router.observer.once('newtransport', onNewTransport);
    const transport = await router.createWebRtcTransport<{ peer: string }>({
      listenInfos: [
        { protocol: 'udp', ip: '127.0.0.1', announcedAddress: '9.9.9.1' },
        { protocol: 'tcp', ip: '127.0.0.1', announcedAddress: '9.9.9.1' },
        { protocol: 'udp', ip: '127.0.0.1' },
        { protocol: 'tcp', ip: '127.0.0.1' },
      ],
      enableSctp: true,
      numSctpStreams: { OS: 2048, MIS: 2048 },
      maxSctpMessageSize: 1000000,
      appData: { peer: 'alice' },
    });

    expect(onNewTransport).toHaveBeenCalledTimes(1);
    expect(onNewTransport).toHaveBeenCalledWith(transport);
    expect(typeof transport.id).toBe('string');
    expect(transport.type).toBe('webrtc');
    expect(transport.closed).toBe(false);
    expect(transport.appData).toEqual({ peer: 'alice' });
    expect(transport.iceRole).toBe('controlled');
    expect(transport.iceParameters.iceLite).toBe(true);
    expect(typeof transport.iceParameters.usernameFragment).toBe('string');
    expect(transport.iceParameters.usernameFragment.length).toBeGreaterThanOrEqual(4);
    expect(typeof transport.iceParameters.password).toBe('string');
    expect(transport.iceParameters.password.length).toBeGreaterThanOrEqual(22);

    const candidates = transport.iceCandidates;
    expect(candidates).toHaveLength(4);
    expect(candidates.map((c) => [c.address, c.protocol])).toEqual([
      ['9.9.9.1', 'udp'],
      ['9.9.9.1', 'tcp'],
      ['127.0.0.1', 'udp'],
      ['127.0.0.1', 'tcp'],
    ]);
    for (const candidate of candidates) {
      expect(candidate.ip).toBe(candidate.address);
      expect(candidate.type).toBe('host');
      expect(typeof candidate.foundation).toBe('string');
      expect(Number.isInteger(candidate.port)).toBe(true);
      expect(candidate.port).toBeGreaterThan(0);
      expect(candidate.tcpType).toBe(candidate.protocol === 'tcp' ? 'passive' : undefined);
    }
    // The ports are real sockets on loopback.
    expect(await udpPortTaken(candidates[2].port)).toBe(true);
    expect(await tcpAccepts(candidates[3].port)).toBe(true);

    expect(transport.iceState).toBe('new');
    expect(transport.iceSelectedTuple).toBeUndefined();
    expect(transport.dtlsParameters.role).toBe('auto');
    expect(transport.dtlsParameters.fingerprints.length).toBeGreaterThan(0);
    const sha256 = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256');
    expect(sha256?.value).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(transport.dtlsState).toBe('new');
    expect(transport.dtlsRemoteCert).toBeUndefined();
    expect(transport.sctpParameters).toMatchObject({ port: 5000, OS: 2048, MIS: 2048, maxMessageSize: 1000000 });
    expect(transport.sctpState).toBe('new');

    expect((await router.dump()).transportIds).toEqual([transport.id]);

    const dump = await transport.dump();
    expect(dump.id).toBe(transport.id);
    expect(dump.producerIds).toEqual([]);
    expect(dump.consumerIds).toEqual([]);
    expect(dump.iceRole).toBe('controlled');
    expect(dump.iceParameters).toEqual(transport.iceParameters);
    expect(dump.iceCandidates).toEqual(transport.iceCandidates);
    expect(dump.iceState).toBe('new');
    expect(dump.dtlsParameters).toEqual(transport.dtlsParameters);
    expect(dump.dtlsState).toBe('new');
    expect(typeof dump.recvRtpHeaderExtensions).toBe('object');
    expect(typeof dump.rtpListener).toBe('object');
  });

  test('createWebRtcTransport() without SCTP has no sctpParameters nor sctpState', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    expect(transport.sctpParameters).toBeUndefined();
    expect(transport.sctpState).toBeUndefined();
    expect(transport.appData).toEqual({});
  });

  test('createWebRtcTransport() with deprecated listenIps orders protocols as mediasoup', async () => {
    const udpOnly = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
    expect(udpOnly.iceCandidates.map((c) => c.protocol)).toEqual(['udp']);

    const both = await router.createWebRtcTransport({
      listenIps: [{ ip: '127.0.0.1', announcedIp: '9.9.9.2' }],
      enableTcp: true,
    });
    expect(both.iceCandidates.map((c) => [c.protocol, c.address])).toEqual([
      ['udp', '9.9.9.2'],
      ['tcp', '9.9.9.2'],
    ]);
    expect(both.iceCandidates[0].priority).toBeGreaterThan(both.iceCandidates[1].priority);

    const tcpFirst = await router.createWebRtcTransport({
      listenIps: ['127.0.0.1'],
      enableTcp: true,
      preferTcp: true,
    });
    expect(tcpFirst.iceCandidates.map((c) => c.protocol)).toEqual(['tcp', 'udp']);

    const tcpOnly = await router.createWebRtcTransport({
      listenIps: ['127.0.0.1'],
      enableUdp: false,
      enableTcp: true,
    });
    expect(tcpOnly.iceCandidates.map((c) => c.protocol)).toEqual(['tcp']);
  });

  test('createWebRtcTransport() with a fixed port listens on it', async () => {
    const port = await freeUdpPort();
    const transport = await router.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', port }],
    });
    expect(transport.iceCandidates[0].port).toBe(port);
    expect(await udpPortTaken(port)).toBe(true);
    transport.close();
  });

  test('createWebRtcTransport() with a portRange stays inside it and fails when it is full', async () => {
    const min = await freeUdpPort();
    const portRange = { min, max: min };
    const transport = await router.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', portRange }],
    });
    expect(transport.iceCandidates[0].port).toBe(min);
    await expect(
      router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', portRange }] }),
    ).rejects.toThrow(Error);
  });

  test('createWebRtcTransport() on an address that is not local rejects with Error', async () => {
    await expect(
      router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '8.8.8.8' }] }),
    ).rejects.toThrow(Error);
  });

  test('createWebRtcTransport() with wrong arguments rejects with TypeError', async () => {
    const bad: unknown[] = [
      {},
      { listenInfos: '127.0.0.1' },
      { listenIps: '127.0.0.1' },
      { listenIps: [123] },
      { listenIps: [{ announcedIp: '1.2.3.4' }] },
      { listenIps: ['127.0.0.1'], listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] },
      { listenInfos: [{ protocol: 'sctp', ip: '127.0.0.1' }] },
      { listenInfos: [{ protocol: 'udp' }] },
      { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', port: 70000 }] },
      { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', port: 'foo' }] },
      { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', portRange: { min: 4000, max: 3000 } }] },
      { listenInfos: [] },
      { listenIps: ['127.0.0.1'], port: -1 },
      { listenIps: ['127.0.0.1'], enableUdp: false },
      { listenIps: ['127.0.0.1'], appData: 'NOT-AN-OBJECT' },
      { listenIps: ['127.0.0.1'], appData: [] },
      { listenIps: ['127.0.0.1'], enableSctp: true, numSctpStreams: 'foo' },
      { listenIps: ['127.0.0.1'], numSctpStreams: { OS: 1 } },
      { listenIps: ['127.0.0.1'], initialAvailableOutgoingBitrate: -5 },
    ];
    for (const options of bad) {
      await expect(router.createWebRtcTransport(options as any)).rejects.toThrow(TypeError);
    }
    expect((await router.dump()).transportIds).toEqual([]);
  });

  test('createWebRtcTransport() with something that is not a WebRtcServer rejects with TypeError', async () => {
    await expect(router.createWebRtcTransport({ webRtcServer: {} as any })).rejects.toThrow(TypeError);
  });

  test('createWebRtcTransport() on a closed router rejects with InvalidStateError', async () => {
    router.close();
    await expect(router.createWebRtcTransport({ listenIps: ['127.0.0.1'] })).rejects.toThrow(InvalidStateError);
  });

  test('getStats() returns one webrtc-transport entry with zero counters', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    const stats = await transport.getStats();
    expect(Array.isArray(stats)).toBe(true);
    expect(stats).toHaveLength(1);
    const [stat] = stats;
    expect(stat.type).toBe('webrtc-transport');
    expect(stat.transportId).toBe(transport.id);
    expect(typeof stat.timestamp).toBe('number');
    expect(stat.iceRole).toBe('controlled');
    expect(stat.iceState).toBe('new');
    expect(stat.dtlsState).toBe('new');
    expect(stat.iceSelectedTuple).toBeUndefined();
    expect(stat.sctpState).toBeUndefined();
    for (const counter of [
      'bytesReceived',
      'recvBitrate',
      'bytesSent',
      'sendBitrate',
      'rtpBytesReceived',
      'rtpRecvBitrate',
      'rtpBytesSent',
      'rtpSendBitrate',
      'rtxBytesReceived',
      'rtxRecvBitrate',
      'rtxBytesSent',
      'rtxSendBitrate',
      'probationBytesSent',
      'probationSendBitrate',
    ] as const) {
      expect(stat[counter]).toBe(0);
    }
  });

  test('connect() takes the opposite DTLS role once, and rejects a second time', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    await expect(transport.connect({ dtlsParameters: remoteDtlsParameters })).resolves.toBeUndefined();
    expect(transport.dtlsParameters.role).toBe('server');
    await expect(transport.connect({ dtlsParameters: remoteDtlsParameters })).rejects.toThrow(Error);
    expect(transport.dtlsParameters.role).toBe('server');
  });

  test('connect() with wrong arguments rejects with TypeError and keeps role auto', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    const fingerprint = remoteDtlsParameters.fingerprints[0];
    const bad: unknown[] = [
      undefined,
      {},
      { dtlsParameters: 'foo' },
      { dtlsParameters: { role: 'client', fingerprints: [] } },
      { dtlsParameters: { role: 'client' } },
      { dtlsParameters: { role: 'chicken', fingerprints: [fingerprint] } },
      { dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256000', value: fingerprint.value }] } },
      { dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256' }] } },
    ];
    for (const params of bad) {
      await expect(transport.connect(params as any)).rejects.toThrow(TypeError);
    }
    expect(transport.dtlsParameters.role).toBe('auto');
  });

  test('ICE candidate priority follows the listenInfos order, not the protocol', async () => {
    const transport = await router.createWebRtcTransport({
      listenInfos: [
        { protocol: 'tcp', ip: '127.0.0.1' },
        { protocol: 'udp', ip: '127.0.0.1' },
      ],
    });
    const [first, second] = transport.iceCandidates;
    expect(first.protocol).toBe('tcp');
    expect(first.priority).toBeGreaterThan(second.priority);
  });

  test('an outgoing bitrate minimum above the maximum (or the reverse) rejects', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    await transport.setMaxOutgoingBitrate(2000000);
    await expect(transport.setMinOutgoingBitrate(3000000)).rejects.toThrow(Error);
    await transport.setMaxOutgoingBitrate(0);
    await transport.setMinOutgoingBitrate(3000000);
    await expect(transport.setMaxOutgoingBitrate(2000000)).rejects.toThrow(Error);
  });

  test('bitrate limits are accepted', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    await expect(transport.setMaxIncomingBitrate(1000000)).resolves.toBeUndefined();
    await expect(transport.setMaxIncomingBitrate(0)).resolves.toBeUndefined();
    await expect(transport.setMaxOutgoingBitrate(2000000)).resolves.toBeUndefined();
    await expect(transport.setMaxOutgoingBitrate(0)).resolves.toBeUndefined();
    await expect(transport.setMinOutgoingBitrate(100000)).resolves.toBeUndefined();
    await expect(transport.setMinOutgoingBitrate(0)).resolves.toBeUndefined();
    await expect(transport.setMaxIncomingBitrate('fast' as any)).rejects.toThrow(TypeError);
    await expect(transport.setMaxOutgoingBitrate(-1)).rejects.toThrow(TypeError);
  });

  test('restartIce() hands out new ICE credentials', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    const before = { ...transport.iceParameters };
    const after = await transport.restartIce();
    expect(after).toMatchObject({ usernameFragment: expect.any(String), password: expect.any(String), iceLite: true });
    expect(after.usernameFragment).not.toBe(before.usernameFragment);
    expect(after.password).not.toBe(before.password);
    expect(transport.iceParameters).toEqual(after);
    expect((await transport.dump()).iceParameters).toEqual(after);
  });

  test('enableTraceEvent() keeps the known types', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    await transport.enableTraceEvent(['foo', 'probation'] as any);
    await expect(transport.dump()).resolves.toMatchObject({ traceEventTypes: ['probation'] });
    await transport.enableTraceEvent();
    await expect(transport.dump()).resolves.toMatchObject({ traceEventTypes: [] });
  });

  test('enableTraceEvent() checks its argument', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    await expect(transport.enableTraceEvent(123 as any)).rejects.toThrow(TypeError);
    await expect(transport.enableTraceEvent('probation' as any)).rejects.toThrow(TypeError);
    await expect(transport.enableTraceEvent(['probation', 123.123] as any)).rejects.toThrow(TypeError);
  });

  test('worker events update the state and fire once on the transport and its observer', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    // What the worker thread delivers, injected where the channel delivers it.
    const channel = (transport as any).channelForTesting;
    const tuple: types.TransportTuple = {
      localIp: '127.0.0.1',
      localAddress: '127.0.0.1',
      localPort: transport.iceCandidates[0].port,
      remoteIp: '127.0.0.1',
      remotePort: 50000,
      protocol: 'udp',
    };
    const onIce = jest.fn();
    const onObserverIce = jest.fn();
    const onTuple = jest.fn();
    const onDtls = jest.fn();
    const onObserverDtls = jest.fn();
    transport.on('icestatechange', onIce);
    transport.observer.on('icestatechange', onObserverIce);
    transport.on('iceselectedtuplechange', onTuple);
    transport.on('dtlsstatechange', onDtls);
    transport.observer.on('dtlsstatechange', onObserverDtls);

    channel.emit(transport.id, 'icestatechange', { iceState: 'connected' });
    channel.emit(transport.id, 'iceselectedtuplechange', { iceSelectedTuple: tuple });
    channel.emit(transport.id, 'dtlsstatechange', { dtlsState: 'connecting' });
    channel.emit(transport.id, 'dtlsstatechange', { dtlsState: 'connected', dtlsRemoteCert: 'PEM' });

    expect(onIce.mock.calls).toEqual([['connected']]);
    expect(onObserverIce.mock.calls).toEqual([['connected']]);
    expect(transport.iceState).toBe('connected');
    expect(onTuple.mock.calls).toEqual([[tuple]]);
    expect(transport.iceSelectedTuple).toEqual(tuple);
    expect(onDtls.mock.calls).toEqual([['connecting'], ['connected']]);
    expect(onObserverDtls).toHaveBeenCalledTimes(2);
    expect(transport.dtlsState).toBe('connected');
    expect(transport.dtlsRemoteCert).toBe('PEM');

    // A throwing user listener does not break the transport.
    transport.once('icestatechange', () => {
      throw new Error('user bug');
    });
    channel.emit(transport.id, 'icestatechange', { iceState: 'disconnected' });
    expect(transport.iceState).toBe('disconnected');
  });

  test('close() closes once, resets the state and makes methods reject', async () => {
    const transport = await router.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }],
      enableSctp: true,
    });
    const port = transport.iceCandidates[0].port;
    const onObserverClose = jest.fn();
    const onRouterClose = jest.fn();
    transport.observer.on('close', onObserverClose);
    transport.on('routerclose', onRouterClose);
    transport.close();
    transport.close();

    expect(onObserverClose).toHaveBeenCalledTimes(1);
    expect(onRouterClose).not.toHaveBeenCalled();
    expect(transport.closed).toBe(true);
    expect(transport.iceState).toBe('closed');
    expect(transport.iceSelectedTuple).toBeUndefined();
    expect(transport.dtlsState).toBe('closed');
    expect(transport.sctpState).toBe('closed');

    await expect(transport.dump()).rejects.toThrow(InvalidStateError);
    await expect(transport.getStats()).rejects.toThrow(InvalidStateError);
    await expect(transport.connect({ dtlsParameters: remoteDtlsParameters })).rejects.toThrow(InvalidStateError);
    await expect(transport.restartIce()).rejects.toThrow(InvalidStateError);
    await expect(transport.setMaxIncomingBitrate(200000)).rejects.toThrow(InvalidStateError);
    await expect(transport.setMaxOutgoingBitrate(200000)).rejects.toThrow(InvalidStateError);
    await expect(transport.setMinOutgoingBitrate(100000)).rejects.toThrow(InvalidStateError);
    await expect(transport.produce({ kind: 'audio', rtpParameters: { codecs: [] } })).rejects.toThrow(
      InvalidStateError,
    );

    expect((await router.dump()).transportIds).toEqual([]);
    // The worker released the socket.
    expect(await udpPortTaken(port)).toBe(false);
  });

  test('router.close() emits routerclose once and closes the transport', async () => {
    const transport = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'], enableSctp: true });
    const onRouterClose = jest.fn();
    const onObserverClose = jest.fn();
    transport.on('routerclose', onRouterClose);
    transport.observer.on('close', onObserverClose);
    router.close();
    expect(onRouterClose).toHaveBeenCalledTimes(1);
    expect(onObserverClose).toHaveBeenCalledTimes(1);
    expect(transport.closed).toBe(true);
    expect(transport.iceState).toBe('closed');
    expect(transport.dtlsState).toBe('closed');
    expect(transport.sctpState).toBe('closed');
    transport.close();
    expect(onObserverClose).toHaveBeenCalledTimes(1);
  });

  test('worker.close() emits routerclose on the transport', async () => {
    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    const onRouterClose = jest.fn();
    const onObserverClose = jest.fn();
    transport.on('routerclose', onRouterClose);
    transport.observer.on('close', onObserverClose);
    worker.close();
    expect(onRouterClose).toHaveBeenCalledTimes(1);
    expect(onObserverClose).toHaveBeenCalledTimes(1);
    expect(transport.closed).toBe(true);
    expect(transport.sctpState).toBeUndefined();
  });

  test('appData can be replaced', async () => {
    const transport = await router.createWebRtcTransport<{ n?: number }>({
      listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }],
    });
    transport.appData = { n: 1 };
    expect(transport.appData).toEqual({ n: 1 });
  });
});
