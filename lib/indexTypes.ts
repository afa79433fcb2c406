/**
 * Types of the package's entry point (createWorker, observer, log hooks) and
 * the small helpers every other types file uses.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { Worker, WorkerSettings } from './WorkerTypes';
import type { RouterRtpCapabilities } from './RtpParameters';
import type { parseScalabilityMode } from './scalabilityModes';

/**
 * Free-form data a user attaches to any object (`appData`). An index
 * signature, not `object`, so that user types such as `{ peerId: string }`
 * satisfy it and stay precise through the generic parameters.
 */
export type AppData = {
  [key: string]: unknown;
};

// Allows T's keys or U's keys, never a mix: mediasoup uses it so that e.g.
// `listenInfos` and the deprecated `listenIps` cannot be given together.
type Only<T, U> = { [P in keyof T]: T[P] } & { [P in keyof U]?: never };

export type Either<T, U> = Only<T, U> | Only<U, T>;

export type ObserverEvents = {
  newworker: [Worker];
};

/** `mediasoup.observer`: announces every new Worker. */
export type Observer = EnhancedEventEmitter<ObserverEvents>;

/** Receivers for the library's own log lines (see `setLogEventListeners`). */
export type LogEventListeners = {
  ondebug?: (namespace: string, log: string) => void;
  onwarn?: (namespace: string, log: string) => void;
  onerror?: (namespace: string, log: string, error?: Error) => void;
};

/** The shape of the module itself, as 3.27 describes it. */
export interface Index {
  version: string;
  observer: EnhancedEventEmitter<ObserverEvents>;
  /**
   * 3.27 exposes the worker executable's path. Workers here are threads of
   * the native addon, so this names the addon file instead.
   */
  workerBin: string;
  setLogEventListeners: (listeners?: LogEventListeners) => void;
  createWorker: <WorkerAppData extends AppData = AppData>(
    options?: WorkerSettings<WorkerAppData>,
  ) => Promise<Worker<WorkerAppData>>;
  getSupportedRtpCapabilities: () => RouterRtpCapabilities;
  parseScalabilityMode: typeof parseScalabilityMode;
}
