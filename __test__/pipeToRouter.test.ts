// PipeTransport and router.pipeToRouter() through real workers and loopback
// UDP: shapes and checks as mediasoup's, the transport pair made once per
// pair of routers, and the pipe producer following the original. Media
// through a pipe, with browsers, is in e2e/pipeToRouter.test.ts.
import * as mediasoup from '../lib';
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };

let workers: types.Worker[];
let routerA: types.Router;
let routerB: types.Router;

beforeAll(async () => {
  workers = await Promise.all([0, 1].map(() => mediasoup.createWorker({ logLevel: 'warn' })));
});

afterAll(() => workers.forEach((w) => w.close()));

beforeEach(async () => {
  [routerA, routerB] = await Promise.all(workers.map((w) => w.createRouter({ mediaCodecs })));
});

afterEach(() => {
  routerA.close();
  routerB.close();
});

/** A simulcast VP8 producer (two SSRCs) on a plain transport of routerA. */
async function simulcastProducer(): Promise<types.Producer> {
  const transport = await routerA.createPlainTransport({ listenInfo: udp, comedia: true });
  return transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }],
      encodings: [{ ssrc: 1111 }, { ssrc: 2222 }],
    },
    appData: { who: 'alice' },
  });
}

describe('PipeTransport', () => {
  test('has mediasoup shapes; its consumers are pipe consumers', async () => {
    const pipe = await routerA.createPipeTransport({ listenInfo: udp });
    expect(pipe.type).toBe('pipe');
    expect(pipe.tuple).toMatchObject({ localAddress: '127.0.0.1', protocol: 'udp' });
    await expect(pipe.connect({ ip: '127.0.0.1', port: 0 })).rejects.toThrow(TypeError);
    await pipe.connect({ ip: '127.0.0.1', port: 40000 });
    expect(pipe.tuple).toMatchObject({ remoteIp: '127.0.0.1', remotePort: 40000 });
    await expect(pipe.dump()).resolves.toMatchObject({ id: pipe.id, rtx: false });
    await expect(pipe.getStats()).resolves.toEqual([expect.objectContaining({ type: 'pipe-transport' })]);
    await expect(routerA.createPipeTransport({ listenInfo: udp, enableSctp: true })).rejects.toThrow(UnsupportedError);

    const producer = await simulcastProducer();
    // No rtpCapabilities needed: every encoding goes as it is.
    const consumer = await pipe.consume({ producerId: producer.id });
    expect(consumer.type).toBe('pipe');
    const encodings = consumer.rtpParameters.encodings!;
    expect(encodings).toHaveLength(2);
    expect(encodings[1].ssrc).toBe(encodings[0].ssrc! + 1);
    expect(consumer.rtpParameters.codecs.map((c) => c.mimeType)).toEqual(['video/VP8']);
  });
});

describe('pipeToRouter()', () => {
  test('checks its options as mediasoup does', async () => {
    const producer = await simulcastProducer();
    await expect(routerA.pipeToRouter({ router: routerB } as any)).rejects.toThrow(TypeError);
    await expect(routerA.pipeToRouter({ producerId: producer.id, router: routerA })).rejects.toThrow(TypeError);
    await expect(routerA.pipeToRouter({ producerId: 'nope', router: routerB })).rejects.toThrow(TypeError);
    await expect(
      routerA.pipeToRouter({ producerId: producer.id, dataProducerId: 'x', router: routerB }),
    ).rejects.toThrow(TypeError);
    // Two routers of one worker: a producer id is the worker's, so keepId cannot hold.
    const sibling = await workers[0].createRouter({ mediaCodecs });
    await expect(routerA.pipeToRouter({ producerId: producer.id, router: sibling })).rejects.toThrow(UnsupportedError);
    const { pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: sibling, keepId: false });
    expect(pipeProducer?.id).not.toBe(producer.id);
    sibling.close();
  });

  test('makes the producer consumable on the other router, with the same id, layers and appData', async () => {
    const producer = await simulcastProducer();
    const { pipeConsumer, pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: routerB });
    expect(pipeConsumer).toMatchObject({ type: 'pipe', producerId: producer.id, kind: 'video' });
    expect(pipeProducer).toMatchObject({ id: producer.id, kind: 'video', type: 'simulcast', appData: { who: 'alice' } });
    expect(routerB.canConsume({ producerId: producer.id, rtpCapabilities: routerB.rtpCapabilities })).toBe(true);

    // One pair of pipe transports per pair of routers, whichever way.
    const second = await simulcastProducer();
    await routerA.pipeToRouter({ producerId: second.id, router: routerB });
    const pipesOf = async (r: types.Router): Promise<number> => (await r.dump()).transportIds.length;
    expect(await pipesOf(routerB)).toBe(1);
    expect(await pipesOf(routerA)).toBe(3); // two plain transports, one pipe
    // The other way round, over the same pair.
    const onB = await routerB.createPlainTransport({ listenInfo: udp, comedia: true });
    const third = await onB.produce({
      kind: 'audio',
      rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 3333 }] },
    });
    await routerB.pipeToRouter({ producerId: third.id, router: routerA });
    expect(await pipesOf(routerA)).toBe(3);
    expect(await pipesOf(routerB)).toBe(2); // the pipe, and onB
  });

  test('the pipe producer follows the original: paused, resumed, closed', async () => {
    const producer = await simulcastProducer();
    const { pipeConsumer, pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: routerB });
    const until = async (ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(ok()).toBe(true);
    };
    await producer.pause();
    await until(() => pipeProducer!.paused);
    await producer.resume();
    await until(() => !pipeProducer!.paused);
    producer.close();
    await until(() => pipeProducer!.closed);
    expect(pipeConsumer!.closed).toBe(true);
    await expect(pipeProducer!.getStats()).rejects.toThrow(InvalidStateError);
  });

  test('piping to a closed router fails and leaves nothing behind', async () => {
    const producer = await simulcastProducer();
    routerB.close();
    await expect(routerA.pipeToRouter({ producerId: producer.id, router: routerB })).rejects.toThrow();
    await expect(routerA.dump()).resolves.toMatchObject({ transportIds: [expect.any(String)] });
    // A new router pipes fine afterwards.
    routerB = await workers[1].createRouter({ mediaCodecs });
    const { pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: routerB });
    expect(pipeProducer?.id).toBe(producer.id);
  });

  test('pipes a data producer: messages, pause and close reach the other router', async () => {
    const source = await routerA.createDirectTransport();
    const original = await source.produceData({ label: 'chat', protocol: 'json', appData: { room: 1 } });
    const { pipeDataConsumer, pipeDataProducer } = await routerA.pipeToRouter({
      dataProducerId: original.id,
      router: routerB,
    });
    expect(pipeDataConsumer?.dataProducerId).toBe(original.id);
    expect(pipeDataProducer).toMatchObject({ id: original.id, label: 'chat', protocol: 'json', appData: { room: 1 } });

    const sink = await routerB.createDirectTransport();
    const far = await sink.consumeData({ dataProducerId: original.id });
    const heard: [string, number][] = [];
    far.on('message', (m, ppid) => heard.push([m.toString(), ppid]));
    original.send('over the pipe');
    original.send(Buffer.from([1, 2]));
    const until = async (ok: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
      if (!ok()) throw new Error(`timed out waiting for ${what}`);
    };
    await until(() => heard.length === 2, 'two piped messages');
    expect(heard).toEqual([
      ['over the pipe', 51],
      ['\u0001\u0002', 53],
    ]);
    await original.pause();
    await until(() => pipeDataProducer!.paused, 'the piped data producer paused');
    original.send('while paused');
    await original.dump();
    await sink.dump();
    await original.resume();
    await until(() => !pipeDataProducer!.paused, 'the piped data producer resumed');
    original.send('after resume');
    await until(() => heard.length === 3, 'the message after resume');
    expect(heard[2][0]).toBe('after resume');
    const closed = new Promise<void>((resolve) => far.on('dataproducerclose', () => resolve()));
    original.close();
    await closed;
    expect(pipeDataProducer!.closed).toBe(true);
    // The DirectTransports that carried it are gone too.
    await expect(routerA.dump()).resolves.toMatchObject({ transportIds: [source.id] });
    await expect(routerB.dump()).resolves.toMatchObject({ transportIds: [sink.id] });
  });

  test('closing a router closes the pipe transports of both ends', async () => {
    const producer = await simulcastProducer();
    const { pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: routerB });
    const closed = new Promise<void>((resolve) => pipeProducer!.observer.on('close', () => resolve()));
    routerA.close();
    await closed;
    // Its pipe consumer went with routerA, and the pipe transport of routerB too.
    await expect(routerB.dump()).resolves.toMatchObject({ transportIds: [], mapProducerIdConsumerIds: [] });
  });
});
