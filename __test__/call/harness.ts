/** Builds a CallService on the fake media plane and records what it says. */
import { CallService, type CallServiceOptions, type CallSignal } from '../../lib/call/CallService';
import { MediaServerPool, type MediaServerPoolOptions } from '../../lib/call/pool';
import { fakeWorkerFactory } from './fakeMedia';

export interface Harness {
  service: CallService;
  media: ReturnType<typeof fakeWorkerFactory>;
  signals: CallSignal[];
  started: any[];
  completed: any[];
  failed: any[];
  /** Signals of one event name. */
  sent(event: string): CallSignal[];
}

export function createHarness(
  options: CallServiceOptions = {},
  poolOptions: MediaServerPoolOptions = {},
): Harness {
  const media = fakeWorkerFactory();
  const pool = new MediaServerPool({ numWorkers: 2, createWorker: media.factory, ...poolOptions });
  const service = new CallService({ pool, ...options });
  const h: Harness = {
    service,
    media,
    signals: [],
    started: [],
    completed: [],
    failed: [],
    sent: (event) => h.signals.filter((s) => s.event === event),
  };
  service.on('signal', (s) => h.signals.push(s));
  service.on('meeting:transition:started', (e) => h.started.push(e));
  service.on('meeting:transition:completed', (e) => h.completed.push(e));
  service.on('meeting:transition:failed', (e) => h.failed.push(e));
  return h;
}

/**
 * Simulated clients: every participant pending on a transition acknowledges
 * it `delayMs` after the server asked (what a real client does once the new
 * path decodes), unless listed in `silent`.
 */
export function autoAcknowledge(
  service: CallService,
  options: { delayMs?: number; silent?: Set<string>; fail?: Set<string> } = {},
): void {
  const answer = (callId: string, transitionId: string) => {
    setTimeout(async () => {
      const call = await service.getCall(callId);
      const transition = call?.transition;
      if (!transition || transition.id !== transitionId) return;
      for (const participantId of transition.pending) {
        if (options.silent?.has(participantId)) continue;
        const ok = !options.fail?.has(participantId);
        await service
          .acknowledgeTransition(callId, participantId, transitionId, ok, ok ? undefined : 'cannot decode')
          .catch(() => undefined);
      }
    }, options.delayMs ?? 50);
  };
  service.on('signal', (s) => {
    if (s.event === 'call:mode-switch') answer(s.callId, s.payload.transitionId as string);
    // A participant that joins during a switch is pending on it too.
    if (s.event === 'call:participant-joined') {
      void service.getCall(s.callId).then((call) => call?.transition && answer(s.callId, call.transition.id));
    }
  });
}
