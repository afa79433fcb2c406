// DataProducer / DataConsumer API, as mediasoup's: creation checks, dumps,
// stats, pause and resume, subchannels, and the close cascades. Messages
// travel through a real worker (DirectTransport); the browser side is in
// e2e/dataChannels.test.ts.
import * as mediasoup from '../lib';
import { InvalidStateError } from '../lib/errors';
import type { types } from '../lib';

const udp = { listenInfos: [{ protocol: 'udp' as const, ip: '127.0.0.1' }] };

let worker: types.Worker;
let router: types.Router;

beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'warn' });
});

afterAll(() => worker.close());

beforeEach(async () => {
  router = await worker.createRouter({ mediaCodecs: [] });
});

afterEach(() => router.close());

/** Collects a data consumer's messages as [text, ppid]. */
function listen(dataConsumer: types.DataConsumer): [string, number][] {
  const heard: [string, number][] = [];
  dataConsumer.on('message', (message, ppid) => heard.push([message.toString(), ppid]));
  return heard;
}

/** Waits until the worker has delivered what was sent before (events come in order). */
async function settled(dataProducer: types.DataProducer, messages: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [stat] = await dataProducer.getStats();
    if (stat.messagesReceived >= messages) {
      // A round trip to the worker after the count: the events it emitted before are in.
      await dataProducer.dump();
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the data producer never counted ${messages} messages`);
}

describe('SCTP data producers and consumers', () => {
  test('produceData() needs sctpStreamParameters and an SCTP-enabled transport', async () => {
    const plain = await router.createWebRtcTransport(udp);
    await expect(plain.produceData({ sctpStreamParameters: { streamId: 1 } })).rejects.toThrow(InvalidStateError);
    const transport = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    await expect(transport.produceData({})).rejects.toThrow(TypeError);
    await expect(transport.produceData({ sctpStreamParameters: { streamId: -1 } })).rejects.toThrow(TypeError);
    await expect(
      transport.produceData({ sctpStreamParameters: { streamId: 1, maxPacketLifeTime: 10, maxRetransmits: 2 } }),
    ).rejects.toThrow(TypeError);
    await expect(transport.produceData({ sctpStreamParameters: { streamId: 1 }, label: 3 as any })).rejects.toThrow(
      TypeError,
    );
  });

  test('a data producer and its consumer have mediasoup shapes, dumps and router maps', async () => {
    const transport = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    expect(transport.sctpState).toBe('new');
    expect(transport.sctpParameters).toMatchObject({ port: 5000, OS: 1024, MIS: 1024, maxMessageSize: 262144 });
    const onNew = jest.fn();
    transport.observer.on('newdataproducer', onNew);
    const dataProducer = await transport.produceData({
      sctpStreamParameters: { streamId: 12345, ordered: false, maxPacketLifeTime: 5000 },
      label: 'foo',
      protocol: 'bar',
      appData: { foo: 1 },
    });
    expect(onNew).toHaveBeenCalledWith(dataProducer);
    expect(dataProducer).toMatchObject({
      type: 'sctp',
      label: 'foo',
      protocol: 'bar',
      paused: false,
      closed: false,
      appData: { foo: 1 },
      sctpStreamParameters: { streamId: 12345, ordered: false, maxPacketLifeTime: 5000 },
    });
    await expect(dataProducer.dump()).resolves.toEqual({
      id: dataProducer.id,
      type: 'sctp',
      label: 'foo',
      protocol: 'bar',
      paused: false,
      sctpStreamParameters: { streamId: 12345, ordered: false, maxPacketLifeTime: 5000 },
    });
    // The same id twice is a TypeError, before the worker is asked.
    await expect(
      transport.produceData({ id: dataProducer.id, sctpStreamParameters: { streamId: 7 } }),
    ).rejects.toThrow(TypeError);
    // So is a stream the transport already uses.
    await expect(transport.produceData({ sctpStreamParameters: { streamId: 12345 } })).rejects.toThrow(TypeError);

    const other = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    const dataConsumer = await other.consumeData({ dataProducerId: dataProducer.id, maxRetransmits: 3 });
    expect(dataConsumer).toMatchObject({
      dataProducerId: dataProducer.id,
      type: 'sctp',
      label: 'foo',
      protocol: 'bar',
      paused: false,
      dataProducerPaused: false,
      subchannels: [],
      // The server picks the stream; the call overrides the producer's reliability.
      sctpStreamParameters: { streamId: 0, ordered: false, maxRetransmits: 3 },
    });
    const second = await other.consumeData({ dataProducerId: dataProducer.id });
    expect(second.sctpStreamParameters).toEqual({ streamId: 1, ordered: false, maxPacketLifeTime: 5000 });
    await expect(dataConsumer.getBufferedAmount()).resolves.toBe(0);
    await expect(dataConsumer.dump()).resolves.toMatchObject({
      id: dataConsumer.id,
      dataProducerId: dataProducer.id,
      type: 'sctp',
      bufferedAmount: 0,
      bufferedAmountLowThreshold: 0,
    });
    await dataConsumer.setBufferedAmountLowThreshold(1000);
    await expect(dataConsumer.dump()).resolves.toMatchObject({ bufferedAmountLowThreshold: 1000 });

    const dump = await router.dump();
    expect(dump.mapDataProducerIdDataConsumerIds).toEqual([
      { key: dataProducer.id, values: [dataConsumer.id, second.id] },
    ]);
    expect(dump.mapDataConsumerIdDataProducerId).toEqual(
      expect.arrayContaining([
        { key: dataConsumer.id, value: dataProducer.id },
        { key: second.id, value: dataProducer.id },
      ]),
    );
    await expect(transport.dump()).resolves.toMatchObject({ dataProducerIds: [dataProducer.id], sctpState: 'new' });
    await expect(other.dump()).resolves.toMatchObject({ dataConsumerIds: [dataConsumer.id, second.id] });
  });

  test('a stream id closed before the association is up is not handed out again', async () => {
    const transport = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    const other = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    await other.connect({
      dtlsParameters: {
        role: 'client',
        fingerprints: [{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }],
      },
    });
    const dataProducer = await transport.produceData({ sctpStreamParameters: { streamId: 1 } });
    const first = await other.consumeData({ dataProducerId: dataProducer.id });
    expect(first.sctpStreamParameters?.streamId).toBe(0);
    first.close();
    // The SCTP stack still holds stream 0 until the association is up: a
    // new consumer gets another one, and the transport lives on.
    const second = await other.consumeData({ dataProducerId: dataProducer.id });
    expect(second.sctpStreamParameters?.streamId).toBe(1);
    await expect(other.dump()).resolves.toMatchObject({ dataConsumerIds: [second.id], dtlsState: 'connecting' });
  });

  test('consumeData() checks its options', async () => {
    const transport = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    await expect(transport.consumeData({} as any)).rejects.toThrow(TypeError);
    await expect(transport.consumeData({ dataProducerId: 'nope' })).rejects.toThrow('not found');
    const dataProducer = await transport.produceData({ sctpStreamParameters: { streamId: 1 } });
    await expect(
      transport.consumeData({ dataProducerId: dataProducer.id, maxRetransmits: 70000 }),
    ).rejects.toThrow(TypeError);
    await expect(transport.consumeData({ dataProducerId: dataProducer.id, ordered: 'yes' as any })).rejects.toThrow(
      TypeError,
    );
    // A transport without SCTP cannot carry a data channel.
    const plain = await router.createWebRtcTransport(udp);
    await expect(plain.consumeData({ dataProducerId: dataProducer.id })).rejects.toThrow(InvalidStateError);
  });

  test('closing a transport closes its data producers; their consumers hear dataproducerclose', async () => {
    const transport = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    const other = await router.createWebRtcTransport({ ...udp, enableSctp: true });
    const dataProducer = await transport.produceData({ sctpStreamParameters: { streamId: 1 } });
    const dataConsumer = await other.consumeData({ dataProducerId: dataProducer.id });
    const producerTransportClose = jest.fn();
    dataProducer.on('transportclose', producerTransportClose);
    const consumerProducerClose = new Promise<void>((resolve) => dataConsumer.on('dataproducerclose', resolve));
    transport.close();
    expect(producerTransportClose).toHaveBeenCalledTimes(1);
    expect(dataProducer.closed).toBe(true);
    await consumerProducerClose;
    expect(dataConsumer.closed).toBe(true);
    await expect(dataConsumer.getStats()).rejects.toThrow(InvalidStateError);
    // The router no longer knows the data producer.
    await expect(other.consumeData({ dataProducerId: dataProducer.id })).rejects.toThrow('not found');
    await expect(router.dump()).resolves.toMatchObject({ mapDataProducerIdDataConsumerIds: [] });
  });
});

describe('DirectTransport', () => {
  test('has mediasoup shapes', async () => {
    const onNew = jest.fn();
    router.observer.on('newtransport', onNew);
    const direct = await router.createDirectTransport({ maxMessageSize: 1024, appData: { bot: true } });
    expect(onNew).toHaveBeenCalledWith(direct);
    expect(direct.type).toBe('direct');
    expect(direct.appData).toEqual({ bot: true });
    await expect(direct.connect()).resolves.toBeUndefined();
    await expect(direct.dump()).resolves.toMatchObject({ id: direct.id, direct: true, maxMessageSize: 1024 });
    await expect(direct.getStats()).resolves.toEqual([expect.objectContaining({ type: 'direct-transport' })]);
    // RTP parameters are checked as on any transport (RTP itself: directTransportRtp.test).
    await expect(direct.produce({ kind: 'audio', rtpParameters: {} as any })).rejects.toThrow(TypeError);
    expect(() => direct.sendRtcp('x' as unknown as Buffer)).toThrow(TypeError);
    await expect(router.createDirectTransport({ maxMessageSize: -1 })).rejects.toThrow(TypeError);
    await expect(router.dump()).resolves.toMatchObject({ transportIds: [direct.id] });
    direct.close();
    await expect(router.dump()).resolves.toMatchObject({ transportIds: [] });
  });

  test('messages from Node reach every data consumer, text and binary, in order', async () => {
    const direct = await router.createDirectTransport({ maxMessageSize: 16 });
    const dataProducer = await direct.produceData({ label: 'bot', protocol: 'json' });
    expect(dataProducer.type).toBe('direct');
    expect(dataProducer.sctpStreamParameters).toBeUndefined();
    const first = await direct.consumeData({ dataProducerId: dataProducer.id });
    const second = await direct.consumeData({ dataProducerId: dataProducer.id });
    expect(first).toMatchObject({ type: 'direct', label: 'bot', protocol: 'json' });
    const heard = [listen(first), listen(second)];
    dataProducer.send('one');
    dataProducer.send(Buffer.from('two'));
    dataProducer.send('');
    // Too large for maxMessageSize: dropped, and counted nowhere.
    dataProducer.send('x'.repeat(17));
    dataProducer.send('three');
    await settled(dataProducer, 4);
    for (const list of heard) {
      expect(list).toEqual([
        ['one', 51],
        ['two', 53],
        [' ', 56],
        ['three', 51],
      ]);
    }
    const [stat] = await dataProducer.getStats();
    expect(stat).toMatchObject({ type: 'data-producer', label: 'bot', protocol: 'json', messagesReceived: 4 });
    const [consumerStat] = await first.getStats();
    expect(consumerStat).toMatchObject({ type: 'data-consumer', messagesSent: 4, bytesSent: stat.bytesReceived });
    expect(() => dataProducer.send(123 as any)).toThrow(TypeError);
  });

  test('subchannels choose which consumers hear a message', async () => {
    const direct = await router.createDirectTransport();
    const dataProducer = await direct.produceData();
    const all = await direct.consumeData({ dataProducerId: dataProducer.id });
    const one = await direct.consumeData({ dataProducerId: dataProducer.id, subchannels: [1] });
    const oneTwo = await direct.consumeData({ dataProducerId: dataProducer.id, subchannels: [2, 1, 2] });
    expect(oneTwo.subchannels).toEqual([1, 2]);
    const [toAll, toOne, toOneTwo] = [listen(all), listen(one), listen(oneTwo)];
    dataProducer.send('everyone');
    dataProducer.send('sub 1', undefined, [1]);
    dataProducer.send('needs 2', undefined, undefined, 2);
    dataProducer.send('not for 2', undefined, [1], undefined, 2);
    await settled(dataProducer, 4);
    expect(toAll.map(([t]) => t)).toEqual(['everyone']);
    expect(toOne.map(([t]) => t)).toEqual(['everyone', 'sub 1', 'not for 2']);
    expect(toOneTwo.map(([t]) => t)).toEqual(['everyone', 'sub 1', 'needs 2']);

    await one.addSubchannel(2);
    expect(one.subchannels).toEqual([1, 2]);
    await one.removeSubchannel(1);
    await all.setSubchannels([2]);
    dataProducer.send('to 2', undefined, [2]);
    await settled(dataProducer, 5);
    expect(toAll.map(([t]) => t)).toEqual(['everyone', 'to 2']);
    expect(toOne.map(([t]) => t)).toEqual(['everyone', 'sub 1', 'not for 2', 'to 2']);
    await expect(all.setSubchannels([70000])).rejects.toThrow(TypeError);
  });

  test('pausing a data producer or consumer stops its messages, with mediasoup events', async () => {
    const direct = await router.createDirectTransport();
    const dataProducer = await direct.produceData();
    const dataConsumer = await direct.consumeData({ dataProducerId: dataProducer.id });
    const heard = listen(dataConsumer);
    const events: string[] = [];
    dataConsumer.on('dataproducerpause', () => events.push('dataproducerpause'));
    dataConsumer.on('dataproducerresume', () => events.push('dataproducerresume'));
    dataConsumer.observer.on('pause', () => events.push('observer pause'));
    dataConsumer.observer.on('resume', () => events.push('observer resume'));

    await dataProducer.pause();
    expect(dataProducer.paused).toBe(true);
    dataProducer.send('lost: producer paused');
    await settled(dataProducer, 1);
    expect(dataConsumer.dataProducerPaused).toBe(true);
    await dataProducer.resume();
    await dataConsumer.pause();
    dataProducer.send('lost: consumer paused');
    await dataConsumer.resume();
    await settled(dataProducer, 2);
    dataProducer.send('heard');
    await settled(dataProducer, 3);
    expect(heard.map(([t]) => t)).toEqual(['heard']);
    expect(events).toEqual([
      'dataproducerpause',
      'observer pause',
      'dataproducerresume',
      'observer resume',
      'observer pause',
      'observer resume',
    ]);
  });

  test('dataConsumer.send() reaches only that consumer', async () => {
    const direct = await router.createDirectTransport();
    const dataProducer = await direct.produceData();
    const target = await direct.consumeData({ dataProducerId: dataProducer.id });
    const bystander = await direct.consumeData({ dataProducerId: dataProducer.id });
    const [toTarget, toBystander] = [listen(target), listen(bystander)];
    await expect(target.send('just you')).resolves.toBe(0);
    await target.dump();
    expect(toTarget).toEqual([['just you', 51]]);
    expect(toBystander).toEqual([]);
  });

  test('closing a data producer, a consumer or the router cleans up once', async () => {
    const direct = await router.createDirectTransport();
    const dataProducer = await direct.produceData();
    const dataConsumer = await direct.consumeData({ dataProducerId: dataProducer.id });
    const closes = jest.fn();
    dataConsumer.observer.on('close', closes);
    dataConsumer.close();
    dataConsumer.close();
    expect(closes).toHaveBeenCalledTimes(1);
    await expect(direct.dump()).resolves.toMatchObject({ dataConsumerIds: [], dataProducerIds: [dataProducer.id] });

    const again = await direct.consumeData({ dataProducerId: dataProducer.id });
    const transportClose = jest.fn();
    again.on('transportclose', transportClose);
    dataProducer.observer.on('close', closes);
    router.close();
    expect(transportClose).toHaveBeenCalledTimes(1);
    expect(dataProducer.closed).toBe(true);
    expect(closes).toHaveBeenCalledTimes(2);
    expect(() => dataProducer.send('late')).toThrow(InvalidStateError);
  });
});
