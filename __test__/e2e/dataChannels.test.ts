// Data channels end to end: mediasoup-client's produceData()/consumeData() in
// headless Chromium over real SCTP/DTLS on loopback, next to audio and video
// on the same transports, and a DirectTransport carrying messages between
// Node and the browsers.
import * as mediasoup from '../../lib';
import { E2eHarness, waitFor } from './harness';
import { waitForMediaFlow } from './mediaFlow';
import type { DataMessage, SfuJoinResult } from './page/types';
import { SfuRoom, type RouterLike, type SfuPeer, type WebRtcTransportLike } from './sfuRoom';

jest.setTimeout(90_000);

const mediaCodecs = [
  { kind: 'audio' as const, mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video' as const, mimeType: 'video/VP8', clockRate: 90000 },
];

describe('data channels end to end (mediasoup-client in headless Chromium)', () => {
  let worker: mediasoup.types.Worker;
  let harness: E2eHarness;
  let router: mediasoup.types.Router;
  let room: SfuRoom;
  let a: SfuPeer;
  let b: SfuPeer;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    harness = await E2eHarness.start();
    router = await worker.createRouter({ mediaCodecs });
    room = new SfuRoom(router as unknown as RouterLike);
    const pages = await Promise.all(['a', 'b'].map((n) => harness.join(n, 'sfu')));
    [a, b] = pages.map((p) => room.add(p));
    // a sends audio, video and data on one send transport; b only data.
    await a.participant.call<SfuJoinResult>('join', { data: true });
    await b.participant.call<SfuJoinResult>('join', { data: true, audio: false, video: false });
  });

  afterAll(async () => {
    await harness?.close();
    worker?.close();
  });

  const messagesOf = (peer: SfuPeer): Promise<DataMessage[]> => peer.participant.call<DataMessage[]>('dataMessages');

  async function received(peer: SfuPeer, count: number): Promise<DataMessage[]> {
    return waitFor(
      async () => {
        const list = await messagesOf(peer);
        return list.length >= count && list;
      },
      { what: `${peer.name} receiving ${count} data messages`, diagnose: () => messagesOf(peer) },
    );
  }

  it('(a) a browser data channel reaches another browser through the SFU, text and binary, in order', async () => {
    const dataProducerId = await a.participant.call<string>('produceData', 'chat');
    const serverProducer = a.dataProducers.get(dataProducerId) as unknown as mediasoup.types.DataProducer;
    expect(serverProducer.type).toBe('sctp');
    expect(serverProducer.label).toBe('chat');

    const dataConsumerId = await b.participant.call<string>('consumeData', dataProducerId);
    const serverConsumer = b.dataConsumers.get(dataConsumerId) as unknown as mediasoup.types.DataConsumer;
    expect(serverConsumer.dataProducerId).toBe(dataProducerId);
    expect(serverConsumer.sctpStreamParameters?.streamId).toEqual(expect.any(Number));

    // Media keeps flowing next to the data channel on a's send transport.
    await room.consumeOthers(b);
    await waitForMediaFlow(b.participant, { video: 1, audio: 1, timeoutMs: 20_000 });

    for (let i = 0; i < 20; i++) {
      await a.participant.call('sendData', 'chat', `hello ${i}`);
    }
    await a.participant.call('sendData', 'chat', '', [0, 1, 2, 254, 255]);
    // An empty message reaches the other browser as one space: the SCTP
    // stack sends no empty messages (a documented difference from mediasoup).
    await a.participant.call('sendData', 'chat', '');
    const got = await received(b, 22);
    expect(got.slice(0, 20).map((m) => m.text)).toEqual(Array.from({ length: 20 }, (_, i) => `hello ${i}`));
    expect(got[20]).toEqual({ label: 'chat', bytes: [0, 1, 2, 254, 255] });
    expect(got[21]).toEqual({ label: 'chat', text: ' ' });

    const [producerStat] = await serverProducer.getStats();
    expect(producerStat).toMatchObject({ type: 'data-producer', label: 'chat', messagesReceived: 22 });
    const [consumerStat] = await serverConsumer.getStats();
    expect(consumerStat).toMatchObject({ type: 'data-consumer', label: 'chat', messagesSent: 22 });
    expect(consumerStat.bytesSent).toBe(producerStat.bytesReceived);

    // The association is reported up on both of the pages' transports that carry data.
    const states = [...a.transports.values(), ...b.transports.values()].map((t: WebRtcTransportLike) => t.sctpState);
    expect(states.filter((s) => s === 'connected').length).toBeGreaterThanOrEqual(2);
  });

  it('(b) Node talks to the browsers over a DirectTransport, both ways', async () => {
    const direct = await router.createDirectTransport();
    // Node → browser.
    const fromNode = await direct.produceData({ label: 'announcements' });
    await b.participant.call<string>('consumeData', fromNode.id);
    fromNode.send('welcome from the server');
    fromNode.send(Buffer.from([9, 8, 7]));
    const got = await received(b, 24);
    expect(got.slice(22)).toEqual([
      { label: 'announcements', text: 'welcome from the server' },
      { label: 'announcements', bytes: [9, 8, 7] },
    ]);

    // Browser → Node: a's chat channel, consumed in Node.
    const chat = [...a.dataProducers.values()][0];
    const inNode = await direct.consumeData({ dataProducerId: chat.id });
    const heard: [string, number][] = [];
    inNode.on('message', (message, ppid) => heard.push([message.toString(), ppid]));
    await a.participant.call('sendData', 'chat', 'to the server too');
    await waitFor(() => heard.length >= 1, { what: 'Node hearing the browser' });
    expect(heard[0]).toEqual(['to the server too', 51]);
    // And b got the same message over SCTP.
    expect((await received(b, 25))[24]).toEqual({ label: 'chat', text: 'to the server too' });
  });

  it('(c) a paused data consumer gets nothing; closing the data producer closes the browser channel', async () => {
    const chat = [...a.dataProducers.values()][0];
    const consumer = [...b.dataConsumers.values()].find((c) => c.dataProducerId === chat.id) as unknown as
      mediasoup.types.DataConsumer;
    const serverChat = chat as unknown as mediasoup.types.DataProducer;
    const receivedSoFar = async (): Promise<number> => (await serverChat.getStats())[0].messagesReceived;
    const before = await receivedSoFar();
    await consumer.pause();
    await a.participant.call('sendData', 'chat', 'while paused');
    // Resume only once the router has had (and dropped) that message.
    await waitFor(async () => (await receivedSoFar()) > before, { what: 'the message sent while paused' });
    await consumer.resume();
    await a.participant.call('sendData', 'chat', 'after resume');
    const got = await received(b, 26);
    expect(got.slice(25).map((m) => m.text)).toEqual(['after resume']);

    const closed = new Promise<void>((resolve) => consumer.on('dataproducerclose', () => resolve()));
    chat.close();
    await closed;
    expect(consumer.closed).toBe(true);
    await waitFor(
      async () => {
        const states = await b.participant.call<Record<string, string>>('dataChannelStates');
        return states[consumer.id] === 'closed';
      },
      { what: "b's data channel closing", diagnose: () => b.participant.call('dataChannelStates') },
    );
  });
});
