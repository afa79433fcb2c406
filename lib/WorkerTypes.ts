/**
 * Worker: one media thread of the native addon (mediasoup: one subprocess).
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { Router, RouterOptions } from './RouterTypes';
import type { WebRtcServer, WebRtcServerOptions } from './WebRtcServerTypes';

export type WorkerLogLevel = 'debug' | 'warn' | 'error' | 'none';

export type WorkerLogTag =
  | 'info'
  | 'ice'
  | 'dtls'
  | 'rtp'
  | 'srtp'
  | 'rtcp'
  | 'rtx'
  | 'bwe'
  | 'score'
  | 'simulcast'
  | 'svc'
  | 'sctp'
  | 'message';

/**
 * `createWorker()` options: every option of 3.14 and 3.27, so settings
 * written for either compile. Options tied to mediasoup's subprocess
 * (`workerBin`, `disableLiburing`) are accepted and have no effect.
 */
export type WorkerSettings<WorkerAppData extends AppData = AppData> = {
  /** Default 'error'. */
  logLevel?: WorkerLogLevel;
  logTags?: WorkerLogTag[];
  /** Lowest port for RTC sockets when no explicit port is given. Default 10000. */
  rtcMinPort?: number;
  /** Highest such port. Default 59999. */
  rtcMaxPort?: number;
  /** PEM certificate for DTLS; a fresh self-signed one when absent. */
  dtlsCertificateFile?: string;
  /** PEM private key matching `dtlsCertificateFile`. */
  dtlsPrivateKeyFile?: string;
  /** 3.27: path of mediasoup's worker executable. Ignored. */
  workerBin?: string;
  /** libwebrtc field trials string; accepted for compatibility. */
  libwebrtcFieldTrials?: string;
  /** 3.14: Linux io_uring switch. Ignored. */
  disableLiburing?: boolean;
  appData?: WorkerAppData;
};

/** Settings that can change on a running worker. */
export type WorkerUpdateableSettings<T extends AppData = AppData> = Pick<
  WorkerSettings<T>,
  'logLevel' | 'logTags'
>;

/**
 * getrusage(2) figures. Times are in milliseconds, memory in KiB, as
 * mediasoup reports them.
 */
export type WorkerResourceUsage = {
  /** User CPU time. */
  ru_utime: number;
  /** System CPU time. */
  ru_stime: number;
  /** Maximum resident set size. */
  ru_maxrss: number;
  ru_ixrss: number;
  ru_idrss: number;
  ru_isrss: number;
  /** Page reclaims (soft faults). */
  ru_minflt: number;
  /** Page faults (hard faults). */
  ru_majflt: number;
  ru_nswap: number;
  ru_inblock: number;
  ru_oublock: number;
  ru_msgsnd: number;
  ru_msgrcv: number;
  ru_nsignals: number;
  /** Voluntary context switches. */
  ru_nvcsw: number;
  /** Involuntary context switches. */
  ru_nivcsw: number;
};

export type WorkerDump = {
  pid: number;
  webRtcServerIds: string[];
  routerIds: string[];
  channelMessageHandlers: {
    channelRequestHandlers: string[];
    channelNotificationHandlers: string[];
  };
  /** 3.14 only, Linux io_uring counters; absent here. */
  liburing?: {
    sqeProcessCount: number;
    sqeMissCount: number;
    userDataMissCount: number;
  };
};

export type WorkerEvents = {
  /** The worker thread stopped unexpectedly; all its objects are closed. */
  died: [Error];
  subprocessclose: [];
  /** A user listener threw: (event name, error). */
  listenererror: [string, Error];
  '@success': [];
  '@failure': [Error];
};

export type WorkerObserverEvents = {
  close: [];
  newwebrtcserver: [WebRtcServer];
  newrouter: [Router];
};

export type WorkerObserver = EnhancedEventEmitter<WorkerObserverEvents>;

export interface Worker<WorkerAppData extends AppData = AppData>
  extends EnhancedEventEmitter<WorkerEvents> {
  /** Process id hosting the worker (the Node process itself here). */
  get pid(): number;
  get closed(): boolean;
  get died(): boolean;
  get subprocessClosed(): boolean;
  get appData(): WorkerAppData;
  set appData(appData: WorkerAppData);
  get observer(): WorkerObserver;

  /** Closes the worker and, with it, every router and server it owns. */
  close(): void;
  dump(): Promise<WorkerDump>;
  getResourceUsage(): Promise<WorkerResourceUsage>;
  updateSettings(options?: WorkerUpdateableSettings<WorkerAppData>): Promise<void>;
  createWebRtcServer<WebRtcServerAppData extends AppData = AppData>(
    options: WebRtcServerOptions<WebRtcServerAppData>,
  ): Promise<WebRtcServer<WebRtcServerAppData>>;
  createRouter<RouterAppData extends AppData = AppData>(
    options?: RouterOptions<RouterAppData>,
  ): Promise<Router<RouterAppData>>;
}
