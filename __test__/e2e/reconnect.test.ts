// A signaling drop in real browsers: the participant's socket closes (as on
// a network blip) while its media keeps flowing; the client reconnects and
// joins again, the server kept its seat, and the others never see it leave.
// What happened meanwhile (someone joining, with an offer or producers the
// dropped page never got) is caught up after the rejoin.
import { randomUUID } from 'node:crypto';
import { startCallGateway, type CallGateway } from './gateway/callGateway';
import { E2eHarness, sleep, waitFor, type Participant } from './harness';
import { waitForDecoding } from './gateway/callFigures';
import type { CallPageJoinOptions, CallPageRemote, CallPageState } from './page/call-types';

jest.setTimeout(90_000);

describe('call: signaling reconnect in real browsers', () => {
  let gateway: CallGateway;
  let harness: E2eHarness;
  /** Participants whose sockets the gateway refuses for now (to hold a drop open). */
  const refused = new Set<string>();
  const reconnected: string[] = [];

  beforeAll(async () => {
    gateway = await startCallGateway();
    gateway.io.use((socket, next) => {
      const id = (socket.handshake.auth as { participantId?: string })?.participantId;
      next(id && refused.has(id) ? new Error('refused for this test') : undefined);
    });
    gateway.service.on('participant:reconnected', (e) => reconnected.push(e.participantId));
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    await gateway?.close();
    expect(harness.leftoverProcesses()).toEqual([]);
  });

  async function enter(name: string, callId: string, p2pParticipantLimit: number): Promise<Participant> {
    const p = await harness.join(name, 'call');
    const opts: CallPageJoinOptions = { url: gateway.url, callId, participantId: name, reconnect: true, p2pParticipantLimit };
    await p.call('join', opts);
    return p;
  }

  const state = (p: Participant) => p.call<CallPageState>('state');
  const frames = async (p: Participant, from: string): Promise<number> =>
    (await p.call<CallPageRemote[]>('remotes')).find((r) => r.participantId === from && r.kind === 'video')?.framesDecoded ?? 0;

  /** Drops `p`'s socket and keeps it out until the returned function is called. */
  async function drop(p: Participant): Promise<() => void> {
    refused.add(p.name);
    await p.call('dropSignaling');
    await waitFor(async () => (await state(p)).reconnects.some((e) => e.event === 'reconnecting'), { what: `${p.name} reconnecting` });
    return () => refused.delete(p.name);
  }

  async function rejoined(p: Participant): Promise<number> {
    const event = await waitFor(async () => (await state(p)).reconnects.find((e) => e.event === 'reconnected'), {
      timeoutMs: 15_000,
      what: `${p.name} reconnected`,
      diagnose: () => harness.logs(),
    });
    return event.at;
  }

  it('P2P: the seat and the media survive a drop; a participant who joined meanwhile is connected after the rejoin', async () => {
    const callId = `reconnect-p2p-${randomUUID()}`;
    const a = await enter('a', callId, 4);
    const b = await enter('b', callId, 4);
    await Promise.all([waitForDecoding(a, ['b'], 'p2p'), waitForDecoding(b, ['a'], 'p2p')]);

    const allow = await drop(a);
    const droppedAt = Date.now();
    const bFramesAtDrop = await frames(b, 'a');
    // c joins while a is away: its offer to a is lost (a's socket is not there) and must be sent again.
    const c = await enter('c', callId, 4);
    await waitForDecoding(c, ['b'], 'p2p');
    await sleep(1_000);
    expect((await gateway.service.getCall(callId))?.participants.map((p) => p.id)).toEqual(['a', 'b', 'c']);
    expect((await state(b)).participants).toContain('a');
    expect(await frames(b, 'a')).toBeGreaterThan(bFramesAtDrop); // media does not use the signaling connection

    allow();
    const at = await rejoined(a);
    console.log(`P2P: a was away ${at - droppedAt} ms; back with its seat`);
    expect((await state(a)).reconnects).toEqual([
      expect.objectContaining({ event: 'reconnecting' }),
      expect.objectContaining({ event: 'reconnected', seatKept: true }),
    ]);
    expect(reconnected).toContain('a');
    await Promise.all([waitForDecoding(a, ['b', 'c'], 'p2p'), waitForDecoding(c, ['a', 'b'], 'p2p')]);
    const aState = await state(a);
    expect(aState.mode).toBe('p2p');
    expect(aState.participants.sort()).toEqual(['b', 'c']);
    // The stream b renders for a never changed: nothing was rebuilt.
    expect((await state(b)).remoteStreamEvents.a).toBe(1);

    // Signaling works again both ways.
    await a.call('sendChat', 'back');
    await b.call('sendChat', 'welcome back');
    await waitFor(async () => (await state(b)).chat.some((m) => m.participantId === 'a' && m.text === 'back'), { what: 'b gets a chat' });
    await waitFor(async () => (await state(a)).chat.some((m) => m.participantId === 'b' && m.text === 'welcome back'), { what: 'a gets b chat' });
    expect((await state(a)).errors).toEqual([]);
    for (const p of [a, b, c]) await p.call('leave');
    await Promise.all([a, b, c].map((p) => p.close()));
  });

  it('SFU: producers added while a participant was away are consumed after its rejoin', async () => {
    const callId = `reconnect-sfu-${randomUUID()}`;
    const a = await enter('a2', callId, 2);
    const b = await enter('b2', callId, 2);
    const c = await enter('c2', callId, 2);
    await Promise.all([waitForDecoding(a, ['b2', 'c2'], 'sfu'), waitForDecoding(b, ['a2', 'c2'], 'sfu')]);

    const allow = await drop(a);
    const d = await enter('d2', callId, 2);
    await waitForDecoding(b, ['a2', 'c2', 'd2'], 'sfu');
    const aFramesAtDrop = await frames(a, 'b2');
    await sleep(500);
    expect(await frames(a, 'b2')).toBeGreaterThan(aFramesAtDrop); // SFU media keeps flowing to a
    expect((await state(a)).participants).not.toContain('d2');

    allow();
    await rejoined(a);
    await Promise.all([waitForDecoding(a, ['b2', 'c2', 'd2'], 'sfu'), waitForDecoding(d, ['a2', 'b2', 'c2'], 'sfu')]);
    expect((await state(a)).mode).toBe('sfu');
    expect((await state(b)).remoteStreamEvents.a2).toBe(1);
    expect((await gateway.service.getCall(callId))?.participants.map((p) => p.id)).toEqual(['a2', 'b2', 'c2', 'd2']);
    expect((await state(a)).errors).toEqual([]);
    for (const p of [a, b, c, d]) await p.call('leave');
    await Promise.all([a, b, c, d].map((p) => p.close()));
  });
});
