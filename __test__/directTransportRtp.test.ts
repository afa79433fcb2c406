// RTP over a DirectTransport: packets from Node through `producer.send()`,
// and consumers emitting `rtp` to Node, against PlainTransports and Node
// UDP sockets on loopback on the other side.
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';
import { isRtcp, routerPerTest, tailSeq, until, vp8Packet, vp8Parameters } from './helpers/rtpPeers';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const SSRC = 0x5eed5eed;
const vp8 = vp8Parameters(SSRC);
const packet = (seq: number, keyframe: boolean): Buffer => vp8Packet(seq, keyframe, SSRC);

const env = routerPerTest(mediaCodecs);
const { socket } = env;

describe('RTP over a DirectTransport', () => {
  test('producer.send() feeds the router: a PlainTransport consumer gets the packets', async () => {
    const direct = await env.router.createDirectTransport();
    const producer = await direct.produce({ kind: 'video', rtpParameters: vp8 });
    const sink = await socket();
    const received: Buffer[] = [];
    sink.on('message', (m) => !isRtcp(m) && received.push(m));
    const output = await env.router.createPlainTransport({ listenInfo: udp });
    await output.connect({ ip: '127.0.0.1', port: sink.address().port });
    await output.consume({ producerId: producer.id, rtpCapabilities: env.router.rtpCapabilities });

    const first = 65_530;
    for (let seq = first; seq < first + 10; seq++) {
      producer.send(packet(seq, seq === first));
      // Garbage between them is dropped, and nothing else.
      if (seq === first + 3) producer.send(Buffer.from('not rtp'));
    }
    await until(() => received.length === 10, '10 packets at the sink');
    expect(received.map(tailSeq)).toEqual(Array.from({ length: 10 }, (_, i) => (first + i) & 0xffff));
    const [stat] = await producer.getStats();
    expect(stat).toMatchObject({ ssrc: SSRC, packetCount: 10 });
    const [transportStat] = await direct.getStats();
    expect(transportStat.rtpBytesReceived).toBe(10 * 22);
    expect((await direct.dump()).producerIds).toEqual([producer.id]);
    // Past its first timer (1 s), the worker still answers: a transport
    // with no RTCP to send must not keep its timer due.
    await new Promise((r) => setTimeout(r, 1_500));
    await expect(direct.getStats()).resolves.toHaveLength(1);
    producer.send(packet(first + 10, false));
    await until(() => received.length === 11, 'a packet after the first second');

    const plain = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
    const notDirect = await plain.produce({ kind: 'video', rtpParameters: vp8 });
    expect(() => notDirect.send(packet(1, true))).toThrow(UnsupportedError);
    expect(() => producer.send('x' as unknown as Buffer)).toThrow(TypeError);
    producer.close();
    expect(() => producer.send(packet(1, true))).toThrow(InvalidStateError);
  });

  test('a consumer on a DirectTransport emits rtp with its own SSRC and contiguous numbers', async () => {
    const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
    const producer = await ingest.produce({ kind: 'video', rtpParameters: vp8 });
    const direct = await env.router.createDirectTransport();
    const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: env.router.rtpCapabilities });
    const packets: Buffer[] = [];
    consumer.on('rtp', (packet) => packets.push(packet));
    const ssrc = consumer.rtpParameters.encodings![0].ssrc!;
    const pt = consumer.rtpParameters.codecs[0].payloadType;

    const source = await socket();
    for (let seq = 100; seq < 110; seq++) {
      source.send(packet(seq, seq === 100), ingest.tuple.localPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 3));
    }
    await until(() => packets.length === 10, '10 rtp events');
    for (const [i, m] of packets.entries()) {
      expect(Buffer.isBuffer(m)).toBe(true);
      expect(m[1] & 0x7f).toBe(pt);
      expect(m.readUInt32BE(8)).toBe(ssrc);
      expect(m.readUInt16BE(2)).toBe((packets[0].readUInt16BE(2) + i) & 0xffff);
      expect(tailSeq(m)).toBe(100 + i);
    }
    const [stat] = await direct.getStats();
    expect(stat.rtpBytesSent).toBeGreaterThan(0);
    expect((await direct.dump()).consumerIds).toEqual([consumer.id]);

    // Closing the transport closes its consumers, in the worker too.
    const closed = jest.fn();
    consumer.on('transportclose', closed);
    direct.close();
    expect(closed).toHaveBeenCalled();
    expect(consumer.closed).toBe(true);
    const dump = await env.router.dump();
    expect(dump.transportIds).toEqual([ingest.id]);
    expect(dump.mapConsumerIdProducerId).toEqual([]);
    expect(dump.mapProducerIdConsumerIds).toEqual([{ key: producer.id, values: [] }]);
  });

  test('Node to Node: a DirectTransport producer consumed on another DirectTransport', async () => {
    const a = await env.router.createDirectTransport();
    const b = await env.router.createDirectTransport();
    const producer = await a.produce({ kind: 'video', rtpParameters: vp8 });
    const consumer = await b.consume({ producerId: producer.id, rtpCapabilities: env.router.rtpCapabilities });
    const packets: Buffer[] = [];
    consumer.on('rtp', (packet) => packets.push(packet));
    for (let seq = 1; seq <= 5; seq++) producer.send(packet(seq, seq === 1));
    await until(() => packets.length === 5, '5 rtp events');
    expect(packets.map(tailSeq)).toEqual([1, 2, 3, 4, 5]);
    // The data side still works on the same transport.
    const dataProducer = await a.produceData();
    const dataConsumer = await b.consumeData({ dataProducerId: dataProducer.id });
    const messages: Buffer[] = [];
    dataConsumer.on('message', (m) => messages.push(m));
    dataProducer.send('hello');
    await until(() => messages.length === 1, 'a data message');
    expect(messages[0].toString()).toBe('hello');

    // Closing the producing transport closes its producer for its consumers.
    const producerClosed = jest.fn();
    consumer.on('producerclose', producerClosed);
    a.close();
    await until(() => producerClosed.mock.calls.length === 1, 'producerclose');
    const dump = await env.router.dump();
    expect(dump.transportIds).toEqual([b.id]);
    expect(dump.mapProducerIdConsumerIds).toEqual([]);
  });
});
