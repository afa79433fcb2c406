import type { Channel } from './Channel';
import { ChannelObject } from './ChannelObject';
import type { AppData } from './indexTypes';
import { Logger } from './Logger';
import type {
  WebRtcServer,
  WebRtcServerDump,
  WebRtcServerEvents,
  WebRtcServerObserverEvents,
} from './WebRtcServerTypes';
import type { WebRtcTransport } from './WebRtcTransportTypes';

const logger = new Logger('WebRtcServer');

type WebRtcServerInternal<WebRtcServerAppData> = {
  webRtcServerId: string;
  channel: Channel;
  appData: WebRtcServerAppData;
};

/** The transport side the server needs: closing with it, and being told. */
type HandledTransport = WebRtcTransport & { listenServerClosed(): void };

/**
 * Sockets shared by many WebRtcTransports (see the worker's
 * `media/server.rs`): closing it closes every transport on it, which then
 * emit `listenserverclose`.
 */
export class WebRtcServerImpl<WebRtcServerAppData extends AppData = AppData>
  extends ChannelObject<WebRtcServerEvents, WebRtcServerObserverEvents, WebRtcServerAppData>
  implements WebRtcServer<WebRtcServerAppData>
{
  readonly #transports = new Set<HandledTransport>();

  constructor({ webRtcServerId, channel, appData }: WebRtcServerInternal<WebRtcServerAppData>) {
    super(webRtcServerId, channel, appData);
  }

  close(): void {
    if (!this.markClosed()) {
      return;
    }
    logger.debug('close()');
    this.channel.request('webRtcServer.close', this.id).catch(() => {
      // the worker may be gone already; the server is closed either way
    });
    this.#closeTransports();
    this.emit('@close');
    this.observer.safeEmit('close');
  }

  workerClosed(): void {
    if (!this.markClosed()) {
      return;
    }
    logger.debug('workerClosed()');
    // The worker's routers close their transports themselves.
    this.#transports.clear();
    this.safeEmit('workerclose');
    this.observer.safeEmit('close');
  }

  async dump(): Promise<WebRtcServerDump> {
    return this.channel.request('webRtcServer.dump', this.id);
  }

  handleWebRtcTransport(webRtcTransport: WebRtcTransport): void {
    const transport = webRtcTransport as HandledTransport;
    this.#transports.add(transport);
    this.observer.safeEmit('webrtctransporthandled', webRtcTransport);
    const forget = (): void => {
      if (this.#transports.delete(transport)) this.observer.safeEmit('webrtctransportunhandled', webRtcTransport);
    };
    transport.observer.once('close', forget);
  }

  #closeTransports(): void {
    for (const transport of [...this.#transports]) {
      transport.listenServerClosed();
    }
    this.#transports.clear();
  }
}
