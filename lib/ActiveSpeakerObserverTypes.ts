/**
 * ActiveSpeakerObserver: names the dominant speaker among audio producers.
 */

import type { EnhancedEventEmitter } from './enhancedEvents';
import type { AppData } from './indexTypes';
import type { Producer } from './ProducerTypes';
import type { RtpObserver, RtpObserverEvents, RtpObserverObserverEvents } from './RtpObserverTypes';

export type ActiveSpeakerObserverOptions<ActiveSpeakerObserverAppData extends AppData = AppData> = {
  /** Evaluation period, ms. Default 300. */
  interval?: number;
  appData?: ActiveSpeakerObserverAppData;
};

export type ActiveSpeakerObserverDominantSpeaker = {
  producer: Producer;
};

export type ActiveSpeakerObserverEvents = RtpObserverEvents & {
  dominantspeaker: [ActiveSpeakerObserverDominantSpeaker];
};

export type ActiveSpeakerObserverObserverEvents = RtpObserverObserverEvents & {
  dominantspeaker: [ActiveSpeakerObserverDominantSpeaker];
};

export type ActiveSpeakerObserverObserver = EnhancedEventEmitter<ActiveSpeakerObserverObserverEvents>;

export interface ActiveSpeakerObserver<ActiveSpeakerObserverAppData extends AppData = AppData>
  extends RtpObserver<
    ActiveSpeakerObserverAppData,
    ActiveSpeakerObserverEvents,
    ActiveSpeakerObserverObserver
  > {
  get type(): 'activespeaker';
  get observer(): ActiveSpeakerObserverObserver;
}
