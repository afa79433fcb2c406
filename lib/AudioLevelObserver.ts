import type {
  AudioLevelObserver,
  AudioLevelObserverEvents,
  AudioLevelObserverObserverEvents,
  AudioLevelObserverOptions,
  AudioLevelObserverVolume,
} from './AudioLevelObserverTypes';
import type { AppData } from './indexTypes';
import { RtpObserverImpl } from './RtpObserver';
import { assertAppData } from './Transport';

/**
 * Every `interval` ms, the loudest audio producers (average of the levels
 * their packets carry, in dBov), or `silence` once when none is above
 * `threshold`.
 */
export class AudioLevelObserverImpl<A extends AppData = AppData>
  extends RtpObserverImpl<A, AudioLevelObserverEvents, AudioLevelObserverObserverEvents>
  implements AudioLevelObserver<A>
{
  get type(): 'audiolevel' {
    return 'audiolevel';
  }

  protected onWorkerEvent(event: string, data: unknown): void {
    if (event === 'volumes') {
      const volumes: AudioLevelObserverVolume[] = [];
      for (const { producerId, volume } of data as { producerId: string; volume: number }[]) {
        const producer = this.getProducerById(producerId);
        if (producer) volumes.push({ producer, volume });
      }
      if (volumes.length > 0) this.report('volumes', volumes);
    } else if (event === 'silence') {
      this.report('silence');
    }
  }
}

/** mediasoup's checks of createAudioLevelObserver() options; the worker's request. */
export function audioLevelObserverRequest({
  maxEntries = 1,
  threshold = -80,
  interval = 1000,
  appData,
}: AudioLevelObserverOptions<AppData> = {}): { maxEntries: number; threshold: number; interval: number } {
  if (typeof maxEntries !== 'number' || !(maxEntries > 0)) {
    throw new TypeError('if given, maxEntries must be a positive number');
  }
  if (typeof threshold !== 'number' || !(threshold >= -127 && threshold <= 0)) {
    throw new TypeError('if given, threshold must be a negative number greater than -127');
  }
  if (typeof interval !== 'number' || !Number.isFinite(interval)) {
    throw new TypeError('if given, interval must be an number');
  }
  assertAppData(appData);
  return { maxEntries, threshold, interval };
}
