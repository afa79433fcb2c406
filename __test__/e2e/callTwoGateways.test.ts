// Two gateway processes sharing one real Redis (RedisCallStore + Socket.IO
// Redis adapter), with participants split across them: P2P signaling crosses
// gateways through the adapter, SFU requests reaching the non-owner node are
// forwarded to the call's owner, and every page sees the same mode and
// decodes everyone else.
import { randomUUID } from 'node:crypto';
import { startTestRedis, type TestRedis } from '../call/redisServer';
import { GatewayProcess } from './gateway/gatewayProcesses';
import { E2eHarness, waitFor, type Participant } from './harness';
import { pageState, printTimelines, waitForDecoding } from './gateway/callFigures';
import type { CallPageJoinOptions } from './page/call-types';

jest.setTimeout(60_000);

describe('call: two gateway processes on one Redis', () => {
  let redis: TestRedis;
  let harness: E2eHarness;
  const gateways: GatewayProcess[] = [];
  const callId = `e2e2-${randomUUID()}`;

  beforeAll(async () => {
    redis = await startTestRedis();
    const prefix = `e2e:${randomUUID()}:`;
    gateways.push(
      ...(await Promise.all(
        ['gw1', 'gw2'].map((nodeId) => GatewayProcess.start({ nodeId, redisUrl: redis.url, prefix })),
      )),
    );
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    await Promise.all(gateways.map((g) => g.stop()));
    await redis?.stop();
    expect(harness.leftoverProcesses()).toEqual([]);
    for (const g of gateways) expect(g.child.exitCode ?? g.child.signalCode).not.toBeNull();
  });

  async function enter(name: string, gateway: GatewayProcess): Promise<Participant> {
    const p = await harness.join(name, 'call');
    const opts: CallPageJoinOptions = { url: gateway.url, callId, participantId: name };
    await p.call('join', opts);
    return p;
  }

  const allEvents = (name: string) =>
    gateways.flatMap((g) => g.events.filter((e) => e.name === name).map((e) => ({ node: g.nodeId, ...e.payload })));

  it('participants on different gateways share one mode and see each other', async () => {
    const [gw1, gw2] = gateways;
    const a = await enter('a', gw1);
    const b = await enter('b', gw2);
    await Promise.all([waitForDecoding(a, ['b'], 'p2p'), waitForDecoding(b, ['a'], 'p2p')]);
    // Both nodes read the same call from Redis.
    const [seen1, seen2] = await Promise.all([gw1.getCall(callId), gw2.getCall(callId)]);
    expect(seen1.mode).toBe('p2p');
    const shape = (call: any) => ({ mode: call.mode, ownerNodeId: call.ownerNodeId, participants: call.participants });
    expect(shape(seen2)).toEqual(shape(seen1));
    expect(seen1.ownerNodeId).toBe('gw1');
    expect(seen1.participants.map((p: { id: string; nodeId: string }) => [p.id, p.nodeId])).toEqual([
      ['a', 'gw1'],
      ['b', 'gw2'],
    ]);

    // C joins through the node that does not own the call: its requests are forwarded to gw1.
    const c = await enter('c', gw2);
    const toSfu = await waitFor(() => allEvents('meeting:transition:completed').find((e) => e.to === 'sfu'), {
      timeoutMs: 15_000,
      intervalMs: 20,
      what: 'switch to SFU completed',
      diagnose: () => ({ events: gateways.map((g) => g.events), logs: harness.logs() }),
    });
    expect(toSfu.node).toBe('gw1');
    await Promise.all([
      waitForDecoding(a, ['b', 'c'], 'sfu'),
      waitForDecoding(b, ['a', 'c'], 'sfu'),
      waitForDecoding(c, ['a', 'b'], 'sfu'),
    ]);
    console.log(`two gateways, P2P -> SFU: ${toSfu.durationMs} ms (owner gw1; b and c on gw2)`);
    await printTimelines(toSfu.transitionId, [a, b, c]);
    for (const p of [a, b, c]) expect((await pageState(p)).mode).toBe('sfu');
    expect((await gw2.getCall(callId)).mode).toBe('sfu');

    // C leaves: back to P2P after the hysteresis, signaled across both gateways.
    await c.call('leave');
    await c.close();
    const toP2p = await waitFor(() => allEvents('meeting:transition:completed').find((e) => e.to === 'p2p'), {
      timeoutMs: 15_000,
      intervalMs: 20,
      what: 'switch back to P2P completed',
      diagnose: () => ({ events: gateways.map((g) => g.events), logs: harness.logs() }),
    });
    await Promise.all([waitForDecoding(a, ['b'], 'p2p'), waitForDecoding(b, ['a'], 'p2p')]);
    console.log(`two gateways, SFU -> P2P: ${toP2p.durationMs} ms`);
    for (const p of [a, b]) expect((await pageState(p)).mode).toBe('p2p');
    expect((await gw1.getCall(callId)).mode).toBe('p2p');
    expect(allEvents('meeting:transition:failed')).toEqual([]);
  });
});
