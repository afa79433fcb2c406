import { EnhancedEventEmitter } from './enhancedEvents';
import { InvalidStateError } from './errors';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import type { SctpNegotiatedCapabilities, SctpParameters } from './SctpParameters';
import { assertAppData, isPlainObject, TransportImpl, type TransportConstructorOptions } from './Transport';
import type { SctpState, TransportListenInfo, TransportProtocol, TransportTuple } from './TransportTypes';
import type {
  DtlsParameters,
  DtlsState,
  IceCandidate,
  IceParameters,
  IceState,
  WebRtcTransport,
  WebRtcTransportData,
  WebRtcTransportDump,
  WebRtcTransportEvents,
  WebRtcTransportObserver,
  WebRtcTransportObserverEvents,
  WebRtcTransportOptions,
  WebRtcTransportStat,
} from './WebRtcTransportTypes';

const logger = new Logger('WebRtcTransport');

const FINGERPRINT_ALGORITHMS = ['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'];
const DTLS_ROLES = ['auto', 'client', 'server'];

/** One entry of `listenInfos` as the worker takes it. */
export type NativeListenInfo = {
  protocol: TransportProtocol;
  ip: string;
  announcedAddress?: string;
  port?: number;
  portRange?: { min: number; max: number };
};

/** The data of a `router.createWebRtcTransport` request, minus the transport id. */
export type WebRtcTransportRequest = {
  listenInfos: NativeListenInfo[];
  /** Listen on a WebRtcServer's sockets instead (then `listenInfos` is empty), */
  webRtcServerId?: string;
  /** ...those of these protocols, in this order (enable/prefer UDP/TCP). */
  webRtcServerProtocols?: TransportProtocol[];
  initialAvailableOutgoingBitrate: number;
  enableSctp: boolean;
  numSctpStreams: { OS: number; MIS: number };
  maxSctpMessageSize: number;
  iceConsentTimeout: number;
};

function isPort(value: unknown, allowZero: boolean): boolean {
  return Number.isInteger(value) && (value as number) >= (allowZero ? 0 : 1) && (value as number) <= 65535;
}

export function checkListenInfo(info: unknown): NativeListenInfo {
  if (!isPlainObject(info)) {
    throw new TypeError('every listenInfo must be an object');
  }
  const { protocol, ip, announcedAddress, announcedIp, port, portRange } = info as TransportListenInfo;
  if (protocol !== 'udp' && protocol !== 'tcp') {
    throw new TypeError(`invalid listenInfo protocol "${String(protocol)}"`);
  }
  if (typeof ip !== 'string' || ip.length === 0) {
    throw new TypeError('missing listenInfo ip');
  }
  // `announcedIp` is the deprecated name of `announcedAddress`.
  const announced = announcedAddress ?? announcedIp;
  if (announced !== undefined && (typeof announced !== 'string' || announced.length === 0)) {
    throw new TypeError('if given, announcedAddress must be a non empty string');
  }
  // Port 0 means "any", as mediasoup reads it.
  if (port !== undefined && !isPort(port, true)) {
    throw new TypeError(`invalid listenInfo port ${String(port)}`);
  }
  if (portRange !== undefined) {
    if (!isPlainObject(portRange) || !isPort(portRange.min, false) || !isPort(portRange.max, false)) {
      throw new TypeError('invalid listenInfo portRange');
    }
    if (portRange.min > portRange.max) {
      throw new TypeError('portRange.min cannot be greater than portRange.max');
    }
  }
  const native: NativeListenInfo = { protocol, ip };
  if (announced !== undefined) {
    native.announcedAddress = announced;
  }
  if (port !== undefined && port !== 0) {
    native.port = port;
  }
  if (portRange !== undefined) {
    native.portRange = { min: portRange.min, max: portRange.max };
  }
  return native;
}

/**
 * The protocols of each deprecated `listenIps` entry, most preferred first,
 * as mediasoup orders them: UDP first unless only TCP is enabled or TCP alone
 * is preferred.
 */
function orderedProtocols(
  enableUdp: boolean,
  enableTcp: boolean,
  preferUdp: boolean,
  preferTcp: boolean,
): TransportProtocol[] {
  if (enableUdp && enableTcp) {
    return preferTcp && !preferUdp ? ['tcp', 'udp'] : ['udp', 'tcp'];
  }
  if (enableUdp) {
    return ['udp'];
  }
  return enableTcp ? ['tcp'] : [];
}

/**
 * Checks `createWebRtcTransport()` options and turns every way of saying
 * where to listen into the `listenInfos` the worker takes, in preference
 * order (a candidate's ICE priority follows its position).
 */
export function webRtcTransportRequest(options: WebRtcTransportOptions<AppData>): WebRtcTransportRequest {
  if (!isPlainObject(options)) {
    throw new TypeError('options must be an object');
  }
  const {
    webRtcServer,
    listenInfos,
    listenIps,
    port,
    enableUdp = true,
    enableTcp = false,
    preferUdp = false,
    preferTcp = false,
    initialAvailableOutgoingBitrate = 600000,
    enableSctp = false,
    numSctpStreams = { OS: 1024, MIS: 1024 },
    maxSctpMessageSize,
    maxReceiveMessageSize,
    iceConsentTimeout = 30,
    appData,
  } = options as WebRtcTransportOptions<AppData> & { port?: number };

  const ways = [webRtcServer, listenInfos, listenIps].filter((way) => way !== undefined && way !== null);
  if (ways.length === 0) {
    throw new TypeError('missing webRtcServer, listenInfos and listenIps (one of them is mandatory)');
  } else if (ways.length > 1) {
    throw new TypeError('only one of webRtcServer, listenInfos and listenIps must be given');
  }
  if (listenInfos !== undefined && !Array.isArray(listenInfos)) {
    throw new TypeError('listenInfos must be an array');
  }
  if (listenIps !== undefined && !Array.isArray(listenIps)) {
    throw new TypeError('listenIps must be an array');
  }
  if (!isPlainObject(numSctpStreams) || typeof numSctpStreams.OS !== 'number' || typeof numSctpStreams.MIS !== 'number') {
    throw new TypeError('if given, numSctpStreams must contain OS and MIS');
  }
  for (const [name, value] of [
    ['enableUdp', enableUdp],
    ['enableTcp', enableTcp],
    ['preferUdp', preferUdp],
    ['preferTcp', preferTcp],
    ['enableSctp', enableSctp],
  ] as const) {
    if (typeof value !== 'boolean') {
      throw new TypeError(`if given, ${name} must be a boolean`);
    }
  }
  if (
    typeof initialAvailableOutgoingBitrate !== 'number' ||
    !Number.isFinite(initialAvailableOutgoingBitrate) ||
    initialAvailableOutgoingBitrate <= 0
  ) {
    throw new TypeError('if given, initialAvailableOutgoingBitrate must be a positive number');
  }
  if (typeof iceConsentTimeout !== 'number' || !Number.isFinite(iceConsentTimeout) || iceConsentTimeout < 0) {
    throw new TypeError('if given, iceConsentTimeout must be a positive number or 0');
  }
  // 3.27 renamed the largest accepted message to maxReceiveMessageSize.
  const messageSize = maxSctpMessageSize ?? maxReceiveMessageSize ?? 262144;
  if (!Number.isInteger(messageSize) || messageSize <= 0) {
    throw new TypeError('if given, maxSctpMessageSize must be a positive integer');
  }
  assertAppData(appData);

  let nativeListenInfos: NativeListenInfo[];
  let webRtcServerId: string | undefined;
  let webRtcServerProtocols: TransportProtocol[] | undefined;
  if (webRtcServer !== undefined && webRtcServer !== null) {
    if (typeof webRtcServer !== 'object' || typeof webRtcServer.id !== 'string') {
      throw new TypeError('webRtcServer must be a WebRtcServer');
    }
    if (webRtcServer.closed) {
      throw new InvalidStateError('webRtcServer closed');
    }
    webRtcServerId = webRtcServer.id;
    webRtcServerProtocols = orderedProtocols(enableUdp, enableTcp, preferUdp, preferTcp);
    if (webRtcServerProtocols.length === 0) {
      throw new TypeError('nothing to listen on (both UDP and TCP disabled)');
    }
    nativeListenInfos = [];
  } else if (listenInfos) {
    // Explicit listenInfos are taken as given: mediasoup ignores the
    // enable/prefer flags for them too.
    nativeListenInfos = listenInfos.map(checkListenInfo);
  } else {
    if (port !== undefined && !isPort(port, true)) {
      throw new TypeError(`invalid port ${String(port)}`);
    }
    const protocols = orderedProtocols(enableUdp, enableTcp, preferUdp, preferTcp);
    nativeListenInfos = [];
    for (const listenIp of listenIps!) {
      let ip: unknown;
      let announcedIp: unknown;
      if (typeof listenIp === 'string') {
        ip = listenIp;
      } else if (isPlainObject(listenIp)) {
        ({ ip, announcedIp } = listenIp);
      } else {
        throw new TypeError('every listenIp must be a string or an object with ip');
      }
      for (const protocol of protocols) {
        nativeListenInfos.push(
          checkListenInfo({ protocol, ip, announcedAddress: announcedIp ?? undefined, port }),
        );
      }
    }
  }
  if (nativeListenInfos.length === 0 && !webRtcServerId) {
    throw new TypeError('nothing to listen on (empty listen list, or both UDP and TCP disabled)');
  }

  return {
    listenInfos: nativeListenInfos,
    webRtcServerId,
    webRtcServerProtocols,
    initialAvailableOutgoingBitrate,
    enableSctp,
    numSctpStreams: { OS: numSctpStreams.OS, MIS: numSctpStreams.MIS },
    maxSctpMessageSize: messageSize,
    iceConsentTimeout,
  };
}

/**
 * The SCTP parameters of a new transport, when the worker's answer does not
 * carry them: what mediasoup reports for the same options.
 */
function defaultSctpParameters(
  request: WebRtcTransportRequest,
  options: WebRtcTransportOptions<AppData>,
): SctpParameters {
  const size = request.maxSctpMessageSize;
  return {
    port: 5000,
    OS: request.numSctpStreams.OS,
    MIS: request.numSctpStreams.MIS,
    maxMessageSize: size,
    maxSendMessageSize: options.maxSendMessageSize ?? size,
    maxReceiveMessageSize: options.maxReceiveMessageSize ?? size,
    sendBufferSize: options.sctpSendBufferSize ?? 262144,
    perStreamSendQueueLimit: options.sctpPerStreamSendQueueLimit ?? 0,
    maxReceiverWindowBufferSize: options.sctpMaxReceiverWindowBufferSize ?? 0,
    isDataChannel: true,
  };
}

/** The worker's answer to `router.createWebRtcTransport`. */
export type WebRtcTransportAnswer = Omit<WebRtcTransportData, 'iceRole'> & { iceRole: string };

export type WebRtcTransportConstructorOptions<WebRtcTransportAppData> =
  TransportConstructorOptions<WebRtcTransportAppData> & {
    data: WebRtcTransportAnswer;
    request: WebRtcTransportRequest;
    options: WebRtcTransportOptions<AppData>;
  };

function validateDtlsParameters(params: unknown): DtlsParameters {
  if (!isPlainObject(params) || !isPlainObject(params.dtlsParameters)) {
    throw new TypeError('missing dtlsParameters');
  }
  const { role, fingerprints } = params.dtlsParameters as DtlsParameters;
  if (role !== undefined && !DTLS_ROLES.includes(role)) {
    throw new TypeError(`invalid dtlsParameters.role "${String(role)}"`);
  }
  if (!Array.isArray(fingerprints) || fingerprints.length === 0) {
    throw new TypeError('dtlsParameters.fingerprints must be a non empty array');
  }
  for (const fingerprint of fingerprints) {
    if (!isPlainObject(fingerprint) || !FINGERPRINT_ALGORITHMS.includes(fingerprint.algorithm as string)) {
      throw new TypeError(`invalid fingerprint algorithm "${String((fingerprint as any)?.algorithm)}"`);
    }
    if (typeof fingerprint.value !== 'string' || fingerprint.value.length === 0) {
      throw new TypeError('invalid fingerprint value');
    }
  }
  return {
    role,
    fingerprints: fingerprints.map(({ algorithm, value }) => ({ algorithm, value })),
  };
}

/**
 * A WebRtcTransport: ICE-lite, DTLS, SRTP (and SCTP) towards one browser.
 * Its connection state lives in the worker; the events it sends keep the
 * getters here current.
 */
export class WebRtcTransportImpl<WebRtcTransportAppData extends AppData = AppData>
  extends TransportImpl<WebRtcTransportAppData, WebRtcTransportEvents, WebRtcTransportObserver>
  implements WebRtcTransport<WebRtcTransportAppData>
{
  #iceParameters: IceParameters;
  readonly #iceCandidates: IceCandidate[];
  #iceState: IceState;
  #iceSelectedTuple?: TransportTuple;
  #dtlsParameters: DtlsParameters;
  #dtlsState: DtlsState;
  #dtlsRemoteCert?: string;
  readonly #sctpParameters?: SctpParameters;
  #sctpState?: SctpState;
  #sctpNegotiatedCapabilities?: SctpNegotiatedCapabilities;

  constructor({ data, request, options, ...base }: WebRtcTransportConstructorOptions<WebRtcTransportAppData>) {
    super(base, new EnhancedEventEmitter<WebRtcTransportObserverEvents>());
    logger.debug('constructor()');
    this.#iceParameters = data.iceParameters;
    this.#iceCandidates = data.iceCandidates;
    this.#iceState = data.iceState;
    this.#iceSelectedTuple = data.iceSelectedTuple ?? undefined;
    this.#dtlsParameters = data.dtlsParameters;
    this.#dtlsState = data.dtlsState;
    this.#dtlsRemoteCert = data.dtlsRemoteCert ?? undefined;
    if (request.enableSctp) {
      this.#sctpParameters = data.sctpParameters ?? defaultSctpParameters(request, options);
      this.#sctpState = data.sctpState ?? 'new';
    }
    this.channel.on(this.id, (event: string, eventData: any) => this.#onWorkerEvent(event, eventData));
  }

  override get type(): 'webrtc' {
    return 'webrtc';
  }

  override get observer(): WebRtcTransportObserver {
    return super.observer;
  }

  get iceRole(): 'controlled' {
    // ICE-lite servers are always controlled.
    return 'controlled';
  }

  get iceParameters(): IceParameters {
    return this.#iceParameters;
  }

  get iceCandidates(): IceCandidate[] {
    return this.#iceCandidates;
  }

  get iceState(): IceState {
    return this.#iceState;
  }

  get iceSelectedTuple(): TransportTuple | undefined {
    return this.#iceSelectedTuple;
  }

  get dtlsParameters(): DtlsParameters {
    return this.#dtlsParameters;
  }

  get dtlsState(): DtlsState {
    return this.#dtlsState;
  }

  get dtlsRemoteCert(): string | undefined {
    return this.#dtlsRemoteCert;
  }

  get sctpParameters(): SctpParameters | undefined {
    return this.#sctpParameters;
  }

  get sctpState(): SctpState | undefined {
    return this.#sctpState;
  }

  get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined {
    return this.#sctpNegotiatedCapabilities;
  }

  override close(): void {
    if (this.closed) {
      return;
    }
    this.#markClosed();
    super.close();
  }

  override routerClosed(): void {
    if (this.closed) {
      return;
    }
    this.#markClosed();
    super.routerClosed();
  }

  override listenServerClosed(): void {
    if (this.closed) {
      return;
    }
    this.#markClosed();
    super.listenServerClosed();
  }

  override async dump(): Promise<WebRtcTransportDump> {
    const dump = await super.dump();
    return this.#sctpParameters ? { ...dump, sctpParameters: this.#sctpParameters } : dump;
  }

  override async getStats(): Promise<WebRtcTransportStat[]> {
    return super.getStats();
  }

  override async connect(params: { dtlsParameters: DtlsParameters }): Promise<void> {
    logger.debug('connect()');
    this.assertOpen();
    const dtlsParameters = validateDtlsParameters(params);
    const { dtlsLocalRole } = await this.channel.request('transport.connect', this.id, { dtlsParameters });
    // Our role is the opposite of the remote's, or what the worker chose for 'auto'.
    this.#dtlsParameters = { ...this.#dtlsParameters, role: dtlsLocalRole };
  }

  async restartIce(): Promise<IceParameters> {
    logger.debug('restartIce()');
    this.assertOpen();
    const { iceParameters } = await this.channel.request('transport.restartIce', this.id);
    this.#iceParameters = iceParameters;
    return iceParameters;
  }

  #markClosed(): void {
    this.#iceState = 'closed';
    this.#iceSelectedTuple = undefined;
    this.#dtlsState = 'closed';
    if (this.#sctpState) {
      this.#sctpState = 'closed';
    }
  }

  #onWorkerEvent(event: string, data: any): void {
    switch (event) {
      case 'icestatechange': {
        const iceState = data.iceState as IceState;
        this.#iceState = iceState;
        this.safeEmit('icestatechange', iceState);
        this.observer.safeEmit('icestatechange', iceState);
        break;
      }
      case 'iceselectedtuplechange': {
        const tuple = data.iceSelectedTuple as TransportTuple;
        this.#iceSelectedTuple = tuple;
        this.safeEmit('iceselectedtuplechange', tuple);
        this.observer.safeEmit('iceselectedtuplechange', tuple);
        break;
      }
      case 'dtlsstatechange': {
        const dtlsState = data.dtlsState as DtlsState;
        this.#dtlsState = dtlsState;
        if (dtlsState === 'connected') {
          this.#dtlsRemoteCert = data.dtlsRemoteCert ?? data.remoteCert ?? undefined;
        }
        this.safeEmit('dtlsstatechange', dtlsState);
        this.observer.safeEmit('dtlsstatechange', dtlsState);
        break;
      }
      case 'sctpstatechange': {
        const sctpState = data.sctpState as SctpState;
        this.#sctpState = sctpState;
        if (data.sctpNegotiatedCapabilities) {
          this.#sctpNegotiatedCapabilities = data.sctpNegotiatedCapabilities;
        }
        this.safeEmit('sctpstatechange', sctpState);
        this.observer.safeEmit('sctpstatechange', sctpState);
        break;
      }
      default:
        if (!this.handleCommonEvent(event, data)) {
          logger.error(`ignoring unknown event "${event}"`);
        }
    }
  }
}
