// A network outage on the SFU path, in real browsers: the UDP between the
// browsers and the SFU is cut (a relay stands in for the network), each
// client sees its transports disconnect and restarts ICE with new
// credentials from the server (`sfu:restart-ice`), and once the network is
// back, from new source ports, media flows again on the same transports:
// no rebuild, no mode switch.
import { randomUUID } from 'node:crypto';
import { observer, type types } from '../../lib';
import { startCallGateway, type CallGateway } from './gateway/callGateway';
import { E2eHarness, sleep, waitFor, type Participant } from './harness';
import { waitForDecoding } from './gateway/callFigures';
import type { CallPageJoinOptions, CallPageRemote, CallPageState } from './page/call-types';
import { RELAY_ADDRESS, UdpRelay } from './udpRelay';

jest.setTimeout(90_000);

describe('call: the SFU path through a network outage, in real browsers', () => {
  let gateway: CallGateway;
  let harness: E2eHarness;
  const relay = new UdpRelay();
  const relayErrors: string[] = [];
  const tuples: { transportId: string; remotePort: number; at: number }[] = [];
  const transports: types.WebRtcTransport[] = [];
  const restarts: { participantId: string; transportId: string; at: number }[] = [];

  beforeAll(async () => {
    // Every transport the gateway's workers make is relayed.
    observer.on('newworker', (worker) =>
      worker.observer.on('newrouter', (router) =>
        router.observer.on('newtransport', (transport) => {
          const webRtc = transport as types.WebRtcTransport;
          transports.push(webRtc);
          webRtc.on('iceselectedtuplechange', (tuple) => tuples.push({ transportId: webRtc.id, remotePort: tuple.remotePort ?? 0, at: Date.now() }));
          relay.add(webRtc.iceCandidates[0].port).catch((error: Error) => relayErrors.push(error.message));
        }),
      ),
    );
    gateway = await startCallGateway({
      webRtcTransportOptions: { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', announcedAddress: RELAY_ADDRESS }] },
    });
    gateway.service.on('sfu:ice-restart', (e) => restarts.push({ ...e, at: Date.now() }));
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    await gateway?.close();
    relay.close();
    expect(harness.leftoverProcesses()).toEqual([]);
  });

  const state = (p: Participant) => p.call<CallPageState>('state');
  const frames = async (p: Participant, from: string): Promise<number> =>
    (await p.call<CallPageRemote[]>('remotes')).find((r) => r.participantId === from && r.kind === 'video')?.framesDecoded ?? 0;

  async function enter(name: string, callId: string): Promise<Participant> {
    const p = await harness.join(name, 'call');
    // A limit of one: two participants are an SFU call.
    const opts: CallPageJoinOptions = { url: gateway.url, callId, participantId: name, p2pParticipantLimit: 1 };
    await p.call('join', opts);
    return p;
  }

  it('every transport restarts ICE during the outage, and the media comes back after it', async () => {
    const callId = `ice-restart-${randomUUID()}`;
    const a = await enter('ice-a', callId);
    const b = await enter('ice-b', callId);
    await Promise.all([waitForDecoding(a, ['ice-b'], 'sfu'), waitForDecoding(b, ['ice-a'], 'sfu')]);
    const ours = transports.filter((t) => t.appData.callId === callId && !t.closed);
    expect(ours).toHaveLength(4); // a send and a receive transport each
    const firstUfrags = ours.map((t) => t.iceParameters.usernameFragment);
    expect(relay.relayed).toBeGreaterThan(0);

    relay.cut();
    const cutAt = Date.now();
    const restarted = () => ours.every((t) => restarts.some((r) => r.transportId === t.id));
    await waitFor(restarted, { timeoutMs: 20_000, what: 'every transport restarted ICE', diagnose: () => restarts });
    const restartedAfterMs = Date.now() - cutAt;
    // Nothing gets through meanwhile.
    const stalled = await frames(a, 'ice-b');
    await sleep(500);
    expect(await frames(a, 'ice-b')).toBe(stalled);

    relay.restore();
    const restoredAt = Date.now();
    await Promise.all([waitForDecoding(a, ['ice-b'], 'sfu'), waitForDecoding(b, ['ice-a'], 'sfu')]);
    const backAfterMs = Date.now() - restoredAt;
    console.log(`every transport restarted ICE by ${restartedAfterMs} ms into the outage; video back ${backAfterMs} ms after it`);

    // The SFU sends to where each browser now is: the relay's new sockets.
    const moved = ours.map((t) => tuples.filter((x) => x.transportId === t.id && x.at >= restoredAt).at(-1));
    expect(moved.every(Boolean)).toBe(true);
    ours.forEach((t, i) => expect(t.iceSelectedTuple?.remotePort).toBe(moved[i]!.remotePort));
    const movedAfterMs = Math.max(...moved.map((m) => m!.at)) - restoredAt;
    console.log(`the SFU followed every browser to its new address ${movedAfterMs} ms after the outage`);
    // At the browsers' first nominating checks (1-3 s here), not when the
    // old pairs would time out, 15 s after their last check (about 6 s
    // after the outage here).
    expect(movedAfterMs).toBeLessThan(5_000);
    expect(relayErrors).toEqual([]);
    // The same transports, on new credentials, connected again.
    ours.forEach((t, i) => expect(t.iceParameters.usernameFragment).not.toBe(firstUfrags[i]));
    await waitFor(() => ours.every((t) => t.iceState === 'connected' || t.iceState === 'completed'), {
      what: 'every transport connected',
      diagnose: () => ours.map((t) => t.iceState),
    });
    expect(ours.every((t) => !t.closed)).toBe(true);
    for (const p of [a, b]) {
      const s = await state(p);
      expect(new Set(s.iceRestarts)).toEqual(new Set(['send', 'recv']));
      expect(s.mode).toBe('sfu');
      expect(s.transitions.filter((t) => t.to === 'p2p')).toEqual([]);
      expect(s.errors).toEqual([]);
    }
    for (const p of [a, b]) await p.call('leave');
    await Promise.all([a, b].map((p) => p.close()));
  });
});
