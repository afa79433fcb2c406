import { EnhancedEventEmitter } from './enhancedEvents';
import { InvalidStateError, UnsupportedError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import type {
  PipeTransport,
  PipeTransportDump,
  PipeTransportEvents,
  PipeTransportObserver,
  PipeTransportObserverEvents,
  PipeTransportOptions,
  PipeTransportStat,
} from './PipeTransportTypes';
import { checkSrtpParameters, udpListenInfo, UdpRtpTransport, type PlainTransportRequest } from './PlainTransport';
import type { SrtpParameters } from './SrtpParameters';
import { assertAppData, isPlainObject, type TransportConstructorOptions } from './Transport';
import type { TransportTuple } from './TransportTypes';

const logger = new Logger('PipeTransport');

/** Checks createPipeTransport() options; the worker creates it as a plain transport in pipe mode. */
export function pipeTransportRequest(options: PipeTransportOptions<AppData>): PlainTransportRequest & { pipe: true; rtx: boolean } {
  if (!isPlainObject(options)) {
    throw new TypeError('options must be an object');
  }
  const { listenInfo, listenIp, port, enableSctp = false, enableRtx = false, enableSrtp = false, appData } =
    options as PipeTransportOptions<AppData> & { listenInfo?: unknown; listenIp?: unknown; port?: number };
  if (enableSctp) {
    throw new UnsupportedError('SCTP over a PipeTransport is not supported yet');
  }
  if (typeof enableRtx !== 'boolean' || typeof enableSrtp !== 'boolean') {
    throw new TypeError('if given, enableRtx and enableSrtp must be booleans');
  }
  assertAppData(appData);
  return {
    listenInfo: udpListenInfo(listenInfo, listenIp, port),
    rtcpMux: true,
    comedia: false,
    pipe: true,
    rtx: enableRtx,
    // mediasoup's pipes know this suite only.
    ...(enableSrtp ? { srtpCryptoSuite: 'AEAD_AES_256_GCM' as const } : {}),
  };
}

/**
 * RTP between two routers (of the same worker or of two), as mediasoup's
 * PipeTransport: its consumers are pipe consumers, sending every encoding
 * of their producer on SSRCs of their own, so that the producer made from
 * them on the other router has the same layers. `router.pipeToRouter()`
 * builds and connects a pair.
 */
export class PipeTransportImpl<PipeTransportAppData extends AppData = AppData>
  extends UdpRtpTransport<PipeTransportAppData, PipeTransportEvents, PipeTransportObserver>
  implements PipeTransport<PipeTransportAppData>
{
  #tuple: TransportTuple;

  constructor({
    data,
    ...base
  }: TransportConstructorOptions<PipeTransportAppData> & { data: { tuple: TransportTuple; srtpParameters?: SrtpParameters | null } }) {
    super(base, new EnhancedEventEmitter<PipeTransportObserverEvents>());
    logger.debug('constructor()');
    this.#tuple = data.tuple;
    this.localSrtp = data.srtpParameters ?? undefined;
    this.channel.on(this.id, (event: string, eventData: any) => {
      if (!this.handleCommonEvent(event, eventData)) {
        logger.error(`ignoring unknown event "${event}"`);
      }
    });
  }

  override get type(): 'pipe' {
    return 'pipe';
  }

  override get observer(): PipeTransportObserver {
    return super.observer;
  }

  get tuple(): TransportTuple {
    return this.#tuple;
  }

  override async dump(): Promise<PipeTransportDump> {
    return super.dump();
  }

  override async getStats(): Promise<PipeTransportStat[]> {
    const stats = await super.getStats();
    return stats.map((s) => ({ ...s, type: 'pipe-transport' }));
  }

  async connect({ ip, port, srtpParameters }: { ip: string; port: number; srtpParameters?: SrtpParameters }): Promise<void> {
    logger.debug('connect()');
    this.assertOpen();
    const remoteSrtp = srtpParameters === undefined ? undefined : checkSrtpParameters(srtpParameters);
    if (typeof ip !== 'string' || ip.length === 0) {
      throw new TypeError('missing ip');
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError('missing or invalid port');
    }
    const state = await this.channel.request('transport.connect', this.id, { ip, port, srtpParameters: remoteSrtp });
    if (this.closed) {
      throw new InvalidStateError('Transport closed');
    }
    this.#tuple = state.tuple;
  }
}
