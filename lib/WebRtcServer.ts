import type { Channel } from './Channel';
import { WorkerChild } from './ChannelObject';
import type { AppData } from './indexTypes';
import type {
  WebRtcServer,
  WebRtcServerDump,
  WebRtcServerEvents,
  WebRtcServerObserverEvents,
} from './WebRtcServerTypes';
import type { WebRtcTransport } from './WebRtcTransportTypes';

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
  extends WorkerChild<WebRtcServerEvents, WebRtcServerObserverEvents, WebRtcServerAppData>
  implements WebRtcServer<WebRtcServerAppData>
{
  readonly #transports = new Set<HandledTransport>();

  constructor({ webRtcServerId, channel, appData }: WebRtcServerInternal<WebRtcServerAppData>) {
    super(webRtcServerId, channel, appData);
  }

  protected readonly closeRequest = 'webRtcServer.close';

  /** On its own close the worker closes the transports, and so do we here;
   *  on the worker's close their routers do. */
  protected closeHeld(): void {
    for (const transport of [...this.#transports]) {
      if (!transport.closed) transport.listenServerClosed();
    }
    this.#transports.clear();
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
}
