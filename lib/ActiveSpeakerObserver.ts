import type {
  ActiveSpeakerObserver,
  ActiveSpeakerObserverEvents,
  ActiveSpeakerObserverObserverEvents,
  ActiveSpeakerObserverOptions,
} from './ActiveSpeakerObserverTypes';
import type { AppData } from './indexTypes';
import { RtpObserverImpl } from './RtpObserver';
import { assertAppData } from './Transport';

/**
 * Names the dominant speaker among its audio producers (`dominantspeaker`)
 * whenever it changes: the loudest one speaking, over levels smoothed across
 * `interval`s, kept by whoever still speaks unless another is clearly louder.
 */
export class ActiveSpeakerObserverImpl<A extends AppData = AppData>
  extends RtpObserverImpl<A, ActiveSpeakerObserverEvents, ActiveSpeakerObserverObserverEvents>
  implements ActiveSpeakerObserver<A>
{
  get type(): 'activespeaker' {
    return 'activespeaker';
  }

  protected onWorkerEvent(event: string, data: unknown): void {
    if (event !== 'dominantspeaker') return;
    const producer = this.getProducerById((data as { producerId: string }).producerId);
    if (producer) this.report('dominantspeaker', { producer });
  }
}

/** mediasoup's checks of createActiveSpeakerObserver() options; the worker's request. */
export function activeSpeakerObserverRequest({
  interval = 300,
  appData,
}: ActiveSpeakerObserverOptions<AppData> = {}): { interval: number } {
  if (typeof interval !== 'number' || !Number.isFinite(interval)) {
    throw new TypeError('if given, interval must be an number');
  }
  assertAppData(appData);
  return { interval };
}
