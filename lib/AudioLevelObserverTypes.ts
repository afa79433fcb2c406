/**
 * AudioLevelObserver: periodically reports the loudest audio producers.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { Producer } from './ProducerTypes';
import type { RtpObserver, RtpObserverEvents, RtpObserverObserverEvents } from './RtpObserverTypes';

export type AudioLevelObserverOptions<AudioLevelObserverAppData extends AppData = AppData> = {
  /** Most producers reported per 'volumes' event. Default 1. */
  maxEntries?: number;
  /** dBov below which a producer counts as silent (-127..0). Default -80. */
  threshold?: number;
  /** Report period, ms. Default 1000. */
  interval?: number;
  appData?: AudioLevelObserverAppData;
};

export type AudioLevelObserverVolume = {
  producer: Producer;
  /** Average dBov over the interval (-127..0). */
  volume: number;
};

export type AudioLevelObserverEvents = RtpObserverEvents & {
  /** Loudest first. */
  volumes: [AudioLevelObserverVolume[]];
  silence: [];
};

export type AudioLevelObserverObserverEvents = RtpObserverObserverEvents & {
  volumes: [AudioLevelObserverVolume[]];
  silence: [];
};

export type AudioLevelObserverObserver = EnhancedEventEmitter<AudioLevelObserverObserverEvents>;

export interface AudioLevelObserver<AudioLevelObserverAppData extends AppData = AppData>
  extends RtpObserver<AudioLevelObserverAppData, AudioLevelObserverEvents, AudioLevelObserverObserver> {
  get type(): 'audiolevel';
  get observer(): AudioLevelObserverObserver;
}
