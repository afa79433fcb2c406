import * as mediasoup from '../lib';
import { InvalidStateError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }];
const listenInfos: types.TransportListenInfo[] = [
  { protocol: 'udp', ip: '127.0.0.1' },
  { protocol: 'tcp', ip: '127.0.0.1' },
];

describe('WebRtcServer', () => {
  let worker: types.Worker;
  let router: types.Router;

  beforeEach(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    router = await worker.createRouter({ mediaCodecs });
  });

  afterEach(() => worker.close());

  test('createWebRtcServer() checks its options', async () => {
    await expect(worker.createWebRtcServer({ listenInfos: [] })).rejects.toThrow(TypeError);
    await expect(worker.createWebRtcServer({} as types.WebRtcServerOptions)).rejects.toThrow(TypeError);
    await expect(worker.createWebRtcServer({ listenInfos: [{ protocol: 'udp', ip: 'nope' }] })).rejects.toThrow(TypeError);
  });

  test('transports share its sockets, told apart by ICE ufrag; dump and observer follow them', async () => {
    const onNew = jest.fn();
    worker.observer.on('newwebrtcserver', onNew);
    const server = await worker.createWebRtcServer({ listenInfos, appData: { name: 'edge' } });
    expect(onNew).toHaveBeenCalledWith(server);
    expect((await worker.dump()).webRtcServerIds).toEqual([server.id]);
    expect(server.appData).toEqual({ name: 'edge' });
    const handled = jest.fn();
    const unhandled = jest.fn();
    server.observer.on('webrtctransporthandled', handled);
    server.observer.on('webrtctransportunhandled', unhandled);

    const a = await router.createWebRtcTransport({ webRtcServer: server, enableTcp: true });
    const b = await router.createWebRtcTransport({ webRtcServer: server, enableUdp: false, enableTcp: true });
    const c = await router.createWebRtcTransport({ webRtcServer: server, enableTcp: true, preferTcp: true });
    expect(handled).toHaveBeenCalledTimes(3);

    const dump = await server.dump();
    expect(dump.id).toBe(server.id);
    expect(dump.udpSockets).toEqual([{ ip: '127.0.0.1', port: expect.any(Number) }]);
    expect(dump.tcpServers).toEqual([{ ip: '127.0.0.1', port: expect.any(Number) }]);
    expect(new Set(dump.webRtcTransportIds)).toEqual(new Set([a.id, b.id, c.id]));
    expect(dump.localIceUsernameFragments).toEqual(
      expect.arrayContaining([{ localIceUsernameFragment: a.iceParameters.usernameFragment, webRtcTransportId: a.id }]),
    );
    const udpPort = dump.udpSockets[0].port;
    const tcpPort = dump.tcpServers[0].port;
    // enableUdp / enableTcp / preferTcp pick and order the server's sockets.
    expect(a.iceCandidates.map((x) => [x.protocol, x.port])).toEqual([
      ['udp', udpPort],
      ['tcp', tcpPort],
    ]);
    expect(b.iceCandidates.map((x) => [x.protocol, x.port])).toEqual([['tcp', tcpPort]]);
    expect(c.iceCandidates.map((x) => x.protocol)).toEqual(['tcp', 'udp']);
    expect(new Set([a, b, c].map((t) => t.iceParameters.usernameFragment)).size).toBe(3);

    // A closed transport leaves the server; an ICE restart changes its ufrag there.
    a.close();
    expect(unhandled).toHaveBeenCalledWith(a);
    const { usernameFragment } = await b.restartIce();
    const after = await server.dump();
    expect(after.webRtcTransportIds).not.toContain(a.id);
    expect(after.localIceUsernameFragments).toEqual(
      expect.arrayContaining([{ localIceUsernameFragment: usernameFragment, webRtcTransportId: b.id }]),
    );
    expect(after.localIceUsernameFragments).toHaveLength(2);
  });

  test('closing it closes its transports (listenserverclose); a closed server takes no transport', async () => {
    const server = await worker.createWebRtcServer({ listenInfos });
    const transport = await router.createWebRtcTransport({ webRtcServer: server });
    const onListenServerClose = jest.fn();
    const onObserverClose = jest.fn();
    transport.on('listenserverclose', onListenServerClose);
    server.observer.on('close', onObserverClose);
    server.close();
    expect(server.closed).toBe(true);
    expect(transport.closed).toBe(true);
    expect(onListenServerClose).toHaveBeenCalledTimes(1);
    expect(onObserverClose).toHaveBeenCalledTimes(1);
    await expect(router.createWebRtcTransport({ webRtcServer: server })).rejects.toThrow(InvalidStateError);
    // The worker forgot it too: the same sockets' ports are free for a new server.
    await expect(router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] })).resolves.toBeDefined();
  });

  test('a worker closing closes its servers (workerclose)', async () => {
    const server = await worker.createWebRtcServer({ listenInfos });
    const transport = await router.createWebRtcTransport({ webRtcServer: server });
    const onWorkerClose = jest.fn();
    const onRouterClose = jest.fn();
    const onListenServerClose = jest.fn();
    server.on('workerclose', onWorkerClose);
    transport.on('routerclose', onRouterClose);
    transport.on('listenserverclose', onListenServerClose);
    worker.close();
    expect(server.closed).toBe(true);
    expect(onWorkerClose).toHaveBeenCalledTimes(1);
    // Its transports close with their routers.
    expect(transport.closed).toBe(true);
    expect(onRouterClose).toHaveBeenCalledTimes(1);
    expect(onListenServerClose).not.toHaveBeenCalled();
  });

  test('webRtcServer and listenInfos together are a TypeError', async () => {
    const server = await worker.createWebRtcServer({ listenInfos });
    await expect(
      router.createWebRtcTransport({
        webRtcServer: server,
        listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }],
      } as unknown as types.WebRtcTransportOptions),
    ).rejects.toThrow(TypeError);
    await expect(router.createWebRtcTransport({ webRtcServer: server, enableUdp: false, enableTcp: false })).rejects.toThrow(
      TypeError,
    );
  });
});
