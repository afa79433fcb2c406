import type { AppData } from './indexTypes';
import type {
  DirectTransport,
  DirectTransportDump,
  DirectTransportEvents,
  DirectTransportObserver,
  DirectTransportObserverEvents,
  DirectTransportOptions,
  DirectTransportStat,
} from './DirectTransportTypes';
import type { DataProducerType } from './DataProducerTypes';
import { EnhancedEventEmitter } from './enhancedEvents';
import { UnsupportedError } from './errors';
import { Logger } from './Logger';
import { assertAppData, isPlainObject, TransportImpl, type TransportConstructorOptions } from './Transport';

const logger = new Logger('DirectTransport');

/** Checks createDirectTransport() options; what the worker is asked for. */
export function directTransportRequest(options: DirectTransportOptions<AppData>): { maxMessageSize: number } {
  if (!isPlainObject(options)) {
    throw new TypeError('if given, options must be an object');
  }
  const { maxMessageSize, maxReceiveMessageSize, maxSendMessageSize, appData } = options;
  // 3.27 split maxMessageSize in two; one limit serves both directions here.
  const size = maxMessageSize ?? maxReceiveMessageSize ?? maxSendMessageSize ?? 262144;
  if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
    throw new TypeError('if given, maxMessageSize must be a positive integer');
  }
  assertAppData(appData);
  return { maxMessageSize: size };
}

/**
 * A transport whose far end is Node itself: its DataProducers take messages
 * from `dataProducer.send()`, its DataConsumers emit `message`; its
 * Producers take RTP packets from `producer.send()`, its Consumers emit
 * `rtp` (a plain RTP header with the audio-level and video-orientation
 * extensions, as a PlainTransport sends). RTCP too: `sendRtcp()` takes
 * Node's (receiver reports and keyframe requests for its consumers, sender
 * reports for its producers); `rtcp` gives the transport's (sender reports
 * for its consumers, keyframe requests for its producers).
 */
export class DirectTransportImpl<DirectTransportAppData extends AppData = AppData>
  extends TransportImpl<DirectTransportAppData, DirectTransportEvents, DirectTransportObserver>
  implements DirectTransport<DirectTransportAppData>
{
  constructor(base: TransportConstructorOptions<DirectTransportAppData>) {
    super(base, new EnhancedEventEmitter<DirectTransportObserverEvents>());
    logger.debug('constructor()');
    this.channel.on(this.id, (event: string, data: any) => {
      if (event === 'rtcp') {
        if (!this.closed) this.safeEmit('rtcp', Buffer.from(String(data?.data ?? ''), 'base64'));
      } else if (!this.handleCommonEvent(event, data)) {
        logger.error(`ignoring unknown event "${event}"`);
      }
    });
  }

  override get type(): 'direct' {
    return 'direct';
  }

  override get observer(): DirectTransportObserver {
    return super.observer;
  }

  protected override get dataType(): DataProducerType {
    return 'direct';
  }

  override async dump(): Promise<DirectTransportDump> {
    return super.dump();
  }

  override async getStats(): Promise<DirectTransportStat[]> {
    return super.getStats();
  }

  /** Nothing to connect: resolves at once. */
  async connect(): Promise<void> {
    this.assertOpen();
  }

  override async setMaxIncomingBitrate(_bitrate: number): Promise<void> {
    throw new UnsupportedError('setMaxIncomingBitrate() not implemented in DirectTransport');
  }

  override async setMaxOutgoingBitrate(_bitrate: number): Promise<void> {
    throw new UnsupportedError('setMaxOutgoingBitrate() not implemented in DirectTransport');
  }

  override async setMinOutgoingBitrate(_bitrate: number): Promise<void> {
    throw new UnsupportedError('setMinOutgoingBitrate() not implemented in DirectTransport');
  }

  /** An RTCP compound packet from Node, handled as a peer's. */
  sendRtcp(rtcpPacket: Buffer): void {
    if (!Buffer.isBuffer(rtcpPacket)) {
      throw new TypeError('rtcpPacket must be a Buffer');
    }
    this.assertOpen();
    this.channel
      .request('transport.sendRtcp', this.id, { data: rtcpPacket.toString('base64') })
      // Debug only: packets still queued when the transport closes fail by the many.
      .catch((error: Error) => logger.debug(`sendRtcp() failed: ${String(error)}`));
  }
}
