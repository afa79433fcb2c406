import * as mediasoup from '../lib';
import { InvalidStateError } from '../lib/errors';
import type { types } from '../lib';

describe('createWorker()', () => {
  test('succeeds with default settings and exposes mediasoup\'s properties', async () => {
    const onNewWorker = jest.fn();
    mediasoup.observer.once('newworker', onNewWorker);
    const worker = await mediasoup.createWorker();
    try {
      expect(onNewWorker).toHaveBeenCalledWith(worker);
      expect(typeof worker.pid).toBe('number');
      expect(worker.pid).toBeGreaterThan(0);
      // The worker is a thread of this process: its id is a task of ours.
      const fs = await import('node:fs');
      expect(fs.existsSync(`/proc/self/task/${worker.pid}`)).toBe(true);
      expect(worker.closed).toBe(false);
      expect(worker.died).toBe(false);
      expect(worker.subprocessClosed).toBe(false);
      expect(worker.appData).toEqual({});
    } finally {
      worker.close();
    }
    expect(worker.closed).toBe(true);
  });

  test('with settings and appData', async () => {
    const worker = await mediasoup.createWorker<{ foo: number }>({
      logLevel: 'debug',
      logTags: ['info'],
      rtcMinPort: 40000,
      rtcMaxPort: 40100,
      appData: { foo: 123 },
    });
    expect(worker.appData).toEqual({ foo: 123 });
    worker.appData.foo = 456;
    expect(worker.appData.foo).toBe(456);
    worker.close();
  });

  test.each([
    [{ logLevel: 'chicken' }],
    [{ rtcMinPort: 1000, rtcMaxPort: 999 }],
    [{ rtcMinPort: 70000 }],
    [{ appData: 'NOT-AN-OBJECT' }],
    [{ dtlsCertificateFile: '/nonexistent/cert.pem', dtlsPrivateKeyFile: '/nonexistent/key.pem' }],
  ])('rejects bad settings %j with TypeError', async (settings) => {
    await expect(mediasoup.createWorker(settings as any)).rejects.toThrow(TypeError);
  });

  test('loads a PEM certificate and key', async () => {
    const { execFileSync } = await import('node:child_process');
    const os = await import('node:os');
    const path = await import('node:path');
    const fs = await import('node:fs');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencall-cert-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=opencall-test',
    ], { stdio: 'ignore' });
    const worker = await mediasoup.createWorker({ dtlsCertificateFile: cert, dtlsPrivateKeyFile: key });
    expect(worker.closed).toBe(false);
    worker.close();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('Worker', () => {
  let worker: types.Worker;

  beforeEach(async () => {
    worker = await mediasoup.createWorker();
  });

  afterEach(() => worker.close());

  test('dump() lists its routers', async () => {
    const router = await worker.createRouter();
    const dump = await worker.dump();
    expect(dump.pid).toBe(worker.pid);
    expect(dump.routerIds).toEqual([router.id]);
    expect(dump.webRtcServerIds).toEqual([]);
  });

  test('getResourceUsage() reports the thread\'s real CPU time', async () => {
    const before = await worker.getResourceUsage();
    for (const key of ['ru_utime', 'ru_stime', 'ru_maxrss', 'ru_nvcsw', 'ru_nivcsw', 'ru_minflt'] as const) {
      expect(typeof before[key]).toBe('number');
    }
    // Make the worker thread busy: router creation runs the ORTC code there.
    for (let i = 0; i < 300; i++) {
      const router = await worker.createRouter({
        mediaCodecs: [
          { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
          { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
        ],
      });
      router.close();
    }
    const after = await worker.getResourceUsage();
    expect(after.ru_utime + after.ru_stime).toBeGreaterThan(before.ru_utime + before.ru_stime);
    // Per-thread figures: far below this whole process's CPU time.
    const proc = process.cpuUsage();
    expect(after.ru_utime).toBeLessThan(proc.user / 1000);
  });

  test('updateSettings() validates and applies', async () => {
    await expect(worker.updateSettings({ logLevel: 'debug', logTags: ['ice'] })).resolves.toBeUndefined();
    await expect(worker.updateSettings({ logLevel: 'foo' as any })).rejects.toThrow(TypeError);
  });

  test('close() closes its routers once, emits observer close and subprocessclose', async () => {
    const router1 = await worker.createRouter();
    const router2 = await worker.createRouter();
    const onWorkerClose = jest.fn();
    const onRouterClose = jest.fn();
    const onWorkerCloseEvent = jest.fn();
    worker.observer.on('close', onWorkerClose);
    router1.on('workerclose', onWorkerCloseEvent);
    router1.observer.on('close', onRouterClose);
    router2.observer.on('close', onRouterClose);
    const subprocessClosed = new Promise<void>((resolve) => worker.on('subprocessclose', resolve));
    worker.close();
    worker.close();
    expect(onWorkerClose).toHaveBeenCalledTimes(1);
    expect(onWorkerCloseEvent).toHaveBeenCalledTimes(1);
    expect(onRouterClose).toHaveBeenCalledTimes(2);
    expect(router1.closed).toBe(true);
    expect(router2.closed).toBe(true);
    await subprocessClosed;
    expect(worker.subprocessClosed).toBe(true);
    await expect(worker.dump()).rejects.toThrow(InvalidStateError);
    await expect(worker.createRouter()).rejects.toThrow(InvalidStateError);
  });

  test('a panic in the worker thread emits died and Node lives on', async () => {
    const router = await worker.createRouter();
    const died = new Promise<Error>((resolve) => worker.on('died', resolve));
    const onObserverClose = jest.fn();
    worker.observer.on('close', onObserverClose);
    const pending = (worker as any).channel.request('worker.debugPanic');
    await expect(pending).rejects.toThrow(InvalidStateError);
    const error = await died;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/panic/);
    expect(worker.died).toBe(true);
    expect(worker.closed).toBe(true);
    expect(router.closed).toBe(true);
    expect(onObserverClose).toHaveBeenCalledTimes(1);
    // Other workers are unaffected.
    const other = await mediasoup.createWorker();
    const otherRouter = await other.createRouter();
    expect((await other.dump()).routerIds).toEqual([otherRouter.id]);
    other.close();
  });
});
