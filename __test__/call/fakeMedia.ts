/**
 * A fake media plane shaped like mediasoup's API, for unit tests of the call
 * layer (which test its decisions, not the SFU: the SFU has its own tests).
 */
import { EventEmitter } from 'node:events';
import type {
  MediaConsumer,
  MediaProducer,
  MediaRouter,
  MediaWebRtcTransport,
  MediaWorker,
  Params,
} from '../../lib/call/media';

let nextId = 0;
const newId = (prefix: string) => `${prefix}-${++nextId}`;

class FakeProducer extends EventEmitter implements MediaProducer {
  closed = false;
  /** Copies made by pipeToRouter(), which close with this producer. */
  readonly piped: FakeProducer[] = [];
  constructor(
    readonly kind: string,
    readonly appData: Params,
    public paused = false,
    readonly id = newId('producer'),
  ) {
    super();
  }
  async pause() {
    this.paused = true;
  }
  async resume() {
    this.paused = false;
  }
  close() {
    this.closed = true;
    for (const copy of this.piped) copy.close();
  }
}

class FakeConsumer extends EventEmitter implements MediaConsumer {
  readonly id = newId('consumer');
  closed = false;
  paused: boolean;
  readonly rtpParameters = { codecs: [] };
  readonly type = 'simple';
  readonly producerPaused = false;
  constructor(readonly producerId: string, readonly kind: string, paused: boolean) {
    super();
    this.paused = paused;
  }
  async resume() {
    this.paused = false;
  }
  close() {
    this.closed = true;
  }
}

export class FakeTransport extends EventEmitter implements MediaWebRtcTransport {
  readonly id = newId('transport');
  readonly iceParameters = { usernameFragment: 'u', password: 'p', iceLite: true };
  readonly iceCandidates: Params[];
  readonly dtlsParameters = { role: 'auto', fingerprints: [] };
  closed = false;
  connected = false;
  readonly producers: FakeProducer[] = [];
  readonly consumers: FakeConsumer[] = [];

  constructor(readonly router: FakeRouter, readonly options: Params) {
    super();
    // As mediasoup does: the candidate carries the announced address if any.
    const listen = options.listenInfos?.[0] ?? {};
    this.iceCandidates = [{ ip: listen.announcedAddress ?? listen.ip ?? '127.0.0.1', port: 40000, protocol: 'udp' }];
  }
  async connect() {
    this.connected = true;
  }
  restarts = 0;
  async restartIce() {
    this.restarts += 1;
    return { ...this.iceParameters, usernameFragment: `u${this.restarts}` };
  }
  async produce(options: { kind: string; rtpParameters: Params; paused?: boolean; appData?: Params }) {
    const producer = new FakeProducer(options.kind, options.appData ?? {}, options.paused ?? false);
    this.producers.push(producer);
    this.router.producers.set(producer.id, producer);
    return producer;
  }
  async consume(options: { producerId: string; paused?: boolean }) {
    const producer = this.router.producers.get(options.producerId)!;
    const consumer = new FakeConsumer(options.producerId, producer.kind, options.paused ?? false);
    this.consumers.push(consumer);
    return consumer;
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.producers) {
      p.close();
      p.emit('transportclose');
    }
    for (const c of this.consumers) {
      c.closed = true;
      c.emit('transportclose');
    }
  }
}

export class FakeRouter implements MediaRouter {
  readonly id = newId('router');
  readonly rtpCapabilities = { codecs: [{ mimeType: 'audio/opus' }], headerExtensions: [] };
  closed = false;
  readonly transports: FakeTransport[] = [];
  readonly producers = new Map<string, FakeProducer>();
  constructor(readonly worker: FakeWorker) {}
  async createWebRtcTransport(options: Params) {
    const transport = new FakeTransport(this, options);
    this.transports.push(transport);
    return transport;
  }
  canConsume({ producerId }: { producerId: string }) {
    return this.producers.get(producerId)?.closed === false;
  }
  /** As mediasoup's: the producer, same id, on another router (of another worker). */
  readonly pipedTo: { producerId: string; router: FakeRouter }[] = [];
  async pipeToRouter({ producerId, router }: { producerId?: string; router: FakeRouter }) {
    const original = this.producers.get(producerId!);
    if (!original || original.closed) throw new Error(`producer ${producerId} not found`);
    if (router.worker === this.worker) throw new Error('same worker');
    const copy = new FakeProducer(original.kind, original.appData, original.paused, original.id);
    original.piped.push(copy);
    router.producers.set(copy.id, copy);
    this.pipedTo.push({ producerId: copy.id, router });
    return { pipeProducer: copy };
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.transports) t.close();
  }
}

export class FakeWorker extends EventEmitter implements MediaWorker {
  static nextPid = 1000;
  readonly pid = FakeWorker.nextPid++;
  closed = false;
  readonly routers: FakeRouter[] = [];
  failCreateRouter = false;
  /** CPU time it reports having used (ms). */
  cpuMs = 0;
  private gate?: Promise<void>;

  async getResourceUsage() {
    return { ru_utime: this.cpuMs, ru_stime: 0 };
  }

  /** Holds every createRouter() until the returned function is called. */
  hold(): () => void {
    let open!: () => void;
    this.gate = new Promise((resolve) => (open = resolve));
    return () => {
      this.gate = undefined;
      open();
    };
  }

  async createRouter() {
    if (this.gate) await this.gate;
    if (this.failCreateRouter) throw new Error('worker refuses routers');
    const router = new FakeRouter(this);
    this.routers.push(router);
    return router;
  }
  /** Simulates the worker thread dying, as mediasoup reports it. */
  die() {
    this.closed = true;
    for (const r of this.routers) r.closed = true;
    this.emit('died', new Error('worker died'));
  }
  close() {
    this.closed = true;
    for (const r of this.routers) r.close();
  }
}

/** A `createWorker` that records the workers it made. */
export function fakeWorkerFactory() {
  const workers: FakeWorker[] = [];
  const factory = async () => {
    const worker = new FakeWorker();
    workers.push(worker);
    return worker;
  };
  return { factory, workers };
}
