// RTP over a DirectTransport: packets from Node through `producer.send()`,
// and consumers emitting `rtp` to Node, against PlainTransports and Node
// UDP sockets on loopback on the other side.
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';
import { isRtcp, nack, pli, routerPerTest, tailSeq, until, vp8Packet, vp8Parameters } from './helpers/rtpPeers';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const SSRC = 0x5eed5eed;
const vp8 = vp8Parameters(SSRC);
const packet = (seq: number, keyframe: boolean): Buffer => vp8Packet(seq, keyframe, SSRC);

const env = routerPerTest(mediaCodecs);

/**
 * A UDP source feeding a comedia PlainTransport's video producer, consumed on
 * a DirectTransport whose `rtp` events and `rtcp` events are collected;
 * `feed(from, to)` sends packets from..to (the first a keyframe), 3 ms apart.
 */
async function sourceToNode() {
  const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
  const producer = await ingest.produce({ kind: 'video', rtpParameters: vp8 });
  const direct = await env.router.createDirectTransport();
  const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: env.router.rtpCapabilities });
  const packets: Buffer[] = [];
  consumer.on('rtp', (m) => packets.push(m));
  const rtcp: Buffer[] = [];
  direct.on('rtcp', (m) => rtcp.push(m));
  const source = await socket();
  const feed = async (from: number, to: number) => {
    for (let seq = from; seq <= to; seq++) {
      source.send(packet(seq, seq === from), ingest.tuple.localPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 3));
    }
  };
  return { ingest, producer, direct, consumer, packets, rtcp, source, feed, ssrc: consumer.rtpParameters.encodings![0].ssrc! };
}

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
    const { ingest, producer, direct, consumer, packets, ssrc, feed } = await sourceToNode();
    const pt = consumer.rtpParameters.codecs[0].payloadType;
    await feed(100, 109);
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

  test('RTCP to Node: a keyframe request for a Node-fed producer arrives as a PLI on rtcp', async () => {
    const direct = await env.router.createDirectTransport();
    const producer = await direct.produce({ kind: 'video', rtpParameters: vp8 });
    const rtcp: Buffer[] = [];
    direct.on('rtcp', (m) => rtcp.push(m));
    const sink = await socket();
    const output = await env.router.createPlainTransport({ listenInfo: udp });
    await output.connect({ ip: '127.0.0.1', port: sink.address().port });
    const plis = () => rtcp.filter((m) => m[1] === 206 && (m[0] & 0x1f) === 1);
    const consumer = await output.consume({ producerId: producer.id, rtpCapabilities: env.router.rtpCapabilities });
    // A new consumer starts with a keyframe request, which reaches Node.
    const first = await until(() => plis()[0], 'a PLI on rtcp');
    expect(first.readUInt32BE(8)).toBe(SSRC);
    producer.send(packet(1, true));
    producer.send(packet(2, false));
    await until(async () => (await consumer.getStats())[0].packetCount === 2, 'two packets out');
    // Within about a second, a receiver report about the producer's stream
    // reaches Node too (as mediasoup's transports report their producers):
    // nothing lost, up to number 2; an SDES names the reporter.
    const rr = await until(
      () => rtcp.find((m) => m[1] === 201 && (m.readUInt32BE(16) & 0xffff) === 2),
      'a receiver report on rtcp',
    );
    expect(rr.readUInt32BE(8)).toBe(SSRC);
    expect(rr.readUInt32BE(12)).toBe(0);
    expect(rr[4 * (rr.readUInt16BE(2) + 1) + 1]).toBe(202);

    // The far peer asks for a keyframe: it reaches Node too.
    sink.send(pli(consumer.rtpParameters.encodings![0].ssrc!), output.tuple.localPort, '127.0.0.1');
    await until(() => plis().length === 2, 'a second PLI on rtcp');
    expect(plis()[1].readUInt32BE(8)).toBe(SSRC);
    expect((await producer.getStats())[0].pliCount).toBe(2);
  });

  test('RTCP from Node: sendRtcp() asks the ingest peer for a keyframe; sender reports come back', async () => {
    const { direct, consumer, rtcp, ssrc, source, feed } = await sourceToNode();
    const atSource: Buffer[] = [];
    source.on('message', (m) => isRtcp(m) && atSource.push(m));
    await feed(1, 3);
    await until(async () => (await consumer.getStats())[0].packetCount === 3, 'three rtp events');
    // The consumer's start asked the source for a keyframe already: count on from there.
    const before = atSource.filter((m) => m[1] === 206).length;
    direct.sendRtcp(Buffer.from('not rtcp at all'));
    direct.sendRtcp(pli(ssrc));
    await until(() => atSource.filter((m) => m[1] === 206).length > before, 'a PLI at the source');
    expect(atSource.at(-1)!.readUInt32BE(8)).toBe(SSRC);
    expect((await consumer.getStats())[0].pliCount).toBe(1);
    // A sender report for the consumer's SSRC within about a second: 3 packets.
    const sr = await until(() => rtcp.find((m) => m[1] === 200), 'a sender report on rtcp');
    expect(sr.readUInt32BE(4)).toBe(ssrc);
    expect(sr.readUInt32BE(20)).toBe(3);
    expect(() => direct.sendRtcp('x' as unknown as Buffer)).toThrow(TypeError);
    direct.close();
    expect(() => direct.sendRtcp(pli(ssrc))).toThrow(InvalidStateError);
  });

  test('Node’s NACK brings a packet back as RTX on rtp; its receiver report sets the score', async () => {
    const { direct, consumer, packets, ssrc, feed } = await sourceToNode();
    const rtxSsrc = consumer.rtpParameters.encodings![0].rtx?.ssrc;
    expect(rtxSsrc).toEqual(expect.any(Number));
    await feed(1, 3);
    await until(() => packets.length === 3, 'three rtp events');
    const second = packets[1];
    await consumer.enableTraceEvent(['nack']);
    const traces: types.ConsumerTraceEventData[] = [];
    consumer.on('trace', (t) => traces.push(t));
    direct.sendRtcp(nack(ssrc, second.readUInt16BE(2)));
    const rtx = await until(() => packets.find((m) => m.readUInt32BE(8) === rtxSsrc), 'an RTX rtp event');
    // Header without extensions here: the original number, then its payload.
    const at = 12 + (rtx[0] & 0x10 ? 4 + rtx.readUInt16BE(14) * 4 : 0);
    expect(rtx.readUInt16BE(at)).toBe(second.readUInt16BE(2));
    expect(tailSeq(rtx)).toBe(2);

    // Half lost, says Node's receiver report: the score drops.
    const scores: number[] = [];
    consumer.on('score', (s) => scores.push(s.score));
    const rr = Buffer.alloc(32);
    rr[0] = 0x81;
    rr[1] = 201;
    rr.writeUInt16BE(7, 2);
    rr.writeUInt32BE(1, 4);
    rr.writeUInt32BE(ssrc, 8);
    rr[12] = 128;
    direct.sendRtcp(rr);
    await until(() => scores.length > 0, 'a score event');
    expect(scores[0]).toBeLessThan(10);
    expect((await consumer.getStats())[0]).toMatchObject({ nackCount: 1, rtxSsrc });
    // The NACK's `nack` trace, as mediasoup's consumer emits one per NACK packet.
    expect(traces).toEqual([{ type: 'nack', timestamp: expect.any(Number), direction: 'in' }]);
    expect('info' in traces[0] && traces[0].info === undefined).toBe(true);
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
