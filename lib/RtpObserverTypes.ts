/**
 * RtpObserver: watches audio producers of a router (audio levels, active
 * speaker) without consuming them.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { Producer } from './ProducerTypes';

export type RtpObserverType = 'audiolevel' | 'activespeaker';

export type RtpObserverAddRemoveProducerOptions = {
  producerId: string;
};

export type RtpObserverEvents = {
  routerclose: [];
  listenererror: [string, Error];
  '@close': [];
};

export type RtpObserverObserverEvents = {
  close: [];
  pause: [];
  resume: [];
  addproducer: [Producer];
  removeproducer: [Producer];
};

export type RtpObserverObserver = EnhancedEventEmitter<RtpObserverObserverEvents>;

export interface RtpObserver<
  RtpObserverAppData extends AppData = AppData,
  Events extends RtpObserverEvents = RtpObserverEvents,
  Observer extends RtpObserverObserver = RtpObserverObserver,
> extends EnhancedEventEmitter<Events> {
  get id(): string;
  get closed(): boolean;
  get type(): RtpObserverType;
  get paused(): boolean;
  get appData(): RtpObserverAppData;
  set appData(appData: RtpObserverAppData);
  get observer(): Observer;

  close(): void;
  /** Called by the owning Router when it closes. */
  routerClosed(): void;
  pause(): Promise<void>;
  resume(): Promise<void>;
  addProducer(options: RtpObserverAddRemoveProducerOptions): Promise<void>;
  removeProducer(options: RtpObserverAddRemoveProducerOptions): Promise<void>;
}
