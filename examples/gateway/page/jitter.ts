// Receive jitter of what is on screen. The client's quality samples (what the
// server's switching policy judges) carry loss, RTT and bitrate; jitter is
// shown to the user only, so the page reads it from the rendered receivers.
import type { RemoteParticipant } from '../../../lib/client';

/** The worst `inbound-rtp` jitter over every rendered remote track, in ms (undefined: none yet). */
export async function worstJitterMs(participants: Iterable<RemoteParticipant>): Promise<number | undefined> {
  let worst: number | undefined;
  const receivers: RTCRtpReceiver[] = [];
  for (const participant of participants) {
    for (const kind of ['audio', 'video'] as const) {
      const source = participant.renderedSource(kind);
      if (source) receivers.push(source.receiver);
    }
  }
  const reports = await Promise.all(receivers.map((r) => r.getStats().catch(() => null)));
  for (const report of reports) {
    report?.forEach((stat: { type: string; jitter?: unknown }) => {
      if (stat.type === 'inbound-rtp' && typeof stat.jitter === 'number') {
        worst = Math.max(worst ?? 0, stat.jitter * 1000);
      }
    });
  }
  return worst;
}
