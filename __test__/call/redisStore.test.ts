/** The Redis store against a real redis-server, and the same contract on the memory store. */
import { randomUUID } from 'node:crypto';
import { RedisCallStore } from '../../lib/call/store/redis';
import { MemoryCallStore } from '../../lib/call/store/memory';
import type { CallStore } from '../../lib/call/store/types';
import type { CallState } from '../../lib/call/types';
import { startTestRedis, type TestRedis } from './redisServer';

let redis: TestRedis;
const stores: CallStore[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  for (const store of stores.splice(0)) await store.close();
  await redis?.stop();
});

const call = (id: string, participants: string[] = []): CallState => ({
  id,
  conversationType: 'group',
  mode: 'p2p',
  p2pParticipantLimit: 2,
  participants: participants.map((p) => ({
    id: p,
    role: 'participant',
    media: { audio: true, video: true, screen: false },
    joinedAt: 0,
    nodeId: 'n',
  })),
  transition: null,
  ownerNodeId: 'n',
  routerId: null,
  prewarmed: false,
  createdAt: 0,
  updatedAt: 0,
  lastTransitionAt: null,
});

describe.each([
  ['redis', () => new RedisCallStore({ url: redis.url, prefix: `test:${randomUUID()}:` })],
  ['memory', () => new MemoryCallStore()],
])('%s store', (_name, make) => {
  let store: CallStore;
  beforeEach(() => {
    store = make();
    stores.push(store);
  });

  test('update creates, changes and deletes a call', async () => {
    expect(await store.get('c')).toBeUndefined();
    await store.update('c', (cur) => cur ?? call('c', ['a']));
    expect(await store.get('c')).toEqual(call('c', ['a']));
    await store.update('c', (cur) => cur && { ...cur, mode: 'sfu' });
    expect((await store.list()).map((c) => [c.id, c.mode])).toEqual([['c', 'sfu']]);
    await store.update('c', () => undefined);
    expect(await store.list()).toEqual([]);
  });

  test('concurrent updates are all applied (no lost update)', async () => {
    await store.update('c', () => call('c'));
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.update('c', (cur) => ({
          ...cur!,
          participants: [...cur!.participants, ...call('c', [`p${i}`]).participants],
        })),
      ),
    );
    expect((await store.get('c'))!.participants).toHaveLength(20);
  });

  test('chat history keeps the newest messages; delete removes it', async () => {
    for (let i = 0; i < 5; i++) {
      await store.appendChat('c', { id: `${i}`, callId: 'c', participantId: 'a', text: `m${i}`, sentAt: i }, 3);
    }
    expect((await store.chatHistory('c')).map((m) => m.text)).toEqual(['m2', 'm3', 'm4']);
    await store.update('c', () => call('c'));
    await store.delete('c');
    expect(await store.chatHistory('c')).toEqual([]);
    expect(await store.get('c')).toBeUndefined();
  });

  test('nodes are live until their heartbeat expires or they leave', async () => {
    await store.heartbeat({ id: 'A', announcedAddress: '10.0.0.1' }, 10_000);
    await store.heartbeat({ id: 'B' }, 50);
    expect((await store.liveNodes()).map((n) => n.id).sort()).toEqual(['A', 'B']);
    await new Promise((r) => setTimeout(r, 120));
    expect(await store.liveNodes()).toEqual([{ id: 'A', announcedAddress: '10.0.0.1' }]);
    await store.removeNode('A');
    expect(await store.liveNodes()).toEqual([]);
  });
});

test('two gateway nodes on one Redis agree on a call', async () => {
  const prefix = `test:${randomUUID()}:`;
  const nodeA = new RedisCallStore({ url: redis.url, prefix });
  const nodeB = new RedisCallStore({ url: redis.url, prefix });
  stores.push(nodeA, nodeB);
  await nodeA.update('c', () => call('c'));
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? nodeA : nodeB).update('c', (cur) => ({
        ...cur!,
        participants: [...cur!.participants, ...call('c', [`p${i}`]).participants],
      })),
    ),
  );
  expect((await nodeB.get('c'))!.participants).toHaveLength(20);
  expect(await nodeA.get('c')).toEqual(await nodeB.get('c'));
});
