/**
 * opencall: mediasoup's Node API, on a native Rust SFU.
 *
 * `import * as mediasoup from 'opencall'` is meant to be a drop-in for
 * `import * as mediasoup from 'mediasoup'`.
 */
import { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData, Observer, ObserverEvents } from './indexTypes';
import { Logger, setLogEventListeners } from './Logger';
import { ortcCall } from './native';
import type { RouterRtpCapabilities } from './RtpParameters';
import { parseScalabilityMode } from './scalabilityModes';
import * as types from './types';
import { WorkerImpl } from './Worker';
import type { Worker, WorkerSettings } from './WorkerTypes';

export { types };
export { InvalidStateError, UnsupportedError } from './errors';
export * as errors from './errors';
export { parseScalabilityMode, setLogEventListeners };

const logger = new Logger();

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const version: string = require('../package.json').version;

/** Workers run inside the native addon; this names it, as mediasoup names its binary. */
export const workerBin: string = require.resolve('../index.js');

/** Emits 'newworker' for every Worker created. */
export const observer: Observer = new EnhancedEventEmitter<ObserverEvents>();

export async function createWorker<WorkerAppData extends AppData = AppData>(
  settings: WorkerSettings<WorkerAppData> = {},
): Promise<Worker<WorkerAppData>> {
  logger.debug('createWorker()');
  if (settings === null || typeof settings !== 'object') {
    throw new TypeError('if given, settings must be an object');
  }
  const worker = new WorkerImpl<WorkerAppData>(settings);
  observer.safeEmit('newworker', worker as unknown as Worker);
  return worker;
}

/** The RTP capabilities opencall supports (a fresh copy each call). */
export function getSupportedRtpCapabilities(): RouterRtpCapabilities {
  return ortcCall('getSupportedRtpCapabilities', null);
}
