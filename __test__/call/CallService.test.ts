import { CallService } from '../../lib/call/CallService';
import {
  DEFAULT_MAX_PARTICIPANTS_PER_ROUTER,
  MediaServerPool,
  resolveMaxParticipantsPerRouter,
} from '../../lib/call/pool';
import { MemoryCallStore } from '../../lib/call/store/memory';
import { CallError, NotCallOwnerError } from '../../lib/call/errors';
import { autoAcknowledge, createHarness, type Harness } from './harness';
import { fakeWorkerFactory, type FakeWorker } from './fakeMedia';

const bad = { packetLossPercent: 12, rttMs: 80, bitrateKbps: 600 };
const fine = { packetLossPercent: 0, rttMs: 40, bitrateKbps: 900 };

let h: Harness;
const group = (id: string, extra = {}) => ({ participantId: id, conversationType: 'group' as const, ...extra });

async function joinAll(callId: string, ids: string[], extra = {}) {
  for (const id of ids) await h.service.join(callId, group(id, extra));
}

async function call(callId = 'c') {
  return (await h.service.getCall(callId))!;
}

beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(async () => {
  await h?.service.close();
  jest.useRealTimers();
});

describe('mode by participant count', () => {
  test('a group switches to SFU when the third joins, make-before-break', async () => {
    h = createHarness();
    autoAcknowledge(h.service);
    await joinAll('c', ['a', 'b']);
    expect((await call()).mode).toBe('p2p');

    const result = await h.service.join('c', group('x'));
    const [switchSignal] = h.sent('call:mode-switch');
    expect(switchSignal.payload).toMatchObject({ callId: 'c', mode: 'sfu', trigger: 'participant-joined', initiator: 'x' });
    expect(switchSignal.payload.rtpCapabilities).toBeDefined();
    expect(result.call.transition).toMatchObject({ from: 'p2p', to: 'sfu' });
    // Old path still in use until every participant acknowledged.
    expect((await call()).mode).toBe('p2p');

    await jest.advanceTimersByTimeAsync(100);
    expect((await call()).mode).toBe('sfu');
    expect(h.sent('call:mode-switched').map((s) => s.payload)).toEqual([
      { callId: 'c', transitionId: switchSignal.payload.transitionId, success: true, mode: 'sfu' },
    ]);
    expect(h.started).toHaveLength(1);
    expect(h.completed[0]).toMatchObject({ from: 'p2p', to: 'sfu', durationMs: 50 });
  });

  test('a direct call stays P2P and is refused beyond the mesh limit', async () => {
    h = createHarness({ meshLimit: 3 });
    for (const id of ['a', 'b', 'c']) await h.service.join('d', { participantId: id, conversationType: 'direct' });
    expect((await call('d')).mode).toBe('p2p');
    expect(h.started).toHaveLength(0);
    await expect(h.service.join('d', { participantId: 'e', conversationType: 'direct' })).rejects.toMatchObject({
      code: 'CALL_CAPACITY_EXCEEDED',
    });
    expect((await call('d')).participants).toHaveLength(3);
  });

  test('an unsupported conversation type is refused', async () => {
    h = createHarness();
    await expect(h.service.join('c', { participantId: 'a', conversationType: 'webinar' as never })).rejects.toThrow(
      /unsupported conversation type/,
    );
    expect(await h.service.getCall('c')).toBeUndefined();
  });

  test('the limit is configurable per service and per call', async () => {
    h = createHarness({ p2pParticipantLimit: 3 });
    autoAcknowledge(h.service);
    await joinAll('c', ['a', 'b', 'c']);
    expect(h.started).toHaveLength(0);
    await joinAll('small', ['a', 'b'], { p2pParticipantLimit: 1 });
    expect(h.started).toEqual([expect.objectContaining({ callId: 'small', to: 'sfu' })]);
    await h.service.join('c', group('d'));
    expect(h.started[1]).toMatchObject({ callId: 'c', to: 'sfu' });
  });

  test('P2P_PARTICIPANT_LIMIT sets the service default', async () => {
    process.env.P2P_PARTICIPANT_LIMIT = '4';
    try {
      h = createHarness();
      expect(h.service.p2pParticipantLimit).toBe(4);
    } finally {
      delete process.env.P2P_PARTICIPANT_LIMIT;
    }
  });
});

describe('SFU -> P2P', () => {
  async function inSfu(options = {}) {
    h = createHarness(options);
    autoAcknowledge(h.service);
    await joinAll('c', ['a', 'b', 'x']);
    await jest.advanceTimersByTimeAsync(100);
    expect((await call()).mode).toBe('sfu');
  }

  test('only after the count stayed at the limit for the hysteresis delay', async () => {
    await inSfu({ minTransitionIntervalMs: 0 });
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(9_999);
    expect(h.started).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(h.started[1]).toMatchObject({ from: 'sfu', to: 'p2p', trigger: 'participant-left' });
    await jest.advanceTimersByTimeAsync(100);
    expect((await call()).mode).toBe('p2p');
  });

  test('a rejoin inside the hysteresis delay cancels it', async () => {
    await inSfu();
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(5_000);
    await h.service.join('c', group('x'));
    await jest.advanceTimersByTimeAsync(60_000);
    expect(h.started).toHaveLength(1);
    expect((await call()).mode).toBe('sfu');
  });

  test('a leave-rejoin-leave restarts the delay from the second leave', async () => {
    await inSfu({ minTransitionIntervalMs: 0 });
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(6_000);
    await h.service.join('c', group('x'));
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(9_000);
    expect(h.started).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(h.started).toHaveLength(2);
  });

  test('never sooner than the minimum interval after the previous transition', async () => {
    await inSfu({ hysteresisMs: 1_000, minTransitionIntervalMs: 30_000 });
    const switchedAt = Date.now();
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(29_800);
    expect(h.started).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(200);
    expect(h.started).toHaveLength(2);
    expect(Date.now() - switchedAt).toBeGreaterThanOrEqual(30_000);
  });
});

describe('quality', () => {
  test('sustained degradation at the limit switches P2P -> SFU, never one sample', async () => {
    h = createHarness({ quality: { windowMs: 3_000, minSamples: 3 } });
    autoAcknowledge(h.service);
    const updates: any[] = [];
    h.service.on('quality-update', (u) => updates.push(u));
    await joinAll('c', ['a', 'b']);

    await h.service.reportQuality('c', 'a', bad);
    expect(updates[0]).toMatchObject({ participantId: 'a', problems: ['packet-loss'], sustained: false });
    expect(h.started).toHaveLength(0);
    for (let i = 0; i < 2; i++) {
      await jest.advanceTimersByTimeAsync(1_000);
      await h.service.reportQuality('c', 'a', bad);
    }
    expect(h.started).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1_000);
    await h.service.reportQuality('c', 'a', bad);
    expect(h.started).toEqual([expect.objectContaining({ to: 'sfu', trigger: 'quality-degraded', initiator: 'a' })]);
    await jest.advanceTimersByTimeAsync(100);
    expect((await call()).mode).toBe('sfu');

    // The quality switch holds while the call keeps its size: the count alone
    // would send it straight back to the mesh that was failing.
    await jest.advanceTimersByTimeAsync(60_000);
    expect((await call()).mode).toBe('sfu');
    // Once it shrinks, the normal rule applies.
    await h.service.leave('c', 'b');
    await jest.advanceTimersByTimeAsync(10_100);
    expect((await call()).mode).toBe('p2p');
  });

  test('a good sample in between resets the window; below the limit nothing switches', async () => {
    h = createHarness({ quality: { windowMs: 2_000, minSamples: 2 } });
    await h.service.join('solo', group('a'));
    for (let i = 0; i < 5; i++) {
      await h.service.reportQuality('solo', 'a', bad);
      await jest.advanceTimersByTimeAsync(1_000);
    }
    expect(h.started).toHaveLength(0);

    await joinAll('c', ['a', 'b']);
    await h.service.reportQuality('c', 'b', { ...fine, rttMs: 400 });
    await jest.advanceTimersByTimeAsync(1_000);
    await h.service.reportQuality('c', 'b', fine);
    await jest.advanceTimersByTimeAsync(1_000);
    await h.service.reportQuality('c', 'b', { ...fine, bitrateKbps: 20 });
    expect(h.started).toHaveLength(0);
  });

  test('bad samples are rejected as TypeErrors', async () => {
    h = createHarness();
    await h.service.join('c', group('a'));
    await expect(h.service.reportQuality('c', 'a', { rttMs: 1 } as never)).rejects.toThrow(TypeError);
  });
});

describe('pre-warming', () => {
  test('the router is created when a P2P call reaches the limit, released when it shrinks', async () => {
    h = createHarness();
    await h.service.join('c', group('a'));
    expect(h.service.pool.load.reduce((n, w) => n + w.calls, 0)).toBe(0);
    const joined = await h.service.join('c', group('b'));
    expect(joined.call).toMatchObject({ mode: 'p2p', prewarmed: true });
    expect(joined.rtpCapabilities).toBeDefined();
    expect(h.service.pool.load.reduce((n, w) => n + w.calls, 0)).toBe(1);
    expect(h.sent('call:prewarm')[0].payload).toMatchObject({ callId: 'c', rtpCapabilities: expect.any(Object) });

    // Clients may build their SFU transports ahead of time.
    const transport = await h.service.createWebRtcTransport('c', 'a');
    expect(transport.iceCandidates.length).toBeGreaterThan(0);

    await h.service.leave('c', 'b');
    expect(h.sent('call:prewarm-released')).toHaveLength(1);
    expect((await call()).prewarmed).toBe(false);
    expect(h.service.pool.load.reduce((n, w) => n + w.calls, 0)).toBe(0);
    await expect(h.service.createWebRtcTransport('c', 'a')).rejects.toMatchObject({ code: 'NO_ROUTER' });
  });

  test('the switch reuses the pre-warmed router', async () => {
    h = createHarness();
    autoAcknowledge(h.service);
    await joinAll('c', ['a', 'b']);
    const prewarmed = (await call()).routerId;
    await h.service.join('c', group('x'));
    await jest.advanceTimersByTimeAsync(100);
    expect((await call()).routerId).toBe(prewarmed);
    expect(h.media.workers.flatMap((w) => w.routers)).toHaveLength(1);
  });

  test('options turn off pre-warming, or only the client transports', async () => {
    h = createHarness({ prewarm: false });
    await joinAll('c', ['a', 'b']);
    expect((await call()).prewarmed).toBe(false);
    await h.service.close();

    h = createHarness({ prewarmTransports: false });
    await joinAll('c', ['a', 'b']);
    expect((await call()).prewarmed).toBe(true);
    expect(h.sent('call:prewarm')).toHaveLength(0);
  });
});

describe('failed transitions', () => {
  test('a timeout returns the call to its previous mode, then it retries', async () => {
    h = createHarness({ minTransitionIntervalMs: 10_000 });
    const silent = new Set(['b']);
    autoAcknowledge(h.service, { silent });
    await joinAll('c', ['a', 'b', 'x']);
    await jest.advanceTimersByTimeAsync(4_999);
    expect(h.failed).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(h.failed[0]).toMatchObject({ from: 'p2p', to: 'sfu', reason: 'timed out after 5000 ms' });
    expect(h.sent('call:mode-switched')[0].payload).toMatchObject({ success: false, mode: 'p2p' });
    expect((await call()).mode).toBe('p2p');

    silent.clear();
    await jest.advanceTimersByTimeAsync(10_100);
    expect((await call()).mode).toBe('sfu');
    expect(h.completed).toHaveLength(1);
  });

  test('a client reporting failure aborts at once; stale acks are ignored', async () => {
    h = createHarness();
    await joinAll('c', ['a', 'b', 'x']);
    const { transitionId } = h.sent('call:mode-switch')[0].payload as { transitionId: string };
    expect(await h.service.acknowledgeTransition('c', 'a', 'not-this-one')).toEqual({ accepted: false });
    await h.service.acknowledgeTransition('c', 'a', transitionId);
    await h.service.acknowledgeTransition('c', 'b', transitionId, false, 'ICE failed');
    expect(h.failed[0].reason).toBe('participant b failed: ICE failed');
    expect((await call()).mode).toBe('p2p');
    expect(await h.service.acknowledgeTransition('c', 'x', transitionId)).toEqual({ accepted: false });
  });

  test('a participant leaving mid-switch no longer holds it up', async () => {
    h = createHarness();
    await joinAll('c', ['a', 'b', 'x', 'y']);
    const { transitionId } = h.sent('call:mode-switch')[0].payload as { transitionId: string };
    for (const id of ['a', 'b', 'x']) await h.service.acknowledgeTransition('c', id, transitionId);
    await h.service.leave('c', 'y');
    expect((await call()).mode).toBe('sfu');
  });
});

describe('resource exhaustion', () => {
  test('no capacity: the call stays a mesh while it can, then joins are refused', async () => {
    h = createHarness({ meshLimit: 4, prewarm: false }, { numWorkers: 1, maxRoutersPerWorker: 1 });
    autoAcknowledge(h.service);
    await joinAll('big', ['a', 'b', 'c']);
    await jest.advanceTimersByTimeAsync(100);
    expect((await call('big')).mode).toBe('sfu');

    await joinAll('other', ['a', 'b', 'c']);
    expect(h.failed).toEqual([expect.objectContaining({ callId: 'other', reason: 'no media-server capacity available' })]);
    expect((await call('other')).mode).toBe('p2p');
    await h.service.join('other', group('d'));
    await expect(h.service.join('other', group('e'))).rejects.toMatchObject({ code: 'CALL_CAPACITY_EXCEEDED' });
    await expect(h.service.join('other', group('e'))).rejects.toThrow(/meshLimit 4\) and no media server has capacity/);
    expect((await call('other')).participants.map((p) => p.id)).toEqual(['a', 'b', 'c', 'd']);

    // Capacity comes back: the waiting call moves to the SFU.
    for (const id of ['a', 'b', 'c']) await h.service.leave('big', id);
    await jest.advanceTimersByTimeAsync(10_100);
    expect((await call('other')).mode).toBe('sfu');
  });

  test('a worker that cannot create routers counts as no capacity', async () => {
    h = createHarness({}, { numWorkers: 1 });
    await h.service.join('c', group('a'));
    await h.service.join('warm', group('z'));
    await h.service.join('warm', group('y')); // starts the pool
    h.media.workers[0].failCreateRouter = true;
    await joinAll('c', ['b', 'x']);
    expect((await call()).mode).toBe('p2p');
    expect(h.failed[0].reason).toMatch(/could not create a router/);
  });
});

describe('media-server pool', () => {
  test('routers go to the least-loaded worker', async () => {
    h = createHarness({ prewarm: false }, { numWorkers: 2 });
    autoAcknowledge(h.service);
    for (const c of ['c1', 'c2', 'c3', 'c4']) await joinAll(c, ['a', 'b', 'x']);
    expect(h.service.pool.load.map((w) => w.calls)).toEqual([2, 2]);
  });

  test('a dead worker is replaced and its calls rebuild their SFU path', async () => {
    h = createHarness({}, { numWorkers: 1 });
    autoAcknowledge(h.service);
    await joinAll('c', ['a', 'b', 'x']);
    await jest.advanceTimersByTimeAsync(100);
    const before = (await call()).routerId;
    h.media.workers[0].die();
    await jest.advanceTimersByTimeAsync(0);
    expect(h.media.workers).toHaveLength(2);
    const rebuild = h.sent('call:mode-switch')[1];
    expect(rebuild.payload).toMatchObject({ mode: 'sfu', trigger: 'media-server-lost', rtpCapabilities: expect.any(Object) });
    await jest.advanceTimersByTimeAsync(100);
    const after = await call();
    expect(after).toMatchObject({ mode: 'sfu', transition: null });
    expect(after.routerId).not.toBe(before);
    expect(h.service.pool.load).toEqual([{ pid: h.media.workers[1].pid, calls: 1, cpu: 0 }]);
  });

  test('numWorkers comes from MEDIASOUP_NUM_WORKERS', () => {
    process.env.MEDIASOUP_NUM_WORKERS = '3';
    try {
      expect(new MediaServerPool({ createWorker: fakeWorkerFactory().factory }).numWorkers).toBe(3);
    } finally {
      delete process.env.MEDIASOUP_NUM_WORKERS;
    }
    h = createHarness();
  });
});

describe('state across switches', () => {
  test('media state and chat history survive P2P -> SFU -> P2P', async () => {
    h = createHarness({ minTransitionIntervalMs: 0 });
    autoAcknowledge(h.service);
    await h.service.join('c', group('a', { media: { audio: false } }));
    await h.service.join('c', group('b'));
    await h.service.updateMedia('c', 'b', { screen: true, video: false });
    await h.service.sendChatMessage('c', 'a', 'hello');
    await h.service.join('c', group('x'));
    await jest.advanceTimersByTimeAsync(100);
    await h.service.sendChatMessage('c', 'x', 'in sfu');
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(10_100);
    const state = await call();
    expect(state.mode).toBe('p2p');
    expect(state.participants.map((p) => [p.id, p.role, p.media])).toEqual([
      ['a', 'host', { audio: false, video: true, screen: false }],
      ['b', 'participant', { audio: true, video: false, screen: true }],
    ]);
    expect((await h.service.chatHistory('c')).map((m) => m.text)).toEqual(['hello', 'in sfu']);
    const rejoin = await h.service.join('c', group('x'));
    expect(rejoin.chatHistory).toHaveLength(2);
  });

  test('the call ends with its last participant and frees its router', async () => {
    h = createHarness();
    const ended: unknown[] = [];
    h.service.on('call:ended', (e) => ended.push(e));
    await joinAll('c', ['a', 'b']);
    await h.service.leave('c', 'a');
    await h.service.leave('c', 'b');
    expect(ended).toEqual([{ callId: 'c' }]);
    expect(await h.service.getCall('c')).toBeUndefined();
    expect(await h.service.chatHistory('c')).toEqual([]);
    expect(h.service.pool.load.reduce((n, w) => n + w.calls, 0)).toBe(0);
  });
});

describe('SFU requests', () => {
  test('transports, produce, consume, and producer events', async () => {
    h = createHarness();
    autoAcknowledge(h.service);
    await joinAll('c', ['a', 'b', 'x']);
    await jest.advanceTimersByTimeAsync(100);
    const ta = await h.service.createWebRtcTransport('c', 'a');
    await h.service.connectWebRtcTransport('c', 'a', ta.id, { role: 'client', fingerprints: [] });
    const { id: producerId } = await h.service.produce('c', 'a', { transportId: ta.id, kind: 'audio', rtpParameters: {} });
    const announced = h.sent('new-producer');
    expect(announced).toEqual([
      expect.objectContaining({ except: 'a', payload: expect.objectContaining({ producerId, participantId: 'a', kind: 'audio' }) }),
    ]);

    const tb = await h.service.createWebRtcTransport('c', 'b');
    const consumer = await h.service.consume('c', 'b', { transportId: tb.id, producerId, rtpCapabilities: {} });
    expect(consumer).toMatchObject({ producerId, kind: 'audio' });
    await h.service.resumeConsumer('c', 'b', consumer.id);
    const joined = await h.service.join('c', group('y'));
    expect(joined.producers).toEqual([expect.objectContaining({ producerId })]);

    // Someone else's transport is not yours.
    await expect(
      h.service.produce('c', 'b', { transportId: ta.id, kind: 'video', rtpParameters: {} }),
    ).rejects.toMatchObject({ code: 'MEDIA_OBJECT_NOT_FOUND' });
    await expect(h.service.createWebRtcTransport('c', 'stranger')).rejects.toMatchObject({ code: 'NOT_IN_CALL' });

    await h.service.leave('c', 'a');
    expect(h.sent('producer-closed')[0].payload).toMatchObject({ producerId, participantId: 'a' });
  });
});

describe('calls spread over workers', () => {
  /** The fake router a transport of the participant was made on. */
  const routerOfTransport = (transportId: string) =>
    h.media.workers.flatMap((w) => w.routers).find((r) => r.transports.some((t) => t.id === transportId))!;

  async function sfuCall(ids: string[]) {
    autoAcknowledge(h.service);
    await joinAll('c', ids);
    await jest.advanceTimersByTimeAsync(100);
    expect((await call()).mode).toBe('sfu');
  }

  test('participants beyond maxParticipantsPerRouter go to a router on another worker, producers piped once', async () => {
    h = createHarness({ prewarm: false, maxParticipantsPerRouter: 2 }, { numWorkers: 2 });
    await sfuCall(['a', 'b', 'x', 'y']);
    const [ta, tb, tx, ty] = await Promise.all(['a', 'b', 'x', 'y'].map((p) => h.service.createWebRtcTransport('c', p)));
    const home = routerOfTransport(ta.id);
    const second = routerOfTransport(tx.id);
    expect(routerOfTransport(tb.id)).toBe(home);
    expect(routerOfTransport(ty.id)).toBe(second);
    expect(second.worker).not.toBe(home.worker);
    expect(h.service.pool.load.map((w) => w.calls)).toEqual([1, 1]);
    // Both transports of one participant are on its router.
    const ta2 = await h.service.createWebRtcTransport('c', 'a');
    expect(routerOfTransport(ta2.id)).toBe(home);

    const { id: fromA } = await h.service.produce('c', 'a', { transportId: ta.id, kind: 'video', rtpParameters: {} });
    const { id: fromX } = await h.service.produce('c', 'x', { transportId: tx.id, kind: 'audio', rtpParameters: {} });
    await h.service.consume('c', 'b', { transportId: tb.id, producerId: fromA, rtpCapabilities: {} });
    const consumers = await Promise.all([
      h.service.consume('c', 'x', { transportId: tx.id, producerId: fromA, rtpCapabilities: {} }),
      h.service.consume('c', 'y', { transportId: ty.id, producerId: fromA, rtpCapabilities: {} }),
      h.service.consume('c', 'a', { transportId: ta2.id, producerId: fromX, rtpCapabilities: {} }),
    ]);
    expect(consumers.map((c) => c.producerId)).toEqual([fromA, fromA, fromX]);
    expect(home.pipedTo).toEqual([{ producerId: fromA, router: second }]);
    expect(second.pipedTo).toEqual([{ producerId: fromX, router: home }]);

    // With the original gone, its producer cannot be consumed anywhere.
    await h.service.leave('c', 'a');
    await expect(
      h.service.consume('c', 'y', { transportId: ty.id, producerId: fromA, rtpCapabilities: {} }),
    ).rejects.toMatchObject({ code: 'MEDIA_OBJECT_NOT_FOUND' });

    // A newcomer fills the room left on the home router first.
    await h.service.join('c', group('z'));
    const tz = await h.service.createWebRtcTransport('c', 'z');
    expect(routerOfTransport(tz.id)).toBe(home);

    // The further router is given back once nobody is left on it.
    await h.service.leave('c', 'x');
    expect(second.closed).toBe(false);
    await h.service.leave('c', 'y');
    expect(second.closed).toBe(true);
    expect(home.closed).toBe(false);
    expect(h.service.pool.load.map((w) => w.calls).sort()).toEqual([0, 1]);
  });

  test('with every worker in use the call fills its least-populated router', async () => {
    h = createHarness({ prewarm: false, maxParticipantsPerRouter: 1 }, { numWorkers: 2 });
    await sfuCall(['a', 'b', 'x', 'y', 'z']);
    const transports = await Promise.all(['a', 'b', 'x', 'y', 'z'].map((p) => h.service.createWebRtcTransport('c', p)));
    const routers = transports.map((t) => routerOfTransport(t.id));
    expect(new Set(routers).size).toBe(2);
    const counts = [...new Set(routers)].map((r) => routers.filter((x) => x === r).length).sort();
    expect(counts).toEqual([2, 3]);
  });

  test('one worker: the call stays on one router', async () => {
    h = createHarness({ prewarm: false, maxParticipantsPerRouter: 1 }, { numWorkers: 1 });
    await sfuCall(['a', 'b', 'x']);
    const transports = await Promise.all(['a', 'b', 'x'].map((p) => h.service.createWebRtcTransport('c', p)));
    expect(new Set(transports.map((t) => routerOfTransport(t.id))).size).toBe(1);
  });

  test('losing the worker of a further router rebuilds the whole call on fresh routers', async () => {
    h = createHarness({ maxParticipantsPerRouter: 2 }, { numWorkers: 2 });
    await sfuCall(['a', 'b', 'x']);
    const [ta, , tx] = await Promise.all(['a', 'b', 'x'].map((p) => h.service.createWebRtcTransport('c', p)));
    const home = routerOfTransport(ta.id);
    const second = routerOfTransport(tx.id);
    (second.worker as FakeWorker).die();
    await jest.advanceTimersByTimeAsync(0);
    expect(home.closed).toBe(true);
    expect(h.sent('call:mode-switch').at(-1)!.payload).toMatchObject({ mode: 'sfu', trigger: 'media-server-lost' });
    await jest.advanceTimersByTimeAsync(100);
    expect(await call()).toMatchObject({ mode: 'sfu', transition: null });
    const again = await h.service.createWebRtcTransport('c', 'x');
    expect(routerOfTransport(again.id).closed).toBe(false);
  });

  test('a participant who leaves while a router is being added for them gets nothing, and the router is given back', async () => {
    h = createHarness({ prewarm: false, maxParticipantsPerRouter: 1 }, { numWorkers: 2 });
    await sfuCall(['a', 'b', 'x']);
    const ta = await h.service.createWebRtcTransport('c', 'a');
    const home = routerOfTransport(ta.id);
    const other = h.media.workers.find((w) => w !== home.worker)!;
    const open = other.hold();
    const pending = h.service.createWebRtcTransport('c', 'b');
    const outcome = pending.then(
      () => 'created',
      (error: CallError) => error.code,
    );
    await jest.advanceTimersByTimeAsync(0);
    await h.service.leave('c', 'b');
    open();
    expect(await outcome).toBe('MEDIA_OBJECT_NOT_FOUND');
    expect(other.routers).toHaveLength(1);
    expect(other.routers[0].closed).toBe(true);
    expect(other.routers[0].transports).toEqual([]);
    expect(h.service.pool.load.find((w) => w.pid === other.pid)!.calls).toBe(0);
    // x still gets a router of its own on that worker.
    const tx = await h.service.createWebRtcTransport('c', 'x');
    expect(routerOfTransport(tx.id).worker).toBe(other);
  });

  test('a call that ends or goes back to P2P gives back its further routers', async () => {
    h = createHarness({ maxParticipantsPerRouter: 1, hysteresisMs: 1_000, minTransitionIntervalMs: 0 }, { numWorkers: 2 });
    await sfuCall(['a', 'b', 'x']);
    const transports = await Promise.all(['a', 'b', 'x'].map((p) => h.service.createWebRtcTransport('c', p)));
    const routers = [...new Set(transports.map((t) => routerOfTransport(t.id)))];
    expect(routers).toHaveLength(2);
    expect(h.service.pool.load.map((w) => w.calls)).toEqual([1, 1]);
    // Back to two: P2P after the hysteresis. The SFU session's routers are
    // all closed; the call, at the limit, keeps one pre-warmed router.
    await h.service.leave('c', 'x');
    await jest.advanceTimersByTimeAsync(1_200);
    expect((await call()).mode).toBe('p2p');
    expect(routers.every((r) => r.closed)).toBe(true);
    const live = h.media.workers.flatMap((w) => w.routers).filter((r) => !r.closed);
    expect(live).toHaveLength(1);
    expect(h.service.pool.load.reduce((n, w) => n + w.calls, 0)).toBe(1);
    await h.service.leave('c', 'a');
    await h.service.leave('c', 'b');
    expect(live[0].closed).toBe(true);
    expect(h.service.pool.load.map((w) => w.calls)).toEqual([0, 0]);
  });

  test('maxParticipantsPerRouter comes from MAX_PARTICIPANTS_PER_ROUTER and is checked', () => {
    expect(resolveMaxParticipantsPerRouter(undefined, {})).toBe(DEFAULT_MAX_PARTICIPANTS_PER_ROUTER);
    expect(resolveMaxParticipantsPerRouter(undefined, { MAX_PARTICIPANTS_PER_ROUTER: '6' })).toBe(6);
    expect(resolveMaxParticipantsPerRouter(4, { MAX_PARTICIPANTS_PER_ROUTER: '6' })).toBe(4);
    expect(() => resolveMaxParticipantsPerRouter(undefined, { MAX_PARTICIPANTS_PER_ROUTER: 'many' })).toThrow(TypeError);
    expect(() => new CallService({ maxParticipantsPerRouter: 0 })).toThrow(/maxParticipantsPerRouter/);
    h = createHarness();
  });
});

describe('several nodes on one store', () => {
  test('a call has one owner; another node takes it over when the owner goes', async () => {
    const store = new MemoryCallStore();
    const media = fakeWorkerFactory();
    const pool = () => new MediaServerPool({ numWorkers: 1, createWorker: media.factory });
    const nodeA = new CallService({ nodeId: 'A', store, pool: pool() });
    const nodeB = new CallService({ nodeId: 'B', store, pool: pool() });
    h = createHarness();
    autoAcknowledge(nodeA);
    autoAcknowledge(nodeB);
    const signalsB: string[] = [];
    nodeB.on('signal', (s) => signalsB.push(s.event));
    try {
      await nodeA.join('c', group('a'));
      await nodeA.join('c', group('b', { nodeId: 'B' }));
      await expect(nodeB.join('c', group('x', { nodeId: 'B' }))).rejects.toBeInstanceOf(NotCallOwnerError);
      await nodeA.join('c', group('x', { nodeId: 'B' }));
      await jest.advanceTimersByTimeAsync(100);
      expect((await nodeB.getCall('c'))!).toMatchObject({ mode: 'sfu', ownerNodeId: 'A' });

      await nodeA.close();
      expect(await nodeB.adoptOrphanedCalls()).toEqual(['c']);
      const taken = (await nodeB.getCall('c'))!;
      // 'a' was connected to the dead node; the others rebuild their SFU path on B.
      expect(taken.participants.map((p) => p.id)).toEqual(['b', 'x']);
      expect(taken.ownerNodeId).toBe('B');
      expect(signalsB).toContain('call:mode-switch');
      await jest.advanceTimersByTimeAsync(100);
      expect((await nodeB.getCall('c'))!).toMatchObject({ mode: 'sfu', transition: null });
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });

  test('operations on unknown calls are clear errors', async () => {
    h = createHarness();
    await expect(h.service.leave('nope', 'a')).rejects.toBeInstanceOf(CallError);
    await expect(h.service.leave('nope', 'a')).rejects.toMatchObject({ code: 'CALL_NOT_FOUND' });
  });
});
