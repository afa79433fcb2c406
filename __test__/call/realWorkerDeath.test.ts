/**
 * The pool over REAL opencall workers: a worker thread that panics under a
 * call in SFU mode is replaced, and the call is rebuilt on a live worker
 * (`media-server-lost`). The fake-media unit test covers the rules; this
 * covers the real 'died' path end to end (thread panic → N-API event →
 * Worker 'died' → pool → CallService).
 */
import { createWorker } from '../../lib';
import { CallService } from '../../lib/call/CallService';
import { MediaServerPool } from '../../lib/call/pool';
import type { CallSignal } from '../../lib/call/CallService';
import { autoAcknowledge } from './harness';

jest.setTimeout(30_000);

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const end = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a worker that dies under an SFU call is replaced and the call moves to a live worker', async () => {
  const pool = new MediaServerPool({ numWorkers: 2, createWorker: (settings) => createWorker(settings) });
  const service = new CallService({ pool, prewarm: false, hysteresisMs: 60_000 });
  const signals: CallSignal[] = [];
  service.on('signal', (s) => signals.push(s));
  autoAcknowledge(service);
  try {
    for (const id of ['a', 'b', 'c']) await service.join('room', { participantId: id, conversationType: 'group' });
    const sfu = await waitFor(async () => {
      const call = await service.getCall('room');
      return call?.mode === 'sfu' && !call.transition ? call : undefined;
    }, 'the call in SFU');
    const router = pool.routerOf('room') as any;
    expect(router).toBeDefined();
    const workersBefore = pool.load.map((w) => w.pid);
    const victim = pool.load.find((w) => w.calls === 1)!.pid;

    // Make that worker thread panic (test-only request, see globalSetup).
    const worker = (router.channel as any);
    await worker.request('worker.debugPanic').catch(() => undefined);

    const rebuilt = await waitFor(async () => {
      const call = await service.getCall('room');
      return call?.routerId && call.routerId !== sfu.routerId && call.mode === 'sfu' && !call.transition ? call : undefined;
    }, 'the call rebuilt on another router');
    expect(rebuilt.participants.map((p) => p.id).sort()).toEqual(['a', 'b', 'c']);
    const switches = signals.filter((s) => s.event === 'call:mode-switch').map((s) => (s.payload as any).trigger);
    expect(switches).toEqual(['participant-joined', 'media-server-lost']);
    const live = pool.load;
    expect(live).toHaveLength(2);
    expect(live.map((w) => w.pid)).not.toContain(victim);
    expect(live.map((w) => w.pid).filter((p) => workersBefore.includes(p))).toHaveLength(1);
    const newRouter = pool.routerOf('room') as any;
    expect(newRouter.closed).toBe(false);
    expect((await newRouter.dump()).id).toBe(newRouter.id);
  } finally {
    service.close?.();
    pool.close();
  }
});
