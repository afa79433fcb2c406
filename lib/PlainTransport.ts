import { EnhancedEventEmitter } from './enhancedEvents';
import { InvalidStateError, UnsupportedError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import type {
  PlainTransport,
  PlainTransportDump,
  PlainTransportEvents,
  PlainTransportObserver,
  PlainTransportObserverEvents,
  PlainTransportOptions,
  PlainTransportStat,
} from './PlainTransportTypes';
import type { SctpNegotiatedCapabilities, SctpParameters } from './SctpParameters';
import type { SrtpCryptoSuite, SrtpParameters } from './SrtpParameters';
import { assertAppData, isPlainObject, TransportImpl, type TransportConstructorOptions } from './Transport';
import type { SctpState, TransportEvents, TransportObserver, TransportTuple } from './TransportTypes';
import { checkListenInfo, type NativeListenInfo } from './WebRtcTransport';

const logger = new Logger('PlainTransport');

/** The data of a `router.createPlainTransport` request, minus the transport id. */
export type PlainTransportRequest = {
  listenInfo: NativeListenInfo;
  rtcpListenInfo?: NativeListenInfo;
  rtcpMux: boolean;
  comedia: boolean;
  /** SRTP in this suite; the worker makes the key. */
  srtpCryptoSuite?: SrtpCryptoSuite;
};

/** What the worker answers: mediasoup's initial PlainTransport state. */
type PlainTransportState = {
  rtcpMux: boolean;
  comedia: boolean;
  tuple: TransportTuple;
  rtcpTuple?: TransportTuple | null;
  srtpParameters?: SrtpParameters | null;
};

const CRYPTO_SUITES: readonly SrtpCryptoSuite[] = [
  'AEAD_AES_256_GCM',
  'AEAD_AES_128_GCM',
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
];

/** mediasoup's check of a crypto suite name. */
export function checkCryptoSuite(cryptoSuite: unknown): SrtpCryptoSuite {
  if (!CRYPTO_SUITES.includes(cryptoSuite as SrtpCryptoSuite)) {
    throw new TypeError(`invalid SrtpCryptoSuite: ${String(cryptoSuite)}`);
  }
  return cryptoSuite as SrtpCryptoSuite;
}

/** The peer's `srtpParameters` given to connect(), checked. */
export function checkSrtpParameters(srtpParameters: unknown): SrtpParameters {
  if (!isPlainObject(srtpParameters)) {
    // A fixed message: what was passed may be a key.
    throw new TypeError('srtpParameters must be an object { cryptoSuite, keyBase64 }');
  }
  const { cryptoSuite, keyBase64 } = srtpParameters as { cryptoSuite?: unknown; keyBase64?: unknown };
  checkCryptoSuite(cryptoSuite);
  if (typeof keyBase64 !== 'string' || keyBase64.length === 0) {
    throw new TypeError('missing srtpParameters.keyBase64');
  }
  return { cryptoSuite: cryptoSuite as SrtpCryptoSuite, keyBase64 };
}

/**
 * The UDP socket of a plain or pipe transport: `listenInfo`, or the
 * deprecated `listenIp` (a string or `{ ip, announcedIp }`) and `port`.
 */
export function udpListenInfo(listenInfo: unknown, listenIp: unknown, port: unknown): NativeListenInfo {
  let info: NativeListenInfo;
  if (listenInfo !== undefined) {
    info = checkListenInfo(listenInfo);
  } else if (listenIp !== undefined) {
    const { ip, announcedIp } =
      typeof listenIp === 'string'
        ? { ip: listenIp, announcedIp: undefined }
        : (listenIp as { ip?: unknown; announcedIp?: unknown });
    info = checkListenInfo({ protocol: 'udp', ip, announcedAddress: announcedIp ?? undefined, port });
  } else {
    throw new TypeError('missing listenInfo and listenIp (one of them is mandatory)');
  }
  if (info.protocol !== 'udp') {
    throw new TypeError('plain RTP transports listen on UDP only');
  }
  return info;
}

/** Checks createPlainTransport() options (TypeError / UnsupportedError) the way mediasoup does. */
export function plainTransportRequest(options: PlainTransportOptions<AppData>): PlainTransportRequest {
  if (!isPlainObject(options)) {
    throw new TypeError('options must be an object');
  }
  const {
    listenInfo,
    rtcpListenInfo,
    listenIp,
    port,
    rtcpMux = true,
    comedia = false,
    enableSctp = false,
    enableSrtp = false,
    srtpCryptoSuite = 'AES_CM_128_HMAC_SHA1_80',
    appData,
  } = options as PlainTransportOptions<AppData> & {
    listenInfo?: unknown;
    rtcpListenInfo?: unknown;
    listenIp?: unknown;
    port?: number;
  };
  if (typeof rtcpMux !== 'boolean' || typeof comedia !== 'boolean') {
    throw new TypeError('if given, rtcpMux and comedia must be booleans');
  }
  if (enableSctp) {
    throw new UnsupportedError('SCTP over a PlainTransport is not supported yet');
  }
  // Checked even without enableSrtp, as mediasoup does.
  checkCryptoSuite(srtpCryptoSuite);
  assertAppData(appData);
  const info = udpListenInfo(listenInfo, listenIp, port);
  const request: PlainTransportRequest = { listenInfo: info, rtcpMux, comedia };
  if (enableSrtp) {
    request.srtpCryptoSuite = srtpCryptoSuite;
  }
  if (rtcpListenInfo !== undefined && !rtcpMux) {
    request.rtcpListenInfo = checkListenInfo(rtcpListenInfo);
  }
  return request;
}

/**
 * What plain and pipe transports share: RTP over UDP, with SRTP keyed by
 * `srtpParameters` if enabled; no SCTP (yet).
 */
export abstract class UdpRtpTransport<
  A extends AppData,
  E extends TransportEvents,
  O extends TransportObserver,
> extends TransportImpl<A, E, O> {
  get sctpParameters(): SctpParameters | undefined {
    return undefined;
  }

  get sctpState(): SctpState | undefined {
    return undefined;
  }

  get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined {
    return undefined;
  }

  /** Ours (what we encrypt with): give them to the peer. */
  get srtpParameters(): SrtpParameters | undefined {
    return this.localSrtp ? { ...this.localSrtp } : undefined;
  }

  /** @internal Set from the worker's answers (creation, connect). */
  protected localSrtp?: SrtpParameters;
}

/**
 * RTP and RTCP over UDP, to and from tools such as FFmpeg or GStreamer: no
 * ICE, no DTLS; SRTP if enabled. Consumers send plain RTP headers (the
 * audio-level and video-orientation extensions) and an RTCP sender report
 * per stream every second, and answer NACKs with RTX where both ends have
 * them; PLI/FIR from the peer reach the producer.
 */
export class PlainTransportImpl<PlainTransportAppData extends AppData = AppData>
  extends UdpRtpTransport<PlainTransportAppData, PlainTransportEvents, PlainTransportObserver>
  implements PlainTransport<PlainTransportAppData>
{
  #tuple: TransportTuple;
  #rtcpTuple?: TransportTuple;
  readonly #rtcpMux: boolean;
  readonly #comedia: boolean;

  constructor({ data, ...base }: TransportConstructorOptions<PlainTransportAppData> & { data: PlainTransportState }) {
    super(base, new EnhancedEventEmitter<PlainTransportObserverEvents>());
    logger.debug('constructor()');
    this.#tuple = data.tuple;
    this.#rtcpTuple = data.rtcpTuple ?? undefined;
    this.#rtcpMux = data.rtcpMux;
    this.#comedia = data.comedia;
    this.localSrtp = data.srtpParameters ?? undefined;
    this.channel.on(this.id, (event: string, eventData: any) => this.#onWorkerEvent(event, eventData));
  }

  override get type(): 'plain' {
    return 'plain';
  }

  override get observer(): PlainTransportObserver {
    return super.observer;
  }

  get tuple(): TransportTuple {
    return this.#tuple;
  }

  get rtcpTuple(): TransportTuple | undefined {
    return this.#rtcpTuple;
  }

  get rtcpMux(): boolean {
    return this.#rtcpMux;
  }

  get comedia(): boolean {
    return this.#comedia;
  }

  override async dump(): Promise<PlainTransportDump> {
    return super.dump();
  }

  override async getStats(): Promise<PlainTransportStat[]> {
    return super.getStats();
  }

  async connect({
    ip,
    port,
    rtcpPort,
    srtpParameters,
  }: { ip?: string; port?: number; rtcpPort?: number; srtpParameters?: SrtpParameters } = {}): Promise<void> {
    logger.debug('connect()');
    this.assertOpen();
    const remoteSrtp = srtpParameters === undefined ? undefined : checkSrtpParameters(srtpParameters);
    if (ip !== undefined && (typeof ip !== 'string' || ip.length === 0)) {
      throw new TypeError('if given, ip must be a non empty string');
    }
    for (const [name, value] of [
      ['port', port],
      ['rtcpPort', rtcpPort],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > 65535)) {
        throw new TypeError(`if given, ${name} must be a valid port`);
      }
    }
    const state = (await this.channel.request('transport.connect', this.id, {
      ip,
      port,
      rtcpPort,
      srtpParameters: remoteSrtp,
    })) as PlainTransportState;
    if (this.closed) {
      throw new InvalidStateError('Transport closed');
    }
    this.#tuple = state.tuple;
    this.#rtcpTuple = state.rtcpTuple ?? undefined;
    // A peer's other suite re-keys ours: read srtpParameters again.
    this.localSrtp = state.srtpParameters ?? undefined;
  }

  #onWorkerEvent(event: string, data: any): void {
    switch (event) {
      case 'tuple': {
        const tuple = data.tuple as TransportTuple;
        this.#tuple = tuple;
        this.safeEmit('tuple', tuple);
        this.observer.safeEmit('tuple', tuple);
        break;
      }
      case 'rtcptuple': {
        const tuple = data.rtcpTuple as TransportTuple;
        this.#rtcpTuple = tuple;
        this.safeEmit('rtcptuple', tuple);
        this.observer.safeEmit('rtcptuple', tuple);
        break;
      }
      default:
        if (!this.handleCommonEvent(event, data)) {
          logger.error(`ignoring unknown event "${event}"`);
        }
    }
  }
}
