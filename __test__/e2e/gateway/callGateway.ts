// A gateway as an application would write one: Node http + Socket.IO, with
// opencall's CallService attached (real media workers), optionally sharing a
// Redis with other gateways (store + Socket.IO adapter). Used in-process by
// call.test.ts and as a separate process by callTwoGateways.test.ts.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import IORedis from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { CallService, RedisCallStore, attachCallService, type MediaWorkerFactory } from '../../../lib/call';

export interface CallGatewayOptions {
  nodeId?: string;
  /** Share state and events with other gateways through this Redis. */
  redisUrl?: string;
  /** Redis key prefix (one per test run). */
  prefix?: string;
  /** Short timings so a test sees SFU -> P2P within seconds. */
  hysteresisMs?: number;
  minTransitionIntervalMs?: number;
  /** Default: opencall's own createWorker. */
  createWorker?: MediaWorkerFactory;
  /** Media workers; default 1. */
  numWorkers?: number;
  maxParticipantsPerRouter?: number;
  /** Default: UDP on 127.0.0.1. */
  webRtcTransportOptions?: Record<string, unknown>;
}

export interface CallGateway {
  url: string;
  service: CallService;
  /** The gateway's Socket.IO server (a test may add middleware). */
  io: Server;
  close(): Promise<void>;
}

export async function startCallGateway(options: CallGatewayOptions = {}): Promise<CallGateway> {
  const http = createServer();
  const redis = options.redisUrl ? new IORedis(options.redisUrl) : null;
  const sub = redis?.duplicate() ?? null;
  const io = new Server(http, {
    // The test pages come from another loopback origin.
    cors: { origin: true },
    ...(redis && sub ? { adapter: createAdapter(redis, sub, { requestsTimeout: 3_000 }) } : {}),
  });
  const store = options.redisUrl ? new RedisCallStore({ url: options.redisUrl, prefix: options.prefix }) : undefined;
  const service = new CallService({
    nodeId: options.nodeId,
    announcedAddress: '127.0.0.1',
    store,
    hysteresisMs: options.hysteresisMs ?? 2_000,
    minTransitionIntervalMs: options.minTransitionIntervalMs ?? 2_000,
    maxParticipantsPerRouter: options.maxParticipantsPerRouter,
    pool: { numWorkers: options.numWorkers ?? 1, createWorker: options.createWorker, workerSettings: { logLevel: 'warn' } },
    webRtcTransportOptions: options.webRtcTransportOptions ?? { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] },
  });
  const binding = attachCallService(io, service);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let closed = false;
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    service,
    io,
    close: async () => {
      if (closed) return;
      closed = true;
      binding.detach();
      await service.close();
      io.disconnectSockets(true);
      await new Promise((resolve) => io.close(resolve));
      http.closeAllConnections();
      await store?.close();
      redis?.disconnect();
      sub?.disconnect();
    },
  };
}
