/**
 * The Socket.IO binding on a real server (loopback) with real socket.io-client
 * clients; the media plane is the fake one (this tests signaling, not media).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { attachCallService, type AttachCallServiceOptions } from '../../lib/call/socket';
import { createHarness, type Harness } from './harness';

let http: HttpServer;
let io: Server;
let h: Harness;
let url: string;
const clients: ClientSocket[] = [];

async function start(options: AttachCallServiceOptions = {}, serviceOptions = {}) {
  http = createServer();
  io = new Server(http);
  // The gateway's own handler, which the binding must leave alone.
  io.on('connection', (socket) => socket.on('gateway:ping', (ack: (r: string) => void) => ack('pong')));
  h = createHarness(serviceOptions);
  attachCallService(io, h.service, options);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

function connect(auth?: Record<string, unknown>): Promise<ClientSocket> {
  const client = connectClient(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('connect_error', reject);
  });
}

const request = (client: ClientSocket, event: string, payload: Record<string, unknown>) =>
  client.timeout(3_000).emitWithAck(event, payload);

function next(client: ClientSocket, event: string): Promise<any> {
  return new Promise((resolve) => client.once(event, resolve));
}

async function joined(callId: string, participantId: string) {
  const client = await connect();
  const response = await request(client, 'call:join', { callId, participantId, conversationType: 'group' });
  expect(response).toMatchObject({ ok: true, participantId });
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await h?.service.close();
  await new Promise((resolve) => io.close(resolve));
});

test('join and leave are announced; the gateway keeps its own handlers', async () => {
  await start({ reconnectGraceMs: 0 });
  const a = await joined('c', 'a');
  const announced = next(a, 'call:participant-joined');
  const b = await connect();
  const response = await request(b, 'call:join', { callId: 'c', participantId: 'b', conversationType: 'group' });
  expect(response.call).toMatchObject({ id: 'c', mode: 'p2p', participants: [{ id: 'a' }, { id: 'b' }] });
  expect(await announced).toMatchObject({ callId: 'c', participant: { id: 'b', role: 'participant' } });
  expect(await b.timeout(1_000).emitWithAck('gateway:ping')).toBe('pong');

  const left = next(a, 'call:participant-left');
  expect(await request(b, 'call:leave', { callId: 'c' })).toEqual({ ok: true });
  expect(await left).toEqual({ callId: 'c', participantId: 'b' });

  // Without a grace period a disconnect is a leave at once.
  const gone = next(a, 'call:participant-left');
  const x = await joined('c', 'x');
  x.disconnect();
  expect(await gone).toEqual({ callId: 'c', participantId: 'x' });
});

test('a dropped socket keeps its seat for the grace period; a rejoin from a new socket keeps it for good', async () => {
  await start({ reconnectGraceMs: 300 });
  const a = await joined('c', 'a');
  const b = await joined('c', 'b');
  const seen: string[] = [];
  for (const event of ['call:participant-left', 'call:participant-joined']) a.on(event, () => seen.push(event));
  const reconnected: unknown[] = [];
  h.service.on('participant:reconnected', (e) => reconnected.push(e));
  const before = await h.service.getCall('c');

  b.disconnect();
  await new Promise((r) => setTimeout(r, 100));
  const b2 = await connect();
  const response = await request(b2, 'call:join', { callId: 'c', participantId: 'b', conversationType: 'group' });
  expect(response).toMatchObject({ ok: true, participantId: 'b', call: { participants: [{ id: 'a' }, { id: 'b' }] } });
  const seat = (response.call.participants as { id: string; joinedAt: number }[]).find((p) => p.id === 'b');
  expect(seat?.joinedAt).toBe(before?.participants.find((p) => p.id === 'b')?.joinedAt);
  expect(reconnected).toEqual([{ callId: 'c', participantId: 'b' }]);

  // The old socket's delayed leave comes and goes: b stays, and its new socket is in the call.
  await new Promise((r) => setTimeout(r, 500));
  expect((await h.service.getCall('c'))?.participants.map((p) => p.id)).toEqual(['a', 'b']);
  expect(seen).toEqual([]);
  const chat = next(a, 'chat:message');
  await request(b2, 'chat:message', { callId: 'c', text: 'back' });
  expect(await chat).toMatchObject({ message: { participantId: 'b', text: 'back' } });
});

test('a dropped socket that does not come back leaves once the grace period is over', async () => {
  await start({ reconnectGraceMs: 200 });
  const a = await joined('c', 'a');
  const b = await joined('c', 'b');
  const gone = next(a, 'call:participant-left');
  const droppedAt = Date.now();
  b.disconnect();
  expect(await gone).toEqual({ callId: 'c', participantId: 'b' });
  expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(190);
  expect((await h.service.getCall('c'))?.participants.map((p) => p.id)).toEqual(['a']);
  // An explicit leave never waits.
  const left = next(a, 'call:participant-left');
  const x = await joined('c', 'x');
  const leftAt = Date.now();
  await request(x, 'call:leave', { callId: 'c' });
  expect(await left).toEqual({ callId: 'c', participantId: 'x' });
  expect(Date.now() - leftAt).toBeLessThan(190);
});

test('P2P signaling is relayed to the target peer only', async () => {
  await start();
  const a = await joined('c', 'a');
  const b = await joined('c', 'b');
  const other = await joined('elsewhere', 'b');
  let leaked = false;
  other.on('webrtc:offer', () => (leaked = true));

  const offer = next(b, 'webrtc:offer');
  expect(await request(a, 'webrtc:offer', { callId: 'c', to: 'b', sdp: { type: 'offer', sdp: 'v=0' } })).toEqual({
    ok: true,
  });
  expect(await offer).toEqual({ callId: 'c', from: 'a', sdp: { type: 'offer', sdp: 'v=0' } });
  const answer = next(a, 'webrtc:answer');
  await request(b, 'webrtc:answer', { callId: 'c', to: 'a', sdp: { type: 'answer', sdp: 'v=0' } });
  expect(await answer).toMatchObject({ from: 'b' });
  const candidate = next(b, 'webrtc:ice-candidate');
  await request(a, 'webrtc:ice-candidate', { callId: 'c', to: 'b', candidate: { candidate: 'candidate:1' } });
  expect(await candidate).toMatchObject({ from: 'a', candidate: { candidate: 'candidate:1' } });
  expect(leaked).toBe(false);

  // Only members may signal into a call.
  const stranger = await connect();
  expect(await request(stranger, 'webrtc:offer', { callId: 'c', to: 'b', sdp: {} })).toMatchObject({
    ok: false,
    error: { code: 'NOT_IN_CALL' },
  });
});

test('chat messages reach everyone and are kept for late joiners', async () => {
  await start();
  const a = await joined('c', 'a');
  const b = await joined('c', 'b');
  const received = next(b, 'chat:message');
  const sent = await request(a, 'chat:message', { callId: 'c', text: 'hi' });
  expect(sent).toMatchObject({ ok: true, message: { participantId: 'a', text: 'hi' } });
  expect(await received).toMatchObject({ callId: 'c', message: { text: 'hi' } });
  expect((await request(b, 'chat:history', { callId: 'c' })).messages).toHaveLength(1);
  const late = await connect();
  const join = await request(late, 'call:join', { callId: 'c', participantId: 'z', conversationType: 'group' });
  expect(join.chatHistory).toEqual([expect.objectContaining({ text: 'hi' })]);
  expect(await request(a, 'chat:message', { callId: 'c', text: '' })).toMatchObject({
    ok: false,
    error: { code: 'INVALID_ARGUMENT' },
  });
});

test('the mode switch runs with acknowledgements, then SFU requests work', async () => {
  await start();
  const a = await joined('c', 'a');
  const b = await joined('c', 'b');
  const x = await connect();
  const switches = [a, b, x].map((client) => next(client, 'call:mode-switch'));
  const switched = [a, b, x].map((client) => next(client, 'call:mode-switched'));
  const join = await request(x, 'call:join', { callId: 'c', participantId: 'x', conversationType: 'group' });
  expect(join.call.transition).toMatchObject({ to: 'sfu' });

  const payloads = await Promise.all(switches);
  const { transitionId } = payloads[0];
  for (const p of payloads) expect(p).toMatchObject({ callId: 'c', transitionId, mode: 'sfu', initiator: 'x' });
  expect(payloads[0].rtpCapabilities).toBeDefined();

  // Each client builds its SFU path while P2P keeps playing, then acknowledges.
  const transport = await request(a, 'sfu:create-transport', { callId: 'c' });
  expect(transport).toMatchObject({ ok: true, transport: { id: expect.any(String) } });
  for (const client of [a, b, x]) {
    expect(await request(client, 'call:mode-switch-ack', { callId: 'c', transitionId })).toEqual({
      ok: true,
      accepted: true,
    });
  }
  for (const done of await Promise.all(switched)) {
    expect(done).toEqual({ callId: 'c', transitionId, success: true, mode: 'sfu' });
  }

  const announced = next(b, 'new-producer');
  await request(a, 'sfu:connect-transport', { callId: 'c', transportId: transport.transport.id, dtlsParameters: {} });
  // A client that lost its connection gets new ICE credentials; monitoring hears of it.
  const restarts: unknown[] = [];
  h.service.on('sfu:ice-restart', (e) => restarts.push(e));
  const restarted = await request(a, 'sfu:restart-ice', { callId: 'c', transportId: transport.transport.id });
  expect(restarted).toEqual({ ok: true, iceParameters: expect.objectContaining({ usernameFragment: 'u1' }) });
  expect(restarts).toEqual([{ callId: 'c', participantId: 'a', transportId: transport.transport.id }]);
  // Only the owner's transports.
  const notHers = await request(b, 'sfu:restart-ice', { callId: 'c', transportId: transport.transport.id });
  expect(notHers).toMatchObject({ ok: false, error: { code: 'MEDIA_OBJECT_NOT_FOUND' } });
  const produced = await request(a, 'sfu:produce', {
    callId: 'c',
    transportId: transport.transport.id,
    kind: 'video',
    rtpParameters: {},
  });
  expect(await announced).toMatchObject({ callId: 'c', producerId: produced.id, participantId: 'a', kind: 'video' });
  const tb = await request(b, 'sfu:create-transport', { callId: 'c' });
  const consumed = await request(b, 'sfu:consume', {
    callId: 'c',
    transportId: tb.transport.id,
    producerId: produced.id,
    rtpCapabilities: {},
  });
  expect(consumed.consumer).toMatchObject({ producerId: produced.id, kind: 'video' });
  expect(await request(b, 'sfu:resume-consumer', { callId: 'c', consumerId: consumed.consumer.id })).toEqual({
    ok: true,
  });
  expect((await request(b, 'sfu:get-router-rtp-capabilities', { callId: 'c' })).rtpCapabilities).toBeDefined();
  const closed = next(b, 'producer-closed');
  await request(a, 'call:leave', { callId: 'c' });
  expect(await closed).toMatchObject({ producerId: produced.id, participantId: 'a' });
});

test('the auth hook refuses a bad token and names participants after their user', async () => {
  await start({
    authenticate: (token) => (token === 'good' ? { userId: 'user-1', displayName: 'Ada' } : null),
  });
  await expect(connect({ token: 'bad' })).rejects.toThrow('unauthorized');
  const client = await connect({ token: 'good' });
  const response = await request(client, 'call:join', { callId: 'c', participantId: 'spoofed', conversationType: 'group' });
  expect(response).toMatchObject({ ok: true, participantId: 'user-1' });
  expect(response.call.participants[0]).toMatchObject({ id: 'user-1', displayName: 'Ada' });
});

test('a socket over its rate limit gets RATE_LIMITED', async () => {
  await start({ rateLimit: { points: 5, intervalMs: 60_000 } });
  const a = await joined('c', 'a');
  const responses = await Promise.all(
    Array.from({ length: 6 }, () => request(a, 'chat:history', { callId: 'c' })),
  );
  expect(responses.filter((r) => r.ok)).toHaveLength(4); // the join took one point
  expect(responses.filter((r) => !r.ok)).toEqual([
    { ok: false, error: { code: 'RATE_LIMITED', message: 'too many requests (event chat:history)' } },
    { ok: false, error: { code: 'RATE_LIMITED', message: 'too many requests (event chat:history)' } },
  ]);
});

test('a namespace can be served instead of the main one', async () => {
  await start({ namespace: '/calls' });
  const client = connectClient(`${url}/calls`, { transports: ['websocket'], forceNew: true, reconnection: false });
  clients.push(client);
  const response = await request(client, 'call:join', { callId: 'c', participantId: 'a', conversationType: 'group' });
  expect(response).toMatchObject({ ok: true });
  // The main namespace does not answer call events.
  const main = await connect();
  const unanswered = main.timeout(200).emitWithAck('call:join', { callId: 'c', participantId: 'b', conversationType: 'group' });
  await expect(unanswered).rejects.toThrow();
});

test('a client that cannot build the new path sends the call back to its previous mode', async () => {
  await start();
  const a = await joined('c', 'a');
  await joined('c', 'b');
  const x = await connect();
  const switching = next(a, 'call:mode-switch');
  const fellBack = next(a, 'call:mode-switched');
  await request(x, 'call:join', { callId: 'c', participantId: 'x', conversationType: 'group' });
  const { transitionId } = await switching;
  await request(x, 'call:mode-switch-ack', { callId: 'c', transitionId, success: false, reason: 'no decoder' });
  expect(await fellBack).toEqual({
    callId: 'c',
    transitionId,
    success: false,
    mode: 'p2p',
    reason: 'participant x failed: no decoder',
  });
});
