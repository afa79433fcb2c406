/**
 * Turns `getStats()` of the active path's connections into the server's
 * quality sample `{ packetLossPercent, rttMs, bitrateKbps }`: the worst loss
 * and round-trip time seen on any stream, and the lowest video bitrate of any
 * connection, over the interval since the previous sample.
 */
import type { QualitySample } from './protocol';

/** Anything with a `getStats()`: an RTCPeerConnection or a mediasoup-client Transport. */
export interface StatsSource {
  getStats(): Promise<RTCStatsReport>;
}

type Stat = Record<string, unknown> & { id: string; type: string };
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

interface Counters {
  at: number;
  bytes: number;
  packetsReceived: number;
  packetsLost: number;
}

export class QualitySampler {
  private previous = new Map<string, Counters>();

  /**
   * One sample over `sources` (keyed by a stable name, e.g. the peer id), or
   * null when there is nothing to judge yet: the first call only records
   * counters, and a call without video has no meaningful bitrate (the
   * server's floor is meant for video; audio alone is always under it).
   */
  async sample(sources: Map<string, StatsSource>): Promise<QualitySample | null> {
    const now = performance.now();
    const next = new Map<string, Counters>();
    let loss = 0;
    let rtt = 0;
    let minVideoKbps: number | null = null;

    for (const [name, source] of sources) {
      let report: RTCStatsReport;
      try {
        report = await source.getStats();
      } catch {
        continue; // closed meanwhile
      }
      let videoKbps = 0;
      let carriesVideo = false;
      report.forEach((s: Stat) => {
        const key = `${name}/${s.id}`;
        if (s.type === 'candidate-pair' && (s.nominated === true || s.selected === true) && s.state === 'succeeded') {
          rtt = Math.max(rtt, num(s.currentRoundTripTime) * 1000);
        } else if (s.type === 'remote-inbound-rtp') {
          // What the other end reports about what we send.
          loss = Math.max(loss, num(s.fractionLost) * 100);
          rtt = Math.max(rtt, num(s.roundTripTime) * 1000);
        } else if (s.type === 'inbound-rtp' || s.type === 'outbound-rtp') {
          const inbound = s.type === 'inbound-rtp';
          const counters: Counters = {
            at: now,
            bytes: num(inbound ? s.bytesReceived : s.bytesSent),
            packetsReceived: num(s.packetsReceived),
            packetsLost: num(s.packetsLost),
          };
          next.set(key, counters);
          const before = this.previous.get(key);
          if (!before || now <= before.at) return;
          if (inbound) {
            const received = counters.packetsReceived - before.packetsReceived;
            const lost = Math.max(0, counters.packetsLost - before.packetsLost);
            if (received + lost > 0) loss = Math.max(loss, (100 * lost) / (received + lost));
          }
          if (s.kind === 'video') {
            carriesVideo = true;
            videoKbps += ((counters.bytes - before.bytes) * 8) / (now - before.at);
          }
        }
      });
      if (carriesVideo) minVideoKbps = minVideoKbps === null ? videoKbps : Math.min(minVideoKbps, videoKbps);
    }
    this.previous = next;
    if (minVideoKbps === null) return null;
    return {
      packetLossPercent: round(loss),
      rttMs: round(rtt),
      bitrateKbps: round(Math.max(0, minVideoKbps)),
    };
  }

  /** Forgets counters (the path changed: new connections, new counters). */
  reset(): void {
    this.previous.clear();
  }
}

const round = (v: number): number => Math.round(v * 10) / 10;
