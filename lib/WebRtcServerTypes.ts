/**
 * WebRtcServer: shared UDP/TCP sockets that many WebRtcTransports use, told
 * apart by ICE username fragment (one port for all calls on a worker).
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { TransportListenInfo } from './TransportTypes';
import type { WebRtcTransport } from './WebRtcTransportTypes';

export type WebRtcServerOptions<WebRtcServerAppData extends AppData = AppData> = {
  /** One socket per entry; each needs an explicit `port` or a `portRange`. */
  listenInfos: TransportListenInfo[];
  appData?: WebRtcServerAppData;
};

export type WebRtcServerListenInfo = TransportListenInfo;

export type IpPort = {
  ip: string;
  port: number;
};

export type IceUserNameFragment = {
  localIceUsernameFragment: string;
  webRtcTransportId: string;
};

/** 3.14 reported the tuple-to-transport table; absent from 3.27. */
export type TupleHash = {
  tupleHash: number;
  webRtcTransportId: string;
};

export type WebRtcServerDump = {
  id: string;
  udpSockets: IpPort[];
  tcpServers: IpPort[];
  webRtcTransportIds: string[];
  localIceUsernameFragments: IceUserNameFragment[];
  tupleHashes?: TupleHash[];
};

export type WebRtcServerEvents = {
  workerclose: [];
  listenererror: [string, Error];
  '@close': [];
};

export type WebRtcServerObserverEvents = {
  close: [];
  webrtctransporthandled: [WebRtcTransport];
  webrtctransportunhandled: [WebRtcTransport];
};

export type WebRtcServerObserver = EnhancedEventEmitter<WebRtcServerObserverEvents>;

export interface WebRtcServer<WebRtcServerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<WebRtcServerEvents> {
  get id(): string;
  get closed(): boolean;
  get appData(): WebRtcServerAppData;
  set appData(appData: WebRtcServerAppData);
  get observer(): WebRtcServerObserver;

  /** Closes the server and every WebRtcTransport using it. */
  close(): void;
  /** Called by the owning Worker when it closes. */
  workerClosed(): void;
  dump(): Promise<WebRtcServerDump>;
  /** Called by a Router when it creates a transport on this server. */
  handleWebRtcTransport(webRtcTransport: WebRtcTransport): void;
}
