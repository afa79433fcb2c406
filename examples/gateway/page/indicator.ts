// The connection indicator: mode, switch in progress, quality, head count.
import { byId } from './dom';
import type { CallMode, QualityView } from './types';

/** What a user reads while the call changes path under them. */
const TRANSITION_LABELS: Record<CallMode, string> = {
  sfu: 'Upgrading call…',
  p2p: 'Optimizing connection…',
};

export class ConnectionIndicator {
  private readonly root = byId('indicator');
  private readonly mode = byId('mode');
  private readonly transition = byId('transition');
  private readonly count = byId('participant-count');
  private readonly bitrate = byId('q-bitrate');
  private readonly loss = byId('q-loss');
  private readonly rtt = byId('q-rtt');
  private readonly jitter = byId('q-jitter');

  /** `target`: the mode being switched to, or null when no switch is under way. */
  setMode(mode: CallMode | null, target: CallMode | null): void {
    this.root.dataset.mode = mode ?? '';
    this.mode.textContent = mode ? mode.toUpperCase() : '…';
    this.root.dataset.transitioning = String(target !== null);
    this.transition.hidden = target === null;
    this.transition.textContent = target ? TRANSITION_LABELS[target] : '';
  }

  setParticipantCount(count: number): void {
    this.count.textContent = String(count);
  }

  setQuality(q: QualityView): void {
    this.bitrate.textContent = format(q.bitrateKbps, 0);
    this.loss.textContent = q.packetLossPercent === undefined ? '–' : `${format(q.packetLossPercent, 1)} %`;
    this.rtt.textContent = q.rttMs === undefined ? '–' : `${format(q.rttMs, 0)} ms`;
    this.jitter.textContent = q.jitterMs === undefined ? '–' : `${format(q.jitterMs, 0)} ms`;
  }
}

function format(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}
