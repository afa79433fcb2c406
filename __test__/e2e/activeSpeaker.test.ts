// The client's active speaker in real browsers, on both paths: each page
// plays a tone, so a remote participant is "speaking" until it mutes.
import { randomUUID } from 'node:crypto';
import { startCallGateway, type CallGateway } from './gateway/callGateway';
import { E2eHarness, waitFor, type Participant } from './harness';
import { waitForDecoding } from './gateway/callFigures';
import type { CallPageJoinOptions, CallPageState } from './page/call-types';

jest.setTimeout(60_000);

describe('call: active speaker in real browsers', () => {
  let gateway: CallGateway;
  let harness: E2eHarness;

  beforeAll(async () => {
    gateway = await startCallGateway();
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    await gateway?.close();
    expect(harness.leftoverProcesses()).toEqual([]);
  });

  async function enter(name: string, callId: string): Promise<Participant> {
    const p = await harness.join(name, 'call');
    const opts: CallPageJoinOptions = { url: gateway.url, callId, participantId: name };
    await p.call('join', opts);
    return p;
  }

  const speakers = async (p: Participant) => (await p.call<CallPageState>('state')).speakers;

  it('follows who speaks over P2P and over the SFU, and nobody once everyone is muted', async () => {
    const callId = `speaker-${randomUUID()}`;
    const a = await enter('a', callId);
    const b = await enter('b', callId);
    await Promise.all([waitForDecoding(a, ['b'], 'p2p'), waitForDecoding(b, ['a'], 'p2p')]);
    await waitFor(async () => (await speakers(a)).at(-1) === 'b', { what: 'a hears b speak (P2P)' });

    await b.call('setMedia', { audio: false });
    await waitFor(async () => (await speakers(a)).at(-1) === null, { what: 'nobody speaks for a once b is muted' });
    await b.call('setMedia', { audio: true });
    await waitFor(async () => (await speakers(a)).at(-1) === 'b', { what: 'b speaks again' });

    // A third participant: the call moves to the SFU, where levels come through the consumers.
    const c = await enter('c', callId);
    await waitForDecoding(c, ['a', 'b'], 'sfu');
    await waitFor(async () => ['a', 'b'].includes((await speakers(c)).at(-1) ?? ''), { what: 'c hears someone speak (SFU)' });
    await Promise.all([a, b].map((p) => p.call('setMedia', { audio: false })));
    await waitFor(async () => (await speakers(c)).at(-1) === null, { what: 'nobody speaks for c once a and b are muted' });
    console.log(`active speakers seen by a: ${JSON.stringify(await speakers(a))}, by c: ${JSON.stringify(await speakers(c))}`);
    for (const p of [a, b, c]) await p.call('leave');
    await Promise.all([a, b, c].map((p) => p.close()));
  });
});
