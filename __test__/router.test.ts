import * as mediasoup from '../lib';
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

describe('Router', () => {
  let worker: types.Worker;

  beforeAll(async () => {
    worker = await mediasoup.createWorker();
  });

  afterAll(() => worker.close());

  test('createRouter() emits newrouter and exposes capabilities', async () => {
    const onNewRouter = jest.fn();
    worker.observer.once('newrouter', onNewRouter);
    const router = await worker.createRouter<{ room: string }>({ mediaCodecs, appData: { room: 'a' } });
    expect(onNewRouter).toHaveBeenCalledWith(router);
    expect(typeof router.id).toBe('string');
    expect(router.closed).toBe(false);
    expect(router.appData).toEqual({ room: 'a' });
    const mimeTypes = router.rtpCapabilities.codecs!.map((c) => c.mimeType);
    expect(mimeTypes).toEqual(['audio/opus', 'video/VP8', 'video/rtx']);
    const dump = await router.dump();
    expect(dump.id).toBe(router.id);
    expect(dump.transportIds).toEqual([]);
    router.close();
  });

  test('createRouter() with bad arguments rejects with TypeError', async () => {
    await expect(worker.createRouter({ mediaCodecs: {} as any })).rejects.toThrow(TypeError);
    await expect(worker.createRouter({ appData: 'NOT-AN-OBJECT' as any })).rejects.toThrow(TypeError);
    await expect(
      worker.createRouter({ mediaCodecs: [{ kind: 'audio', clockRate: 48000 } as any] }),
    ).rejects.toThrow(TypeError);
  });

  test('createRouter() with an unsupported codec rejects with UnsupportedError', async () => {
    await expect(
      worker.createRouter({
        mediaCodecs: [{ kind: 'audio', mimeType: 'audio/chicken', clockRate: 4444, channels: 2 }],
      }),
    ).rejects.toThrow(UnsupportedError);
  });

  test('close() emits observer close once and the worker forgets it', async () => {
    const router = await worker.createRouter({ mediaCodecs });
    const onClose = jest.fn();
    router.observer.on('close', onClose);
    router.close();
    router.close();
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(router.closed).toBe(true);
    await expect(router.dump()).rejects.toThrow(InvalidStateError);
    expect((await worker.dump()).routerIds).not.toContain(router.id);
  });

  test('canConsume() is false for an unknown producer', async () => {
    const router = await worker.createRouter({ mediaCodecs });
    expect(router.canConsume({ producerId: 'nope', rtpCapabilities: router.rtpCapabilities })).toBe(false);
    router.close();
  });
});

describe('module exports', () => {
  test('version, workerBin, getSupportedRtpCapabilities(), parseScalabilityMode()', () => {
    expect(mediasoup.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof mediasoup.workerBin).toBe('string');
    const caps = mediasoup.getSupportedRtpCapabilities();
    const mimeTypes = new Set(caps.codecs!.map((c) => c.mimeType.toLowerCase()));
    for (const m of ['audio/opus', 'audio/multiopus', 'audio/pcmu', 'audio/pcma', 'audio/g722', 'video/vp8', 'video/vp9', 'video/h264', 'video/h265', 'video/av1']) {
      expect(mimeTypes.has(m)).toBe(true);
    }
    // A fresh copy: mutating it must not affect the next call.
    caps.codecs!.length = 0;
    expect(mediasoup.getSupportedRtpCapabilities().codecs!.length).toBeGreaterThan(10);
    expect(mediasoup.parseScalabilityMode('L2T3')).toEqual({ spatialLayers: 2, temporalLayers: 3, ksvc: false });
    expect(mediasoup.parseScalabilityMode('S3T3_KEY' as any).ksvc).toBe(true);
  });
});
