/**
 * Two gateway nodes (two Socket.IO servers in this process) sharing one real
 * Redis: the Redis CallStore for call state, @socket.io/redis-adapter for
 * events. Requests reaching the node that does not own a call are forwarded to
 * the owner; when the owner goes, the other node takes the call over.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import IORedis from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { CallService } from '../../lib/call/CallService';
import { MediaServerPool } from '../../lib/call/pool';
import { RedisCallStore } from '../../lib/call/store/redis';
import { attachCallService } from '../../lib/call/socket';
import { fakeWorkerFactory } from './fakeMedia';
import { startTestRedis, type TestRedis } from './redisServer';

interface Node {
  service: CallService;
  io: Server;
  http: HttpServer;
  url: string;
  close(): Promise<void>;
}

let redis: TestRedis;
const prefix = `test:${randomUUID()}:`;
const clients: ClientSocket[] = [];
const nodes: Node[] = [];

async function startNode(nodeId: string, announcedAddress: string): Promise<Node> {
  const pub = new IORedis(redis.url);
  const sub = pub.duplicate();
  const http = createServer();
  const io = new Server(http, { adapter: createAdapter(pub, sub, { requestsTimeout: 2_000 }) });
  const store = new RedisCallStore({ url: redis.url, prefix });
  const service = new CallService({
    nodeId,
    announcedAddress,
    store,
    pool: new MediaServerPool({ numWorkers: 1, createWorker: fakeWorkerFactory().factory }),
    webRtcTransportOptions: { listenInfos: [{ protocol: 'udp', ip: '0.0.0.0', announcedAddress }] },
  });
  attachCallService(io, service);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let closed = false;
  const node: Node = {
    service,
    io,
    http,
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: async () => {
      if (closed) return;
      closed = true;
      await service.close();
      await new Promise((resolve) => io.close(resolve));
      await store.close();
      pub.disconnect();
      sub.disconnect();
    },
  };
  nodes.push(node);
  return node;
}

function connect(node: Node): Promise<ClientSocket> {
  const client = connectClient(node.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('connect_error', reject);
  });
}

const request = (client: ClientSocket, event: string, payload: Record<string, unknown>) =>
  client.timeout(3_000).emitWithAck(event, payload);
const next = (client: ClientSocket, event: string): Promise<any> =>
  new Promise((resolve) => client.once(event, resolve));

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  for (const node of nodes) await node.close();
  await redis?.stop();
});

test('two nodes share a call; the survivor takes it over', async () => {
  const nodeA = await startNode('A', 'node-a.example');
  const nodeB = await startNode('B', 'node-b.example');
  const a = await connect(nodeA);
  const b = await connect(nodeB);
  const x = await connect(nodeB);

  expect(await request(a, 'call:join', { callId: 'c', participantId: 'a', conversationType: 'group' })).toMatchObject({
    ok: true,
    call: { ownerNodeId: 'A' },
  });
  // Joined through node B, run by node A (the owner), announced across nodes.
  const announced = next(a, 'call:participant-joined');
  const joinB = await request(b, 'call:join', { callId: 'c', participantId: 'b', conversationType: 'group' });
  expect(joinB).toMatchObject({ ok: true, call: { ownerNodeId: 'A', participants: [{ id: 'a' }, { id: 'b', nodeId: 'B' }] } });
  expect(await announced).toMatchObject({ participant: { id: 'b' } });

  // P2P signaling crosses nodes through the adapter.
  const offer = next(b, 'webrtc:offer');
  await request(a, 'webrtc:offer', { callId: 'c', to: 'b', sdp: { type: 'offer', sdp: 'v=0' } });
  expect(await offer).toMatchObject({ from: 'a' });

  // The third participant (on B) turns the call SFU; everyone switches.
  const switches = [a, b, x].map((client) => next(client, 'call:mode-switch'));
  const switched = [a, b, x].map((client) => next(client, 'call:mode-switched'));
  await request(x, 'call:join', { callId: 'c', participantId: 'x', conversationType: 'group' });
  const [{ transitionId }] = await Promise.all(switches);
  // SFU requests from B's sockets go to A's router: candidates announce A.
  const transport = await request(x, 'sfu:create-transport', { callId: 'c' });
  expect(transport.transport.iceCandidates[0].ip).toBe('node-a.example');
  for (const client of [a, b, x]) await request(client, 'call:mode-switch-ack', { callId: 'c', transitionId });
  for (const done of await Promise.all(switched)) expect(done).toMatchObject({ success: true, mode: 'sfu' });
  expect(await nodeB.service.getCall('c')).toMatchObject({ mode: 'sfu', ownerNodeId: 'A' });

  // Node A goes away: B takes the call over; its clients rebuild their SFU path on B.
  const rebuild = [b, x].map((client) => next(client, 'call:mode-switch'));
  await nodeA.close();
  expect(await nodeB.service.adoptOrphanedCalls()).toEqual(['c']);
  const [again] = await Promise.all(rebuild);
  expect(again).toMatchObject({ mode: 'sfu', trigger: 'node-takeover' });
  const rebuilt = await request(b, 'sfu:create-transport', { callId: 'c' });
  expect(rebuilt.transport.iceCandidates[0].ip).toBe('node-b.example');
  for (const client of [b, x]) await request(client, 'call:mode-switch-ack', { callId: 'c', transitionId: again.transitionId });
  expect(await nodeB.service.getCall('c')).toMatchObject({
    ownerNodeId: 'B',
    mode: 'sfu',
    transition: null,
    participants: [{ id: 'b' }, { id: 'x' }],
  });
});
