// RTX on PlainTransports, as mediasoup's: a consumer whose capabilities have
// RTX and NACK answers a NACK from its peer with RTX; a producer whose
// parameters have them gets its gaps NACKed and takes the RTX in their place.
// The peers are Node UDP sockets on loopback.
import type * as dgram from 'node:dgram';
import { isRtcp, nack, routerPerTest, tailSeq, until, vp8Packet, vp8Parameters } from './helpers/rtpPeers';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const SSRC = 0x5eed;
const RTX_SSRC = 0x5eee;

const env = routerPerTest(mediaCodecs);

/** Where an RTP packet's payload starts (after CSRCs and extensions). */
function payloadOffset(m: Buffer): number {
  let at = 12 + (m[0] & 0x0f) * 4;
  if (m[0] & 0x10) at += 4 + m.readUInt16BE(at + 2) * 4;
  return at;
}

/** Collects what a socket receives. */
function collect(s: dgram.Socket): Buffer[] {
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return got;
}

async function comediaProducer(rtpParameters: types.RtpParameters) {
  const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
  const producer = await ingest.produce({ kind: 'video', rtpParameters });
  const source = await env.socket();
  const send = (m: Buffer) => source.send(m, ingest.tuple.localPort, '127.0.0.1');
  return { ingest, producer, source, send };
}

async function sinkConsumer(producerId: string, enableRtx?: boolean) {
  const output = await env.router.createPlainTransport({ listenInfo: udp });
  const sink = await env.socket();
  const received = collect(sink);
  await output.connect({ ip: '127.0.0.1', port: sink.address().port });
  const consumer = await output.consume({ producerId, rtpCapabilities: env.router.rtpCapabilities, enableRtx });
  return { output, sink, received, consumer };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PlainTransport RTX', () => {
  test('a consumer answers its peer’s NACK with RTX', async () => {
    const { producer, send } = await comediaProducer(vp8Parameters(SSRC));
    const { output, sink, received, consumer } = await sinkConsumer(producer.id);
    const params = consumer.rtpParameters;
    const rtxSsrc = params.encodings![0].rtx?.ssrc;
    expect(rtxSsrc).toEqual(expect.any(Number));
    const vp8 = params.codecs.find((c) => c.mimeType === 'video/VP8')!;
    const rtxCodec = params.codecs.find((c) => c.mimeType === 'video/rtx')!;
    expect(rtxCodec.parameters).toEqual({ apt: vp8.payloadType });
    expect(vp8.rtcpFeedback).toContainEqual({ type: 'nack', parameter: '' });

    for (let seq = 1; seq <= 5; seq++) {
      send(vp8Packet(seq, seq === 1, SSRC));
      await pause(5);
    }
    const media = await until(() => {
      const list = received.filter((m) => !isRtcp(m));
      return list.length === 5 && list;
    }, 'five packets');
    const third = media.find((m) => tailSeq(m) === 3)!;
    const outSeq = third.readUInt16BE(2);
    sink.send(nack(params.encodings![0].ssrc!, outSeq), output.tuple.localPort, '127.0.0.1');

    const rtx = await until(() => received.find((m) => !isRtcp(m) && m.readUInt32BE(8) === rtxSsrc), 'an RTX packet');
    expect(rtx[1] & 0x7f).toBe(rtxCodec.payloadType);
    expect(rtx.readUInt32BE(4)).toBe(third.readUInt32BE(4));
    const at = payloadOffset(rtx);
    // RFC 4588: the original sequence number, then the original payload.
    expect(rtx.readUInt16BE(at)).toBe(outSeq);
    expect(rtx.subarray(at + 2)).toEqual(third.subarray(payloadOffset(third)));
    const [stat] = await consumer.getStats();
    // One NACK packet asking for one number, answered once.
    expect(stat).toMatchObject({ type: 'outbound-rtp', rtxSsrc, nackCount: 1, nackPacketCount: 1, packetsRetransmitted: 1, packetsRepaired: 1 });
  });

  test('enableRtx: false and capabilities without RTX leave both out', async () => {
    const { producer } = await comediaProducer(vp8Parameters(SSRC));
    const off = (await sinkConsumer(producer.id, false)).consumer.rtpParameters;
    expect(off.encodings).toEqual([{ ssrc: expect.any(Number) }]);
    expect(off.codecs.map((c) => c.mimeType)).toEqual(['video/VP8']);
    expect(off.codecs[0].rtcpFeedback).not.toContainEqual({ type: 'nack', parameter: '' });

    const output = await env.router.createPlainTransport({ listenInfo: udp });
    const rtpCapabilities = {
      codecs: env.router.rtpCapabilities.codecs!.filter((c) => c.mimeType !== 'video/rtx'),
    };
    const noRtx = (await output.consume({ producerId: producer.id, rtpCapabilities })).rtpParameters;
    expect(noRtx.encodings![0].rtx).toBeUndefined();
    // No NACK where nothing could be resent.
    expect(noRtx.codecs[0].rtcpFeedback).not.toContainEqual({ type: 'nack', parameter: '' });
  });

  test('a producer with RTX has its gap NACKed, and the RTX fills it', async () => {
    const rtpParameters: types.RtpParameters = {
      codecs: [
        {
          mimeType: 'video/VP8',
          payloadType: 101,
          clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
        },
        { mimeType: 'video/rtx', payloadType: 102, clockRate: 90000, parameters: { apt: 101 } },
      ],
      encodings: [{ ssrc: SSRC, rtx: { ssrc: RTX_SSRC } }],
    };
    const { ingest, producer, source, send } = await comediaProducer(rtpParameters);
    const atSource = collect(source);
    const { received } = await sinkConsumer(producer.id, false);
    await producer.enableTraceEvent(['nack']);
    const traces: types.ProducerTraceEventData[] = [];
    producer.on('trace', (t) => traces.push(t));

    for (const seq of [1, 2, 3, 5, 6]) {
      send(vp8Packet(seq, seq === 1, SSRC));
      await pause(5);
    }
    // A generic NACK for our SSRC naming packet 4.
    const asked = await until(
      () => atSource.find((m) => isRtcp(m) && m[1] === 205 && (m[0] & 0x1f) === 1 && m.readUInt32BE(8) === SSRC),
      'a NACK',
    );
    expect(asked.readUInt16BE(12)).toBe(4);
    expect(asked.readUInt16BE(14)).toBe(0);

    const original = vp8Packet(4, false, SSRC);
    const rtx = Buffer.concat([original.subarray(0, 12), Buffer.from([0, 4]), original.subarray(12)]);
    rtx[1] = 102;
    rtx.writeUInt16BE(900, 2);
    rtx.writeUInt32BE(RTX_SSRC, 8);
    source.send(rtx, ingest.tuple.localPort, '127.0.0.1');

    const media = await until(() => {
      const list = received.filter((m) => !isRtcp(m));
      return list.length === 6 && list;
    }, 'six packets, the gap filled');
    expect(media.map(tailSeq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    const recovered = media.find((m) => tailSeq(m) === 4)!;
    expect(recovered.subarray(payloadOffset(recovered))).toEqual(original.subarray(12));
    const [stat] = await producer.getStats();
    expect(stat.nackCount).toBeGreaterThan(0);
    // The resend came in and filled the gap (mediasoup's inbound counts).
    expect(stat).toMatchObject({ packetsRetransmitted: 1, packetsRepaired: 1, packetCount: 6 });
    // One `nack` trace per NACK packet sent, as mediasoup's producer emits.
    await until(() => traces.length === stat.nackCount, 'a nack trace per NACK');
    expect(traces[0]).toEqual({ type: 'nack', timestamp: expect.any(Number), direction: 'out' });
    expect('info' in traces[0] && traces[0].info === undefined).toBe(true);
  });
});
