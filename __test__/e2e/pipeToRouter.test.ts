// pipeToRouter() end to end: a browser's simulcast video and audio on a
// router of one worker, piped to a router of another worker (PipeTransports
// over loopback UDP), consumed there by a second browser, which decodes
// them and switches between the simulcast layers the pipe carried across.
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

describe('pipeToRouter end to end (two workers, two browsers)', () => {
  let workers: mediasoup.types.Worker[] = [];
  let harness: E2eHarness;

  beforeAll(async () => {
    workers = await Promise.all([0, 1].map(() => mediasoup.createWorker({ logLevel: 'warn' })));
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    workers.forEach((w) => w.close());
  });

  it('a browser on another worker decodes piped audio and simulcast video, and its layers', async () => {
    const [routerA, routerB] = await Promise.all(workers.map((w) => w.createRouter({ mediaCodecs })));
    const roomA = new SfuRoom(routerA as unknown as RouterLike);
    const roomB = new SfuRoom(routerB as unknown as RouterLike);
    const a = roomA.add(await harness.join('a', 'sfu'));
    const b = roomB.add(await harness.join('b', 'sfu'));
    const joined = await a.participant.call<SfuJoinResult>('join', { simulcast: true, width: 640, height: 480 });
    await b.participant.call<SfuJoinResult>('join', { audio: false, video: false });

    const piped: mediasoup.types.PipeToRouterResult[] = [];
    for (const producerId of [joined.audioProducerId!, joined.videoProducerId!]) {
      const result = await routerA.pipeToRouter({ producerId, router: routerB });
      expect(result.pipeConsumer?.type).toBe('pipe');
      // Same id on the other router, so that it is consumed as it was produced.
      expect(result.pipeProducer?.id).toBe(producerId);
      piped.push(result);
    }
    // Audio levels cross the pipe: an observer on the far router hears a.
    const observer = await routerB.createAudioLevelObserver({ interval: 500, threshold: -80 });
    await observer.addProducer({ producerId: joined.audioProducerId! });
    const volumes: { producerId: string; volume: number }[] = [];
    observer.on('volumes', (v) => volumes.push({ producerId: v[0].producer.id, volume: v[0].volume }));
    const video = piped[1].pipeProducer!;
    expect(video.type).toBe('simulcast');
    expect(video.rtpParameters.encodings).toHaveLength(2);

    const [, videoConsumerId] = [
      await b.participant.call<string>('consume', joined.audioProducerId),
      await b.participant.call<string>('consume', joined.videoProducerId),
    ];
    const figures = await waitForMediaFlow(b.participant, { video: 1, audio: 1, audible: true, timeoutMs: 20_000 });
    console.log(
      `piped across workers: b decodes ${figures.find((f) => f.kind === 'video')!.framesDecoded} frames, ` +
        `audio level ${figures.find((f) => f.kind === 'audio')!.audioLevel.toFixed(3)}`,
    );

    await waitFor(() => volumes.length > 0, { timeoutMs: 10_000, what: 'audio levels of the piped producer' });
    expect(volumes[0].producerId).toBe(joined.audioProducerId);

    // Both layers crossed the pipe: b's consumer moves between them.
    const consumer = b.consumers.get(videoConsumerId) as unknown as mediasoup.types.Consumer;
    const width = async (): Promise<number> =>
      (await b.participant.stats()).find((r) => r.id === videoConsumerId)?.frameWidth ?? 0;
    await waitFor(async () => (await width()) === 640, { timeoutMs: 20_000, what: 'the top layer at 640 px' });
    await consumer.setPreferredLayers({ spatialLayer: 0 });
    await waitFor(async () => consumer.currentLayers?.spatialLayer === 0 && (await width()) === 320, {
      timeoutMs: 15_000,
      what: 'the lower layer at 320 px',
      diagnose: async () => ({ layers: consumer.currentLayers, width: await width() }),
    });
    await consumer.setPreferredLayers({ spatialLayer: 1 });
    await waitFor(async () => (await width()) === 640, { timeoutMs: 15_000, what: 'back to 640 px' });

    // Pausing the original pauses the copy; closing it closes the copy, and
    // b's consumer hears producerclose.
    const original = a.producers.get(joined.videoProducerId!) as unknown as mediasoup.types.Producer;
    await original.pause();
    await waitFor(() => video.paused, { what: 'the piped producer paused' });
    await original.resume();
    await waitFor(() => !video.paused, { what: 'the piped producer resumed' });
    const heard = new Promise<void>((resolve) => consumer.on('producerclose', () => resolve()));
    original.close();
    await heard;
    expect(video.closed).toBe(true);
    expect(piped[1].pipeConsumer?.closed).toBe(true);
    roomA.close();
    roomB.close();
  });
});
