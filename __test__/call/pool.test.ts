// MediaServerPool's choice of worker for a new router: the least busy (CPU
// read from each worker), and by calls among workers about as busy.
import { MediaServerPool } from '../../lib/call/pool';
import { fakeWorkerFactory, type FakeRouter, type FakeWorker } from './fakeMedia';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MediaServerPool', () => {
  test('a new call goes to the least busy worker, whatever the call counts', async () => {
    const media = fakeWorkerFactory();
    const pool = new MediaServerPool({ numWorkers: 2, createWorker: media.factory, loadSampleIntervalMs: 0 });
    try {
      // No CPU read yet: by calls, one each.
      const workerOf = async (call: string): Promise<FakeWorker> =>
        ((await pool.acquireRouter(call)) as unknown as FakeRouter).worker;
      const busyOne = await workerOf('a');
      const idleOne = await workerOf('b');
      expect(new Set([busyOne, idleOne])).toEqual(new Set(media.workers));

      // The first worker's call takes most of a core; the other is idle.
      await pool.sampleLoads();
      await pause(100);
      busyOne.cpuMs += 80;
      idleOne.cpuMs += 2;
      await pool.sampleLoads();
      const loads = new Map(pool.load.map((l) => [l.pid, l.cpu]));
      expect(loads.get(busyOne.pid)).toBeGreaterThan(0.5);
      expect(loads.get(idleOne.pid)).toBeLessThan(0.1);
      // Three new calls: all on the idle worker, although it then carries more.
      for (const call of ['c', 'd', 'e']) {
        expect(await workerOf(call)).toBe(idleOne);
      }
      expect(pool.load.find((l) => l.pid === idleOne.pid)?.calls).toBe(4);

      // Both about as busy: calls decide again.
      await pause(100);
      busyOne.cpuMs += 5;
      idleOne.cpuMs += 5;
      await pool.sampleLoads();
      expect(await workerOf('f')).toBe(busyOne);
    } finally {
      pool.close();
    }
  });

  test('the loads are read on their own every loadSampleIntervalMs', async () => {
    const media = fakeWorkerFactory();
    const pool = new MediaServerPool({ numWorkers: 1, createWorker: media.factory, loadSampleIntervalMs: 20 });
    try {
      await pool.start();
      const [worker] = media.workers;
      const started = Date.now();
      while (pool.load[0].cpu === 0 && Date.now() - started < 3_000) {
        worker.cpuMs += 10;
        await pause(10);
      }
      expect(pool.load[0].cpu).toBeGreaterThan(0.2);
    } finally {
      pool.close();
    }
  });
});
