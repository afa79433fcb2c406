import createDebug from 'debug';
import type { Namespace, Server, Socket } from 'socket.io';
import type { CallService, CallSignal } from './CallService';
import { CallError, NotCallOwnerError, toWireError, type WireError } from './errors';

const debug = createDebug('opencall:call:socket');

export interface AuthResult {
  /** Becomes the participant id in every call this socket joins. */
  userId: string;
  displayName?: string;
}

export interface AttachCallServiceOptions {
  /** Namespace to serve (default the main namespace, `/`). */
  namespace?: string;
  /**
   * Verifies `socket.handshake.auth.token` on connection. Return the user, or
   * null/false to refuse the connection. Without it, a client names itself
   * (`participantId` in `call:join`, else its socket id): fine for development only.
   */
  authenticate?: (token: unknown, socket: Socket) => Promise<AuthResult | null | false> | AuthResult | null | false;
  /** Per-socket limit on our events (default 60 per second); false to disable. */
  rateLimit?: { points: number; intervalMs: number } | false;
  /**
   * How long a participant whose socket dropped keeps its seat (default
   * 10 000 ms; 0 leaves at once). Joining again meanwhile from a new socket
   * (the browser client does so on reconnect) keeps the seat, its media and
   * the call's mode; the others see nothing of the drop. An explicit
   * `call:leave` leaves at once.
   */
  reconnectGraceMs?: number;
}

export interface CallBinding {
  readonly namespace: Namespace;
  /** Removes our handlers and middleware; the gateway's own stay. */
  detach(): void;
}

type Ack = (response: ({ ok: true } & Record<string, unknown>) | { ok: false; error: WireError }) => void;
type Payload = Record<string, any>;

/** Operations a node may run for another one (see `forward`). */
type Operation =
  | 'join'
  | 'leave'
  | 'media'
  | 'quality'
  | 'ack'
  | 'chat'
  | 'chatHistory'
  | 'rtpCapabilities'
  | 'createTransport'
  | 'connectTransport'
  | 'restartIce'
  | 'produce'
  | 'closeProducer'
  | 'pauseProducer'
  | 'resumeProducer'
  | 'consume'
  | 'resumeConsumer';

interface ForwardRequest {
  target: string;
  op: Operation;
  callId: string;
  participantId: string;
  args: Payload;
}

const FORWARD_EVENT = 'opencall:forward';
const RELAYED_SIGNALING = ['webrtc:offer', 'webrtc:answer', 'webrtc:ice-candidate'] as const;

const callRoom = (callId: string) => `opencall:call:${callId}`;
const peerRoom = (callId: string, participantId: string) => `opencall:peer:${callId}:${participantId}`;

/**
 * Adds the call layer's events to a gateway's existing Socket.IO server (or
 * one of its namespaces) without taking it over: the gateway's own handlers,
 * middleware and rooms are left alone, and ours all start with `call:`,
 * `chat:`, `sfu:` or `webrtc:`.
 *
 * Several gateway nodes can share one call: each call is owned by one node
 * (see `CallService`); a request reaching another node is forwarded to the
 * owner with `serverSideEmit` (which needs a multi-node adapter such as
 * `@socket.io/redis-adapter`), and events reach sockets on any node through
 * the adapter's rooms.
 */
export function attachCallService(
  io: Server,
  service: CallService,
  options: AttachCallServiceOptions = {},
): CallBinding {
  const nsp = io.of(options.namespace ?? '/');
  const rateLimit = options.rateLimit === undefined ? { points: 60, intervalMs: 1_000 } : options.rateLimit;
  const reconnectGraceMs = options.reconnectGraceMs ?? 10_000;
  const detachers: (() => void)[] = [];
  /** Delayed leaves of dropped sockets, cleared on detach. */
  const graceTimers = new Set<NodeJS.Timeout>();
  detachers.push(() => {
    for (const timer of graceTimers) clearTimeout(timer);
    graceTimers.clear();
  });

  const operations: Record<Operation, (callId: string, participantId: string, args: Payload) => Promise<unknown>> = {
    join: (callId, participantId, a) =>
      service.join(callId, {
        participantId,
        conversationType: a.conversationType,
        role: a.role,
        media: a.media,
        displayName: a.displayName,
        p2pParticipantLimit: a.p2pParticipantLimit,
        nodeId: a.nodeId,
        connectionId: a.connectionId,
      }),
    leave: (callId, participantId, a) => service.leave(callId, participantId, { connectionId: a.connectionId }),
    media: (callId, participantId, a) => service.updateMedia(callId, participantId, a),
    quality: (callId, participantId, a) => service.reportQuality(callId, participantId, a.sample),
    ack: (callId, participantId, a) =>
      service.acknowledgeTransition(callId, participantId, a.transitionId, a.success !== false, a.reason),
    chat: (callId, participantId, a) => service.sendChatMessage(callId, participantId, a.text),
    chatHistory: async (callId) => service.chatHistory(callId),
    rtpCapabilities: (callId, participantId) => service.getRouterRtpCapabilities(callId, participantId),
    createTransport: (callId, participantId, a) => service.createWebRtcTransport(callId, participantId, a.appData),
    connectTransport: (callId, participantId, a) =>
      service.connectWebRtcTransport(callId, participantId, a.transportId, a.dtlsParameters),
    restartIce: (callId, participantId, a) => service.restartIce(callId, participantId, a.transportId),
    produce: (callId, participantId, a) =>
      service.produce(callId, participantId, {
        transportId: a.transportId,
        kind: a.kind,
        rtpParameters: a.rtpParameters,
        paused: a.paused,
        appData: a.appData,
      }),
    closeProducer: (callId, participantId, a) => service.closeProducer(callId, participantId, a.producerId),
    pauseProducer: (callId, participantId, a) => service.pauseProducer(callId, participantId, a.producerId),
    resumeProducer: (callId, participantId, a) => service.resumeProducer(callId, participantId, a.producerId),
    consume: (callId, participantId, a) =>
      service.consume(callId, participantId, {
        transportId: a.transportId,
        producerId: a.producerId,
        rtpCapabilities: a.rtpCapabilities,
      }),
    resumeConsumer: (callId, participantId, a) => service.resumeConsumer(callId, participantId, a.consumerId),
  };

  /** Runs an operation here, or on the node that owns the call. */
  async function dispatch(op: Operation, callId: string, participantId: string, args: Payload): Promise<unknown> {
    try {
      return await operations[op](callId, participantId, args);
    } catch (error) {
      if (!(error instanceof NotCallOwnerError)) throw error;
      return forward({ target: error.ownerNodeId, op, callId, participantId, args });
    }
  }

  function forward(request: ForwardRequest): Promise<unknown> {
    return new Promise((resolve, reject) => {
      try {
        nsp.serverSideEmit(FORWARD_EVENT, request, (err: Error | null, responses: unknown[]) => {
          const answer = responses?.find((r): r is { ok: boolean; result?: unknown; error?: WireError } =>
            Boolean(r && typeof r === 'object' && 'ok' in r),
          );
          if (answer?.ok) resolve(answer.result);
          else if (answer?.error) reject(new CallError(answer.error.code as never, answer.error.message));
          else reject(new CallError('FORWARD_FAILED', `node ${request.target} did not answer${err ? `: ${err.message}` : ''}`));
        });
      } catch (error) {
        // The default in-memory adapter cannot reach other nodes.
        reject(new CallError('FORWARD_FAILED', `cannot reach node ${request.target}: ${(error as Error).message}`));
      }
    });
  }

  // Every node receives every forwarded request and must answer (Socket.IO
  // waits for all); only the target runs it.
  const onForward = (request: ForwardRequest, ack: (response: unknown) => void) => {
    if (request?.target !== service.nodeId) return ack(null);
    operations[request.op](request.callId, request.participantId, request.args).then(
      (result) => ack({ ok: true, result }),
      (error) => ack({ ok: false, error: toWireError(error) }),
    );
  };
  nsp.on(FORWARD_EVENT as never, onForward as never);
  detachers.push(() => nsp.off(FORWARD_EVENT as never, onForward as never));

  const onSignal = (signal: CallSignal) => {
    let target = nsp.to(signal.to ? peerRoom(signal.callId, signal.to) : callRoom(signal.callId));
    if (signal.except) target = target.except(peerRoom(signal.callId, signal.except));
    target.emit(signal.event, signal.payload);
  };
  service.on('signal', onSignal);
  detachers.push(() => service.off('signal', onSignal));

  if (options.authenticate) {
    const authenticate = options.authenticate;
    nsp.use((socket, next) => {
      Promise.resolve()
        .then(() => authenticate(socket.handshake.auth?.token, socket))
        .then(
          (user) => {
            if (!user || typeof user.userId !== 'string' || user.userId === '') {
              next(new Error('unauthorized'));
              return;
            }
            socket.data.opencallUser = user;
            next();
          },
          () => next(new Error('unauthorized')),
        );
    });
    // Socket.IO has no way to remove a middleware; a detached binding lets it pass.
  }

  const onConnection = (socket: Socket) => bindSocket(socket);
  nsp.on('connection', onConnection);
  detachers.push(() => nsp.off('connection', onConnection));

  function bindSocket(socket: Socket): void {
    /** callId -> participant id, for the calls this socket is in. */
    const calls = new Map<string, string>();
    const user = socket.data.opencallUser as AuthResult | undefined;
    const limiter = rateLimit ? tokenBucket(rateLimit.points, rateLimit.intervalMs) : () => true;
    const handlers: [string, (...args: any[]) => void][] = [];

    const on = (event: string, handler: (payload: Payload) => Promise<Record<string, unknown> | void>) => {
      const listener = (payload: unknown, maybeAck?: unknown) => {
        const ack: Ack | undefined = typeof maybeAck === 'function' ? (maybeAck as Ack) : undefined;
        const fail = (error: unknown) => {
          const wire = toWireError(error);
          if (ack) ack({ ok: false, error: wire });
          else socket.emit('call:error', { event, error: wire });
        };
        if (!limiter()) return fail(new CallError('RATE_LIMITED', `too many requests (event ${event})`));
        if (typeof payload !== 'object' || payload === null) return fail(new TypeError(`${event} needs an object payload`));
        handler(payload as Payload).then((result) => ack?.({ ok: true, ...(result ?? {}) }), fail);
      };
      socket.on(event, listener);
      handlers.push([event, listener]);
    };

    const memberOf = (payload: Payload): [string, string] => {
      const callId = payload.callId;
      const participantId = typeof callId === 'string' ? calls.get(callId) : undefined;
      if (!participantId) throw new CallError('NOT_IN_CALL', `this socket has not joined call ${String(callId)}`);
      return [callId, participantId];
    };
    const call = (op: Operation, payload: Payload) => {
      const [callId, participantId] = memberOf(payload);
      return dispatch(op, callId, participantId, payload);
    };

    on('call:join', async (p) => {
      if (typeof p.callId !== 'string') throw new TypeError('call:join needs a callId');
      const participantId = user?.userId ?? (typeof p.participantId === 'string' ? p.participantId : socket.id);
      // Rooms first: the switch a join may start is announced to the room.
      await socket.join([callRoom(p.callId), peerRoom(p.callId, participantId)]);
      try {
        const result = (await dispatch('join', p.callId, participantId, {
          ...p,
          displayName: user?.displayName ?? p.displayName,
          nodeId: service.nodeId,
          connectionId: socket.id,
        })) as Record<string, unknown>;
        calls.set(p.callId, participantId);
        return { participantId, ...result };
      } catch (error) {
        if (!calls.has(p.callId)) {
          socket.leave(callRoom(p.callId));
          socket.leave(peerRoom(p.callId, participantId));
        }
        throw error;
      }
    });
    on('call:leave', async (p) => {
      const [callId, participantId] = memberOf(p);
      calls.delete(callId);
      socket.leave(callRoom(callId));
      socket.leave(peerRoom(callId, participantId));
      await dispatch('leave', callId, participantId, {});
    });
    on('call:media', async (p) => ({ participant: await call('media', p) }));
    on('call:quality', async (p) => void (await call('quality', { ...p, sample: p })));
    on('call:mode-switch-ack', async (p) => (await call('ack', p)) as Record<string, unknown>);
    on('chat:message', async (p) => ({ message: await call('chat', p) }));
    on('chat:history', async (p) => ({ messages: await call('chatHistory', p) }));
    on('sfu:get-router-rtp-capabilities', async (p) => ({ rtpCapabilities: await call('rtpCapabilities', p) }));
    on('sfu:create-transport', async (p) => ({ transport: await call('createTransport', p) }));
    on('sfu:connect-transport', async (p) => void (await call('connectTransport', p)));
    on('sfu:restart-ice', async (p) => ({ iceParameters: await call('restartIce', p) }));
    on('sfu:produce', async (p) => (await call('produce', p)) as Record<string, unknown>);
    on('sfu:close-producer', async (p) => void (await call('closeProducer', p)));
    on('sfu:pause-producer', async (p) => void (await call('pauseProducer', p)));
    on('sfu:resume-producer', async (p) => void (await call('resumeProducer', p)));
    on('sfu:consume', async (p) => ({ consumer: await call('consume', p) }));
    on('sfu:resume-consumer', async (p) => void (await call('resumeConsumer', p)));

    // P2P signaling is relayed, never interpreted: it works across nodes
    // through the adapter, and the server never sees media keys it needs not.
    for (const event of RELAYED_SIGNALING) {
      on(event, async (p) => {
        const [callId, from] = memberOf(p);
        if (typeof p.to !== 'string') throw new TypeError(`${event} needs a target participant id (to)`);
        const { to, ...rest } = p;
        nsp.to(peerRoom(callId, to)).emit(event, { ...rest, callId, from });
      });
    }

    const onDisconnect = () => {
      for (const [callId, participantId] of calls) {
        const leave = () =>
          dispatch('leave', callId, participantId, { connectionId: socket.id }).catch((error) =>
            debug('leave on disconnect failed for %s in %s: %o', participantId, callId, error),
          );
        if (reconnectGraceMs <= 0) {
          void leave();
          continue;
        }
        // The seat waits for a reconnect; the leave only applies if none came.
        const timer = setTimeout(() => {
          graceTimers.delete(timer);
          void leave();
        }, reconnectGraceMs);
        timer.unref?.();
        graceTimers.add(timer);
      }
      calls.clear();
    };
    socket.on('disconnect', onDisconnect);
    handlers.push(['disconnect', onDisconnect]);
    detachers.push(() => {
      for (const [event, handler] of handlers) socket.off(event, handler);
    });
  }

  for (const socket of nsp.sockets.values()) bindSocket(socket);

  return {
    namespace: nsp,
    detach: () => {
      for (const detach of detachers.splice(0)) detach();
    },
  };
}

/** A token bucket: `points` events per `intervalMs`, refilled continuously. */
function tokenBucket(points: number, intervalMs: number): () => boolean {
  let tokens = points;
  let last = Date.now();
  return () => {
    const now = Date.now();
    tokens = Math.min(points, tokens + ((now - last) * points) / intervalMs);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}
