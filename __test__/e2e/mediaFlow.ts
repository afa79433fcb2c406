// "Media is flowing" as the e2e tests mean it: every expected remote video
// decodes frames and keeps decoding, every expected remote audio keeps
// receiving packets (and is audible, when asked).
import type { Participant, RemoteTrackStats } from './harness';
import { waitFor } from './waitFor';

export interface FlowExpectation {
  /** Number of remote videos / audios that must flow. */
  video: number;
  audio: number;
  /** Also require audioLevel > 0 on every remote audio. */
  audible?: boolean;
  /** Only count these track/consumer ids (default: all live ones). */
  ids?: string[];
  timeoutMs?: number;
}

const progress = (s: RemoteTrackStats): number => (s.kind === 'video' ? s.framesDecoded : s.packetsReceived);

function flowing(all: RemoteTrackStats[], e: FlowExpectation): RemoteTrackStats[] | null {
  const live = all.filter((s) => s.trackState === 'live' && (!e.ids || e.ids.includes(s.id)));
  const videos = live.filter((s) => s.kind === 'video' && s.framesDecoded > 0);
  const audios = live.filter(
    (s) => s.kind === 'audio' && s.packetsReceived > 0 && (!e.audible || s.audioLevel > 0),
  );
  return videos.length >= e.video && audios.length >= e.audio ? [...videos, ...audios] : null;
}

/**
 * Waits until the expected tracks flow, then until each of them has progressed
 * again (frames decoded / packets received grew), so a stream that delivered a
 * single frame and stalled does not pass. Returns the last figures.
 */
export async function waitForMediaFlow(p: Participant, e: FlowExpectation): Promise<RemoteTrackStats[]> {
  const timeoutMs = e.timeoutMs ?? 15_000;
  const diagnose = async (): Promise<unknown> => ({ participant: p.name, stats: await p.stats(), log: p.log });
  const first = await waitFor(async () => flowing(await p.stats(), e), {
    timeoutMs,
    what: `${p.name}: ${e.video} video(s) decoding and ${e.audio} audio(s) receiving`,
    diagnose,
  });
  const before = new Map(first.map((s) => [s.id, progress(s)]));
  return waitFor(
    async () => {
      const now = (await p.stats()).filter((s) => before.has(s.id));
      const grown = now.filter((s) => progress(s) > (before.get(s.id) ?? 0));
      return grown.length === before.size ? now : null;
    },
    { timeoutMs, what: `${p.name}: media still progressing`, diagnose },
  );
}
