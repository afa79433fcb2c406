import type { QualitySample } from './types';

export interface QualityThresholds {
  /** Degraded above this packet loss, in percent. */
  maxPacketLossPercent: number;
  /** Degraded above this round-trip time. */
  maxRttMs: number;
  /** Degraded below this bitrate. */
  minBitrateKbps: number;
}

export interface QualityOptions extends Partial<QualityThresholds> {
  /** How long degradation must last before it counts. */
  windowMs?: number;
  /** How many consecutive bad samples that span must contain. */
  minSamples?: number;
}

export const DEFAULT_QUALITY_THRESHOLDS: QualityThresholds = {
  maxPacketLossPercent: 5,
  maxRttMs: 200,
  minBitrateKbps: 100,
};
export const DEFAULT_QUALITY_WINDOW_MS = 5_000;
export const DEFAULT_QUALITY_MIN_SAMPLES = 3;

export type QualityProblem = 'packet-loss' | 'rtt' | 'bitrate';

/** Which thresholds a single sample breaks (empty when it is fine). */
export function assessSample(sample: QualitySample, thresholds: QualityThresholds): QualityProblem[] {
  const problems: QualityProblem[] = [];
  if (sample.packetLossPercent > thresholds.maxPacketLossPercent) problems.push('packet-loss');
  if (sample.rttMs > thresholds.maxRttMs) problems.push('rtt');
  if (sample.bitrateKbps < thresholds.minBitrateKbps) problems.push('bitrate');
  return problems;
}

export function assertQualitySample(sample: unknown): asserts sample is QualitySample {
  const s = sample as Partial<QualitySample> | null;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    [s.packetLossPercent, s.rttMs, s.bitrateKbps].every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (!ok) {
    throw new TypeError('quality sample needs finite, non-negative packetLossPercent, rttMs and bitrateKbps');
  }
}

interface BadRun {
  since: number;
  last: number;
  count: number;
}

export interface QualityVerdict {
  problems: QualityProblem[];
  /** True once this participant's degradation has lasted the whole window. */
  sustained: boolean;
}

/**
 * Tracks, per participant, the current run of consecutive bad samples. A call
 * must never switch on one bad sample (a single getStats() spike is common),
 * so degradation is "sustained" only when bad samples have kept arriving for
 * `windowMs` with at least `minSamples` of them; one good sample, or a silence
 * longer than the window (we no longer know), starts over.
 */
export class QualityMonitor {
  readonly thresholds: QualityThresholds;
  readonly windowMs: number;
  readonly minSamples: number;
  private readonly runs = new Map<string, BadRun>();

  constructor(options: QualityOptions = {}) {
    this.thresholds = {
      maxPacketLossPercent: options.maxPacketLossPercent ?? DEFAULT_QUALITY_THRESHOLDS.maxPacketLossPercent,
      maxRttMs: options.maxRttMs ?? DEFAULT_QUALITY_THRESHOLDS.maxRttMs,
      minBitrateKbps: options.minBitrateKbps ?? DEFAULT_QUALITY_THRESHOLDS.minBitrateKbps,
    };
    this.windowMs = options.windowMs ?? DEFAULT_QUALITY_WINDOW_MS;
    this.minSamples = options.minSamples ?? DEFAULT_QUALITY_MIN_SAMPLES;
    if (!(this.windowMs > 0) || !(this.minSamples >= 2)) {
      throw new TypeError('quality windowMs must be > 0 and minSamples >= 2');
    }
  }

  record(participantId: string, sample: QualitySample, now: number): QualityVerdict {
    const problems = assessSample(sample, this.thresholds);
    if (problems.length === 0) {
      this.runs.delete(participantId);
      return { problems, sustained: false };
    }
    let run = this.runs.get(participantId);
    if (!run || now - run.last > this.windowMs) {
      run = { since: now, last: now, count: 0 };
      this.runs.set(participantId, run);
    }
    run.last = now;
    run.count += 1;
    return { problems, sustained: run.count >= this.minSamples && now - run.since >= this.windowMs };
  }

  forget(participantId: string): void {
    this.runs.delete(participantId);
  }

  /** Starts every participant over, e.g. after the call changed path. */
  reset(): void {
    this.runs.clear();
  }
}
