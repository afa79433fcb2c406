// The client's ICE restarts for a lost SFU transport, on fake timers: when
// they start, that they never overlap, how they back off, and when they stop.
// (The browser test iceRestart.test.ts runs them against real Chromium.)
import { IceRecovery } from '../../lib/client/iceRecovery';

function setup(firstDelayMs?: number) {
  let state = 'connected';
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const reports: string[] = [];
  let restarted = 0;
  const recovery = new IceRecovery({
    restart: () => new Promise<boolean>((resolve, reject) => pending.push({ resolve: () => resolve(true), reject })),
    state: () => state,
    restarted: () => (restarted += 1),
    report: (e) => reports.push(e.message),
    firstDelayMs,
  });
  const set = (s: string) => {
    state = s;
    recovery.onState(s);
  };
  // Lets the restart promise's handlers run.
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { recovery, set, pending, reports, restarted: () => restarted, settle };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('disconnected: one restart after the delay, none if it comes back first', async () => {
  const t = setup();
  t.set('disconnected');
  jest.advanceTimersByTime(1_999);
  expect(t.pending).toHaveLength(0);
  jest.advanceTimersByTime(1);
  expect(t.pending).toHaveLength(1);
  t.pending[0].resolve();
  await t.settle();
  expect(t.restarted()).toBe(1);
  t.set('connected');
  jest.advanceTimersByTime(60_000);
  expect(t.pending).toHaveLength(1);

  // A blip shorter than the delay costs nothing.
  t.set('disconnected');
  jest.advanceTimersByTime(1_000);
  t.set('connected');
  jest.advanceTimersByTime(60_000);
  expect(t.pending).toHaveLength(1);
});

test('failed: at once, but never over a restart still under way; then backing off to 30 s', async () => {
  const t = setup();
  t.set('failed');
  expect(t.pending).toHaveLength(1);
  t.set('disconnected');
  t.set('failed');
  jest.advanceTimersByTime(10_000);
  expect(t.pending).toHaveLength(1); // the first has not answered yet

  const gaps: number[] = [];
  for (let i = 0; i < 7; i++) {
    t.pending.at(-1)!.resolve();
    await t.settle();
    const before = t.pending.length;
    let waited = 0;
    while (t.pending.length === before && waited < 120_000) {
      jest.advanceTimersByTime(500);
      waited += 500;
    }
    gaps.push(waited);
  }
  expect(gaps).toEqual([4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  // Told once, after five restarts without a connection; it keeps trying.
  expect(t.reports).toEqual(['no connection after 5 ICE restarts; still trying']);
});

test('a failed request is retried; a transport the server no longer has is given up and reported', async () => {
  const t = setup();
  t.set('failed');
  t.pending[0].reject(Object.assign(new Error('socket disconnected'), { code: 'DISCONNECTED' }));
  await t.settle();
  expect(t.reports).toEqual([]);
  jest.advanceTimersByTime(4_000);
  expect(t.pending).toHaveLength(2);
  t.pending[1].reject(Object.assign(new Error('transport not found'), { code: 'MEDIA_OBJECT_NOT_FOUND' }));
  await t.settle();
  expect(t.reports).toEqual(['transport not found']);
  t.set('failed');
  jest.advanceTimersByTime(120_000);
  expect(t.pending).toHaveLength(2);
});

test('stop() ends it; a zero delay is not a busy loop', async () => {
  const t = setup(0);
  t.set('disconnected');
  jest.advanceTimersByTime(499);
  expect(t.pending).toHaveLength(0);
  jest.advanceTimersByTime(1);
  expect(t.pending).toHaveLength(1);
  t.recovery.stop();
  t.pending[0].resolve();
  await t.settle();
  expect(t.restarted()).toBe(0);
  jest.advanceTimersByTime(120_000);
  expect(t.pending).toHaveLength(1);
});

test('a transport that fails again waits for the backoff; one that connects meanwhile or closes is left alone', async () => {
  const t = setup();
  t.set('failed');
  t.pending[0].resolve();
  await t.settle();
  expect(t.restarted()).toBe(1);
  // Failing again right after the restart does not restart at once.
  t.set('failed');
  jest.advanceTimersByTime(3_999);
  expect(t.pending).toHaveLength(1);
  jest.advanceTimersByTime(1);
  expect(t.pending).toHaveLength(2);

  // Connected while that restart is under way: no more restarts.
  t.set('connected');
  t.pending[1].resolve();
  await t.settle();
  jest.advanceTimersByTime(120_000);
  expect(t.pending).toHaveLength(2);

  // A later outage starts over from the first delay; closing ends it.
  t.set('disconnected');
  jest.advanceTimersByTime(2_000);
  expect(t.pending).toHaveLength(3);
  t.set('closed');
  t.pending[2].resolve();
  await t.settle();
  jest.advanceTimersByTime(120_000);
  expect(t.pending).toHaveLength(3);
  expect(t.restarted()).toBe(2);
});

test('retryNow() runs a restart waiting for its backoff at once, and starts the backoff over', async () => {
  const t = setup();
  t.set('failed');
  t.pending[0].reject(new Error('socket disconnected'));
  await t.settle();
  t.recovery.retryNow();
  expect(t.pending).toHaveLength(2);
  t.recovery.retryNow(); // one at a time
  expect(t.pending).toHaveLength(2);
  t.pending[1].reject(new Error('socket disconnected'));
  await t.settle();
  jest.advanceTimersByTime(3_999);
  expect(t.pending).toHaveLength(2);
  jest.advanceTimersByTime(1);
  expect(t.pending).toHaveLength(3);
  // Nothing waiting (connected): nothing to run.
  t.set('connected');
  t.pending[2].resolve();
  await t.settle();
  t.recovery.retryNow();
  expect(t.pending).toHaveLength(3);
});
