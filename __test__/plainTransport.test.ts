// PlainTransport over real UDP on loopback, with Node sockets as the peers
// (as FFmpeg or GStreamer would be): options and state as mediasoup's, RTP
// in (comedia or connected) and out, sender reports, PLI and receiver
// reports, and what is dropped. The browser case is in e2e/plainTransport.
import * as dgram from 'node:dgram';
import * as mediasoup from '../lib';
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';
import { isRtcp, until } from './helpers/rtpPeers';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const SSRC = 0x11223344;

let worker: types.Worker;
let router: types.Router;
const sockets: dgram.Socket[] = [];

beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'warn' });
});

afterAll(() => worker.close());

beforeEach(async () => {
  router = await worker.createRouter({ mediaCodecs });
});

afterEach(() => {
  router.close();
  sockets.splice(0).forEach((s) => s.close());
});

/** A UDP peer on loopback that records what it receives. */
async function peer(): Promise<{ socket: dgram.Socket; port: number; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  return { socket, port: socket.address().port, received };
}


/** A VP8 RTP packet; the first of a frame at `keyframe` is a keyframe. */
function vp8Packet(seq: number, timestamp: number, keyframe: boolean, ssrc = SSRC): Buffer {
  const b = Buffer.alloc(12 + 30);
  b[0] = 0x80;
  b[1] = 101 | 0x80;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(timestamp >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  // VP8 payload descriptor (S bit, partition 0), then the payload header: P bit 0 = keyframe.
  b[12] = 0x10;
  b[13] = keyframe ? 0x00 : 0x01;
  b.set([0x9d, 0x01, 0x2a], 16);
  return b;
}


/** An ingest transport (comedia) with a VP8 producer on SSRC, and its sending peer. */
async function ingest(): Promise<{
  transport: types.PlainTransport;
  producer: types.Producer;
  source: Awaited<ReturnType<typeof peer>>;
  send: (seq: number, keyframe?: boolean) => void;
}> {
  const transport = await router.createPlainTransport({ listenInfo: udp, comedia: true });
  const producer = await transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
      encodings: [{ ssrc: SSRC }],
    },
  });
  const source = await peer();
  const send = (seq: number, keyframe = false): void =>
    source.socket.send(vp8Packet(seq, seq * 3000, keyframe), transport.tuple.localPort, '127.0.0.1');
  return { transport, producer, source, send };
}

describe('PlainTransport', () => {
  test('options and initial state are mediasoup’s', async () => {
    const onNew = jest.fn();
    router.observer.on('newtransport', onNew);
    const transport = await router.createPlainTransport({ listenInfo: udp, appData: { rec: 1 } });
    expect(onNew).toHaveBeenCalledWith(transport);
    expect(transport).toMatchObject({ type: 'plain', rtcpMux: true, comedia: false, appData: { rec: 1 } });
    expect(transport.tuple).toMatchObject({ localAddress: '127.0.0.1', protocol: 'udp', localPort: expect.any(Number) });
    expect(transport.rtcpTuple).toBeUndefined();
    expect(transport.srtpParameters).toBeUndefined();

    const split = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: false });
    expect(split.rtcpTuple?.localPort).toEqual(expect.any(Number));
    expect(split.rtcpTuple?.localPort).not.toBe(split.tuple.localPort);
    await expect(split.dump()).resolves.toMatchObject({ id: split.id, rtcpMux: false, comedia: false });
    await expect(split.getStats()).resolves.toEqual([expect.objectContaining({ type: 'plain-rtp-transport' })]);

    await expect(router.createPlainTransport({} as any)).rejects.toThrow(TypeError);
    await expect(router.createPlainTransport({ listenInfo: { protocol: 'tcp', ip: '127.0.0.1' } })).rejects.toThrow(
      TypeError,
    );
    await expect(router.createPlainTransport({ listenInfo: udp, enableSctp: true })).rejects.toThrow(UnsupportedError);
  });

  test('connect() takes the peer once, and needs rtcpPort without RTCP mux', async () => {
    const transport = await router.createPlainTransport({ listenInfo: udp });
    await expect(transport.connect({})).rejects.toThrow(TypeError);
    await expect(transport.connect({ ip: '127.0.0.1', port: 70000 })).rejects.toThrow(TypeError);
    await transport.connect({ ip: '127.0.0.1', port: 40000 });
    expect(transport.tuple).toMatchObject({ remoteIp: '127.0.0.1', remotePort: 40000 });
    await expect(transport.connect({ ip: '127.0.0.1', port: 40002 })).rejects.toThrow(InvalidStateError);

    const split = await router.createPlainTransport({ listenInfo: udp, rtcpMux: false });
    await expect(split.connect({ ip: '127.0.0.1', port: 40000 })).rejects.toThrow(TypeError);
    await split.connect({ ip: '127.0.0.1', port: 40000, rtcpPort: 40001 });
    expect(split.rtcpTuple).toMatchObject({ remotePort: 40001 });
  });

  test('RTP in (comedia) goes out to a connected peer, rewritten, with sender reports', async () => {
    const { transport: input, producer, send } = await ingest();
    const tuples: types.TransportTuple[] = [];
    input.on('tuple', (t) => tuples.push(t));
    const sink = await peer();
    const output = await router.createPlainTransport({ listenInfo: udp });
    await output.connect({ ip: '127.0.0.1', port: sink.port });
    const consumer = await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    // Of the header extensions, only what a plain consumer writes.
    expect(consumer.rtpParameters.headerExtensions?.map((h) => h.uri)).toEqual(['urn:3gpp:video-orientation']);
    expect(consumer.rtpParameters.encodings).toEqual([{ ssrc: expect.any(Number), rtx: { ssrc: expect.any(Number) } }]);
    const ssrc = consumer.rtpParameters.encodings![0].ssrc!;
    const pt = consumer.rtpParameters.codecs[0].payloadType;

    for (let seq = 65530; seq < 65550; seq++) {
      send(seq, seq === 65530);
      await new Promise((r) => setTimeout(r, 5));
    }
    const rtp = await until(() => {
      const list = sink.received.filter((m) => !isRtcp(m));
      return list.length === 20 && list;
    }, '20 forwarded packets');
    expect(tuples).toHaveLength(1);
    expect(input.tuple.remotePort).toBe(tuples[0].remotePort);
    for (const [i, m] of rtp.entries()) {
      expect(m[1] & 0x7f).toBe(pt);
      expect(m.readUInt32BE(8)).toBe(ssrc);
      // Sequence numbers stay contiguous across the input's wrap.
      expect(m.readUInt16BE(2)).toBe((rtp[0].readUInt16BE(2) + i) & 0xffff);
      expect(m.subarray(12)).toEqual(vp8Packet(65530 + i, 0, i === 0).subarray(12));
    }
    // A sender report for the consumer's SSRC within about a second.
    const sr = await until(() => sink.received.find((m) => m[1] === 200), 'a sender report');
    expect(sr.readUInt32BE(4)).toBe(ssrc);
    // Packets, then payload octets.
    expect(sr.readUInt32BE(20)).toBe(20);
    expect(sr.readUInt32BE(24)).toBe(20 * 30);
    const [stat] = await producer.getStats();
    expect(stat).toMatchObject({ type: 'inbound-rtp', ssrc: SSRC, packetCount: 20 });
  });

  test('the video orientation crosses in the header extension the consumer lists', async () => {
    const input = await router.createPlainTransport({ listenInfo: udp, comedia: true });
    const producer = await input.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }],
        headerExtensions: [{ uri: 'urn:3gpp:video-orientation', id: 3 }],
        encodings: [{ ssrc: SSRC }],
      },
    });
    const sink = await peer();
    const output = await router.createPlainTransport({ listenInfo: udp });
    await output.connect({ ip: '127.0.0.1', port: sink.port });
    const consumer = await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const extId = consumer.rtpParameters.headerExtensions![0].id;
    const source = await peer();
    // A keyframe whose header carries the orientation (one-byte form: id 3, value 1).
    const plain = vp8Packet(1, 0, true);
    const withExt = Buffer.concat([plain.subarray(0, 12), Buffer.from([0xbe, 0xde, 0, 1, 0x30, 1, 0, 0]), plain.subarray(12)]);
    withExt[0] |= 0x10;
    source.socket.send(withExt, input.tuple.localPort, '127.0.0.1');
    const out = await until(() => sink.received.find((m) => !isRtcp(m)), 'the forwarded packet');
    expect(out[0] & 0x10).toBe(0x10);
    expect(out.subarray(12, 16)).toEqual(Buffer.from([0xbe, 0xde, 0, 1]));
    expect(out[16]).toBe(extId << 4);
    expect(out[17]).toBe(1);
    expect(out.subarray(20)).toEqual(plain.subarray(12));
  });

  test('keyframe requests reach the ingest peer as PLI; receiver reports set the consumer score', async () => {
    const { producer, source, send } = await ingest();
    send(1, true);
    const sink = await peer();
    const output = await router.createPlainTransport({ listenInfo: udp });
    await output.connect({ ip: '127.0.0.1', port: sink.port });
    const consumer = await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const pli = await until(() => source.received.find((m) => m[1] === 206 && (m[0] & 0x1f) === 1), 'a PLI');
    expect(pli.readUInt32BE(8)).toBe(SSRC);

    // The sink reports 50 % loss on the consumer's stream.
    const ssrc = consumer.rtpParameters.encodings![0].ssrc!;
    const rr = Buffer.alloc(32);
    rr.set([0x81, 201, 0, 7]);
    rr.writeUInt32BE(1, 4);
    rr.writeUInt32BE(ssrc, 8);
    rr[12] = 128;
    const scores: number[] = [];
    consumer.on('score', (s) => scores.push(s.score));
    sink.socket.send(rr, output.tuple.localPort, '127.0.0.1');
    await until(() => scores.length > 0, 'a score event');
    expect(scores[0]).toBe(0);
    // And a PLI from the sink reaches the ingest peer again.
    const before = source.received.length;
    const sinkPli = Buffer.alloc(12);
    sinkPli.set([0x81, 206, 0, 2]);
    sinkPli.writeUInt32BE(1, 4);
    sinkPli.writeUInt32BE(ssrc, 8);
    sink.socket.send(sinkPli, output.tuple.localPort, '127.0.0.1');
    await until(() => source.received.slice(before).some((m) => m[1] === 206), 'the forwarded PLI');
    const outbound = (await consumer.getStats()).find((s) => s.type === 'outbound-rtp')!;
    expect(outbound.pliCount).toBe(1);
  });

  test('a consumer made before its peer is known starts with a keyframe request once it is', async () => {
    const { producer, source, send } = await ingest();
    send(1, true);
    await until(async () => (await producer.getStats())[0]?.packetCount === 1, 'the first packet');
    const output = await router.createPlainTransport({ listenInfo: udp });
    await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const sink = await peer();
    const plisBefore = source.received.filter((m) => m[1] === 206).length;
    await output.connect({ ip: '127.0.0.1', port: sink.port });
    await until(() => source.received.filter((m) => m[1] === 206).length > plisBefore, 'a PLI after connect()');
  });

  test('a keyframe request made before connect() goes out when it is called', async () => {
    // Not comedia: the ingest peer is told, after the consumer asked.
    const input = await router.createPlainTransport({ listenInfo: udp });
    const producer = await input.produce({
      kind: 'video',
      rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc: SSRC }] },
    });
    const sink = await peer();
    const output = await router.createPlainTransport({ listenInfo: udp });
    await output.connect({ ip: '127.0.0.1', port: sink.port });
    await output.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    const source = await peer();
    await input.connect({ ip: '127.0.0.1', port: source.port });
    const pli = await until(() => source.received.find((m) => m[1] === 206), 'the held PLI');
    expect(pli.readUInt32BE(8)).toBe(SSRC);
  });

  test('comedia learns its peer from RTP only, not from a stray datagram', async () => {
    const { transport: input, producer, source, send } = await ingest();
    const stranger = await peer();
    stranger.socket.send(Buffer.from('not rtp'), input.tuple.localPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    expect(input.tuple.remotePort).toBe(0);
    send(1, true);
    await until(async () => (await producer.getStats())[0]?.packetCount === 1, 'the first packet');
    expect(input.tuple.remotePort).toBe(source.port);
  });

  test('garbage and strangers are dropped; the worker carries on', async () => {
    const { transport: input, producer, source, send } = await ingest();
    send(1, true);
    await until(async () => (await producer.getStats())[0]?.packetCount === 1, 'the first packet');
    // Not the peer comedia learned: ignored (and the tuple stays).
    const tuple = input.tuple;
    const stranger = await peer();
    stranger.socket.send(vp8Packet(2, 0, false), input.tuple.localPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    // Garbage from the peer itself: too short, wrong version, truncated extension.
    const to = (b: Buffer): void => source.socket.send(b, input.tuple.localPort, '127.0.0.1');
    to(Buffer.from([0x80, 101, 0]));
    to(Buffer.alloc(40));
    const truncated = vp8Packet(3, 0, false);
    truncated[0] |= 0x10;
    to(truncated.subarray(0, 14));
    send(4);
    await until(async () => (await producer.getStats())[0]?.packetCount >= 2, 'the next good packet');
    // One more round trip: nothing else is counted after it.
    await input.dump();
    expect((await producer.getStats())[0].packetCount).toBe(2);
    expect(input.tuple).toEqual(tuple);
    const [stat] = await input.getStats();
    expect(stat.rtpBytesReceived).toBe(2 * vp8Packet(0, 0, false).length);
    expect(stat.bytesReceived).toBeGreaterThan(stat.rtpBytesReceived);
    await expect(router.dump()).resolves.toMatchObject({ id: router.id });
  });
});
