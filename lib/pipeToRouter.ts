import type { Consumer } from './ConsumerTypes';
import type { DataConsumer } from './DataConsumerTypes';
import type { DataProducer } from './DataProducerTypes';
import type { DirectTransport } from './DirectTransportTypes';
import { InvalidStateError, UnsupportedError } from './errors';
import type { Producer } from './ProducerTypes';
import type { PipeTransport } from './PipeTransportTypes';
import type { PipeToRouterOptions, PipeToRouterResult, Router } from './RouterTypes';
import type { TransportListenInfo } from './TransportTypes';

/** What a pair of PipeTransports is made with (the first pipeToRouter() call's). */
export type PipeOptions = { enableSrtp: boolean; enableRtx: boolean };

/** The two ends of a pipe between two routers: this router's, and the other's. */
export type PipeTransportPair = { local: PipeTransport; remote: PipeTransport };

/** What pipeToRouter() needs of the router it is called on. */
export interface PipeSource {
  readonly id: string;
  /** Whether `other` runs on the same worker (thread) as this router. */
  sharesWorkerWith(other: Router): boolean;
  getProducerObject(producerId: string): Producer | undefined;
  getDataProducerObject(dataProducerId: string): DataProducer | undefined;
  createDirectTransport(): Promise<DirectTransport>;
  /** The cached pair towards `other`, created and connected on first use. */
  pipeTransportPair(other: Router, listenInfo: TransportListenInfo, options: PipeOptions): Promise<PipeTransportPair>;
}

/** The checks of mediasoup's pipeToRouter(), and the listen address it defaults to. */
export function pipeToRouterListenInfo(source: PipeSource, options: PipeToRouterOptions): TransportListenInfo {
  const { producerId, dataProducerId, router } = options;
  if (!producerId && !dataProducerId) {
    throw new TypeError('missing producerId or dataProducerId');
  } else if (producerId && dataProducerId) {
    throw new TypeError('just producerId or dataProducerId can be given');
  } else if (!router) {
    throw new TypeError('Router not found');
  } else if (router.id === source.id) {
    throw new TypeError('cannot use this Router as destination');
  }
  const { listenInfo, listenIp } = options as { listenInfo?: TransportListenInfo; listenIp?: unknown };
  if (listenInfo) {
    return listenInfo;
  }
  if (typeof listenIp === 'string') {
    return { protocol: 'udp', ip: listenIp };
  }
  if (listenIp && typeof listenIp === 'object') {
    const { ip, announcedIp } = listenIp as { ip: string; announcedIp?: string };
    return { protocol: 'udp', ip, announcedAddress: announcedIp };
  }
  return { protocol: 'udp', ip: '127.0.0.1' };
}

/**
 * Both ends of a pipe, made at once; if either fails, the one made is
 * closed and the failure thrown, so nothing is left behind.
 */
export async function createBothEnds<T extends { close(): void }>(ends: [Promise<T>, Promise<T>]): Promise<[T, T]> {
  const made = await Promise.allSettled(ends);
  const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    made.forEach((r) => r.status === 'fulfilled' && r.value.close());
    throw failed.reason;
  }
  return made.map((r) => (r as PromiseFulfilledResult<T>).value) as [T, T];
}

/** Producers are registered per worker here: the same id twice on one worker would clash. */
function assertIdsCanBeKept(source: PipeSource, router: Router, keepId: boolean): void {
  if (keepId && source.sharesWorkerWith(router)) {
    throw new UnsupportedError('pipeToRouter() between routers of one worker needs keepId: false');
  }
}

/**
 * A data producer made consumable on another router: messages are few, so
 * they cross in Node, from a DirectTransport data consumer here to a
 * DirectTransport data producer there (both of type 'direct'), which
 * follows the original's pause, resume and close.
 */
async function pipeDataProducerToRouter(
  source: PipeSource,
  dataProducerId: string,
  router: Router,
  keepId: boolean,
): Promise<PipeToRouterResult> {
  const original = source.getDataProducerObject(dataProducerId);
  if (!original) {
    throw new TypeError('DataProducer not found');
  }
  const [here, there] = await createBothEnds([source.createDirectTransport(), router.createDirectTransport()]);
  const closeBoth = (): void => {
    here.close();
    there.close();
  };
  let pipeDataConsumer: DataConsumer;
  let pipeDataProducer: DataProducer;
  try {
    pipeDataConsumer = await here.consumeData({ dataProducerId });
    pipeDataProducer = await there.produceData({
      id: keepId ? original.id : undefined,
      // Kept for its SCTP consumers on the other router: the original's
      // ordering and reliability.
      sctpStreamParameters: original.sctpStreamParameters,
      label: original.label,
      protocol: original.protocol,
      paused: original.paused,
      appData: original.appData,
    });
    if (original.closed) {
      throw new InvalidStateError('original DataProducer closed');
    }
  } catch (error) {
    closeBoth();
    throw error;
  }
  pipeDataConsumer.on('message', (message, ppid) => {
    if (!pipeDataProducer.closed) pipeDataProducer.send(message, ppid);
  });
  pipeDataConsumer.on('dataproducerpause', () => void pipeDataProducer.pause().catch(() => undefined));
  pipeDataConsumer.on('dataproducerresume', () => void pipeDataProducer.resume().catch(() => undefined));
  // A pause or resume while the copy was being made.
  if (original.paused !== pipeDataProducer.paused) {
    await (original.paused ? pipeDataProducer.pause() : pipeDataProducer.resume());
  }
  pipeDataConsumer.observer.on('close', closeBoth);
  pipeDataProducer.observer.on('close', closeBoth);
  return { pipeDataConsumer, pipeDataProducer };
}

/**
 * Makes a producer of this router consumable on `options.router`: a pipe
 * consumer here, a producer there made from its parameters (with the same
 * id by default), tied together as mediasoup ties them: closing either
 * closes the other, and pausing or resuming the original reaches the copy.
 */
export async function pipeProducerToRouter(source: PipeSource, options: PipeToRouterOptions): Promise<PipeToRouterResult> {
  const listenInfo = pipeToRouterListenInfo(source, options);
  const { producerId, router, keepId = true } = options;
  assertIdsCanBeKept(source, router, keepId);

  if (options.dataProducerId) {
    return pipeDataProducerToRouter(source, options.dataProducerId, router, keepId);
  }
  const producer = source.getProducerObject(producerId!);
  if (!producer) {
    throw new TypeError('Producer not found');
  }
  const { local, remote } = await source.pipeTransportPair(router, listenInfo, {
    enableSrtp: options.enableSrtp === true,
    enableRtx: options.enableRtx === true,
  });
  let pipeConsumer: Consumer | undefined;
  let pipeProducer: Producer | undefined;
  try {
    pipeConsumer = await local.consume({ producerId: producerId! });
    pipeProducer = await remote.produce({
      id: keepId ? producer.id : undefined,
      kind: pipeConsumer.kind,
      rtpParameters: pipeConsumer.rtpParameters,
      paused: pipeConsumer.producerPaused,
      appData: producer.appData,
    });
    if (producer.closed) {
      throw new InvalidStateError('original Producer closed');
    }
  } catch (error) {
    pipeConsumer?.close();
    pipeProducer?.close();
    throw error;
  }
  const [consumer, copy] = [pipeConsumer, pipeProducer];
  consumer.observer.on('close', () => copy.close());
  consumer.observer.on('pause', () => void copy.pause().catch(() => undefined));
  consumer.observer.on('resume', () => void copy.resume().catch(() => undefined));
  copy.observer.on('close', () => consumer.close());
  return { pipeConsumer: consumer, pipeProducer: copy };
}
