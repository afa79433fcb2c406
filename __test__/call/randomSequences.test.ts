/**
 * 1,000 random join/leave sequences through CallService on fake timers, with
 * clients that acknowledge every switch within the timeout. Checks the rules
 * that must hold whatever the order of events: no failed transition, no
 * SFU -> P2P switch inside the hysteresis window or the minimum interval,
 * and a consistent call at the end.
 */
import { determineCallMode } from '../../lib/call/policy';
import { autoAcknowledge, createHarness } from './harness';

const SEQUENCES = 1_000;
const STEPS = 25;
const HYSTERESIS_MS = 10_000;
const MIN_INTERVAL_MS = 10_000;

/** Small deterministic PRNG, so a failing seed can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test(`${SEQUENCES} random join/leave sequences keep every rule`, async () => {
  for (let seed = 1; seed <= SEQUENCES; seed++) {
    const random = mulberry32(seed);
    const limit = 2 + Math.floor(random() * 2);
    const h = createHarness({
      p2pParticipantLimit: limit,
      meshLimit: 10,
      hysteresisMs: HYSTERESIS_MS,
      minTransitionIntervalMs: MIN_INTERVAL_MS,
    });
    autoAcknowledge(h.service, { delayMs: 10 + Math.floor(random() * 2_000) });
    const context = `seed ${seed}`;

    const present = new Set<string>();
    // Last time the count was above the limit, and last completed transition.
    let lastAboveLimitAt = -Infinity;
    let lastTransitionAt = -Infinity;
    h.service.on('meeting:transition:started', (e) => {
      if (e.from === 'sfu' && e.to === 'p2p') {
        const now = Date.now();
        if (now - lastAboveLimitAt < HYSTERESIS_MS || now - lastTransitionAt < MIN_INTERVAL_MS) {
          throw new Error(`${context}: SFU -> P2P inside the hysteresis window or minimum interval`);
        }
      }
    });
    h.service.on('meeting:transition:completed', () => (lastTransitionAt = Date.now()));
    // safeEmit reports listener errors instead of throwing them at the service.
    const violations: unknown[] = [];
    let cutShort = 0;
    h.service.on('call:ended', () => {
      if (h.started.length > h.completed.length + cutShort) cutShort++;
    });
    h.service.on('listenererror', (_event, error) => violations.push(error));

    for (let step = 0; step < STEPS; step++) {
      const r = random();
      if (r < 0.5 || present.size === 0) {
        const id = `p${Math.floor(random() * 6)}`;
        await h.service.join('call', { participantId: id, conversationType: 'group' });
        present.add(id);
      } else if (r < 0.85) {
        const id = [...present][Math.floor(random() * present.size)];
        await h.service.leave('call', id);
        present.delete(id);
      }
      if (present.size > limit) lastAboveLimitAt = Date.now();
      await jest.advanceTimersByTimeAsync(Math.floor(random() * 15_000));
      if (present.size > limit) lastAboveLimitAt = Date.now();
    }
    // Let every pending timer (hysteresis, acknowledgements) play out.
    await jest.advanceTimersByTimeAsync(3 * (HYSTERESIS_MS + MIN_INTERVAL_MS));

    expect({ context, violations }).toEqual({ context, violations: [] });
    expect({ context, failed: h.failed }).toEqual({ context, failed: [] });
    const call = await h.service.getCall('call');
    const routers = h.service.pool.load.reduce((n, w) => n + w.calls, 0);
    if (present.size === 0) {
      expect({ context, call }).toEqual({ context, call: undefined });
      expect({ context, routers }).toEqual({ context, routers: 0 });
    } else {
      const mode = determineCallMode('group', present.size, { p2pParticipantLimit: limit });
      const prewarmed = mode === 'p2p' && present.size === limit;
      expect({ context, state: call }).toMatchObject({
        context,
        state: { mode, transition: null, prewarmed },
      });
      expect({ context, ids: call!.participants.map((p) => p.id).sort() }).toEqual({
        context,
        ids: [...present].sort(),
      });
      expect({ context, routers }).toEqual({ context, routers: mode === 'sfu' || prewarmed ? 1 : 0 });
    }
    // Every switch finished, except those cut short by the call ending.
    expect({ context, unfinished: h.started.length - h.completed.length }).toEqual({ context, unfinished: cutShort });
    await h.service.close();
  }
});
