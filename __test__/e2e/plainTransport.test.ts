// PlainTransport end to end: a browser's audio and video leave one router
// as plain RTP (PlainTransport consumers), enter another router as plain RTP
// (comedia PlainTransport producers, as FFmpeg or GStreamer would send it)
// and reach a second browser, which decodes them. Keyframe requests travel
// back the same way (RTCP PLI over the plain hop).
import * as mediasoup from '../../lib';
import { E2eHarness, waitFor } from './harness';
import { waitForMediaFlow } from './mediaFlow';
import type { SfuJoinResult } from './page/types';
import { SfuRoom, type RouterLike } from './sfuRoom';

jest.setTimeout(90_000);

const mediaCodecs = [
  { kind: 'audio' as const, mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video' as const, mimeType: 'video/VP8', clockRate: 90000 },
];

describe('PlainTransport end to end (two routers, two browsers)', () => {
  let worker: mediasoup.types.Worker;
  let harness: E2eHarness;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    worker?.close();
  });

  it('carries a browser’s audio and video over plain RTP between routers to another browser', async () => {
    const [routerA, routerB] = await Promise.all([
      worker.createRouter({ mediaCodecs }),
      worker.createRouter({ mediaCodecs }),
    ]);
    const roomA = new SfuRoom(routerA as unknown as RouterLike);
    const roomB = new SfuRoom(routerB as unknown as RouterLike);
    const a = roomA.add(await harness.join('a', 'sfu'));
    const b = roomB.add(await harness.join('b', 'sfu'));
    const joined = await a.participant.call<SfuJoinResult>('join', {});
    await b.participant.call<SfuJoinResult>('join', { audio: false, video: false });

    const hops: {
      kind: string;
      ingress: mediasoup.types.PlainTransport;
      egress: mediasoup.types.PlainTransport;
      consumer: mediasoup.types.Consumer;
      tuples: mediasoup.types.TransportTuple[];
    }[] = [];
    for (const producerId of [joined.audioProducerId, joined.videoProducerId]) {
      // Into router B: a comedia PlainTransport learns its peer from the first packet.
      const ingress = await routerB.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        comedia: true,
      });
      const tuples: mediasoup.types.TransportTuple[] = [];
      ingress.on('tuple', (t) => tuples.push(t));
      // Out of router A, to it.
      const egress = await routerA.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' } });
      await egress.connect({ ip: '127.0.0.1', port: ingress.tuple.localPort });
      expect(egress.tuple).toMatchObject({ remoteIp: '127.0.0.1', remotePort: ingress.tuple.localPort });
      const consumer = await egress.consume({
        producerId: producerId!,
        rtpCapabilities: routerA.rtpCapabilities,
      });
      // What goes over the plain hop is what the consumer's parameters say.
      const uris = consumer.rtpParameters.headerExtensions?.map((h) => h.uri);
      expect(uris).toEqual(
        consumer.kind === 'audio' ? ['urn:ietf:params:rtp-hdrext:ssrc-audio-level'] : ['urn:3gpp:video-orientation'],
      );
      // Video keeps RTX (and NACK) over the plain hop, as with mediasoup.
      expect(consumer.rtpParameters.encodings?.[0].rtx).toEqual(
        consumer.kind === 'video' ? { ssrc: expect.any(Number) } : undefined,
      );
      const producer = await ingress.produce({
        kind: consumer.kind,
        rtpParameters: {
          codecs: consumer.rtpParameters.codecs,
          headerExtensions: consumer.rtpParameters.headerExtensions,
          encodings: consumer.rtpParameters.encodings,
        },
      });
      await b.participant.call<string>('consume', producer.id);
      hops.push({ kind: consumer.kind, ingress, egress, consumer, tuples });
    }

    const figures = await waitForMediaFlow(b.participant, { video: 1, audio: 1, audible: true, timeoutMs: 20_000 });
    const video = figures.find((f) => f.kind === 'video')!;
    expect(video.frameWidth).toBeGreaterThan(0);
    console.log(
      `plain RTP relay: b decodes ${video.framesDecoded} frames at ${video.frameWidth}x${video.frameHeight}, ` +
        `audio level ${figures.find((f) => f.kind === 'audio')!.audioLevel.toFixed(3)}`,
    );

    for (const hop of hops) {
      // comedia learned the egress socket as its peer, once.
      expect(hop.tuples).toHaveLength(1);
      expect(hop.ingress.tuple).toMatchObject({ remoteIp: '127.0.0.1', remotePort: hop.egress.tuple.localPort });
      // RTP and, beyond it, sender reports (one a second).
      const egressStat = await waitFor(
        async () => {
          const [stat] = await hop.egress.getStats();
          return stat.rtpBytesSent > 0 && stat.bytesSent > stat.rtpBytesSent && stat;
        },
        { what: `a sender report on the ${hop.kind} hop`, diagnose: () => hop.egress.getStats() },
      );
      expect(egressStat).toMatchObject({ type: 'plain-rtp-transport', rtcpMux: true, comedia: false });
    }
    // A keyframe asked for b's video on router B goes to the plain producer,
    // whose PLI crosses the plain hop back to router A's consumer (and on to a).
    const videoHop = hops.find((h) => h.kind === 'video')!;
    const plis = async (): Promise<number> =>
      (await videoHop.consumer.getStats()).find((s) => s.type === 'outbound-rtp')!.pliCount;
    const before = await plis();
    const bVideo = [...b.consumers.values()].find((c) => c.kind === 'video') as unknown as mediasoup.types.Consumer;
    await bVideo.requestKeyFrame();
    await waitFor(async () => (await plis()) > before, { what: 'the PLI crossing the plain hop' });
    roomA.close();
    roomB.close();
  });
});
