// Harness smoke test: two pages call each other with a plain RTCPeerConnection,
// offer/answer relayed through the signaling bridge. Proves the browser flags,
// fake devices, bridge, stats and teardown work, independently of the SFU.
import { E2eHarness, type Participant } from './harness';
import { waitForMediaFlow } from './mediaFlow';

jest.setTimeout(45_000);

describe('e2e harness: browser to browser', () => {
  let harness: E2eHarness;
  let alice: Participant;
  let bob: Participant;

  beforeAll(async () => {
    harness = await E2eHarness.start();
    alice = await harness.join('alice', 'p2p');
    bob = await harness.join('bob', 'p2p');
    // The bridge relays alice's offer to bob's page and bob's answer back.
    alice.onSignal(async (method, data) => {
      if (method !== 'offer') throw new Error(`unexpected signal ${method}`);
      return bob.call('answer', data);
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('each page decodes the other\'s video and receives its audio', async () => {
    await Promise.all([alice.call('start'), bob.call('start')]);
    await alice.call('call');

    for (const p of [alice, bob]) {
      const stats = await waitForMediaFlow(p, { video: 1, audio: 1, audible: true });
      const video = stats.find((s) => s.kind === 'video');
      expect(video?.frameWidth).toBeGreaterThan(0);
    }
    const delays = await Promise.all([alice, bob].map((p) => p.call<number[]>('firstFrameDelays')));
    console.log(
      `P2P signaling-done to first decoded frame: alice ${delays[0].map(Math.round)} ms, bob ${delays[1].map(Math.round)} ms`,
    );
    await alice.screenshot('p2p');
    await bob.screenshot('p2p');
    expect(await alice.call('connectionState')).toBe('connected');
  });

  it('leaves no Chromium process behind', async () => {
    await harness.close();
    expect(harness.leftoverProcesses()).toEqual([]);
  });
});
