import { assessSample, DEFAULT_QUALITY_THRESHOLDS, QualityMonitor } from '../../lib/call/quality';

const good = { packetLossPercent: 1, rttMs: 50, bitrateKbps: 800 };
const lossy = { packetLossPercent: 8, rttMs: 50, bitrateKbps: 800 };

describe('assessSample', () => {
  test('each threshold, strictly beyond its limit', () => {
    const t = DEFAULT_QUALITY_THRESHOLDS;
    expect(assessSample(good, t)).toEqual([]);
    expect(assessSample({ ...good, packetLossPercent: 5 }, t)).toEqual([]);
    expect(assessSample({ ...good, packetLossPercent: 5.1 }, t)).toEqual(['packet-loss']);
    expect(assessSample({ ...good, rttMs: 200 }, t)).toEqual([]);
    expect(assessSample({ ...good, rttMs: 201 }, t)).toEqual(['rtt']);
    expect(assessSample({ ...good, bitrateKbps: 100 }, t)).toEqual([]);
    expect(assessSample({ ...good, bitrateKbps: 99 }, t)).toEqual(['bitrate']);
  });
});

describe('QualityMonitor', () => {
  test('a single bad sample never counts as sustained', () => {
    const m = new QualityMonitor({ windowMs: 1000, minSamples: 2 });
    expect(m.record('a', lossy, 0)).toEqual({ problems: ['packet-loss'], sustained: false });
  });

  test('bad samples spanning the window with enough of them are sustained', () => {
    const m = new QualityMonitor({ windowMs: 3000, minSamples: 3 });
    expect(m.record('a', lossy, 0).sustained).toBe(false);
    expect(m.record('a', lossy, 1000).sustained).toBe(false);
    expect(m.record('a', lossy, 2000).sustained).toBe(false);
    expect(m.record('a', lossy, 3000).sustained).toBe(true);
  });

  test('two samples far apart are not enough when minSamples is higher', () => {
    const m = new QualityMonitor({ windowMs: 3000, minSamples: 3 });
    m.record('a', lossy, 0);
    expect(m.record('a', lossy, 3000).sustained).toBe(false);
  });

  test('one good sample starts over', () => {
    const m = new QualityMonitor({ windowMs: 2000, minSamples: 2 });
    m.record('a', lossy, 0);
    m.record('a', lossy, 1000);
    m.record('a', good, 1500);
    expect(m.record('a', lossy, 2000).sustained).toBe(false);
    expect(m.record('a', lossy, 3000).sustained).toBe(false);
    expect(m.record('a', lossy, 4000).sustained).toBe(true);
  });

  test('a silence longer than the window starts over', () => {
    const m = new QualityMonitor({ windowMs: 2000, minSamples: 2 });
    m.record('a', lossy, 0);
    expect(m.record('a', lossy, 10_000).sustained).toBe(false);
  });

  test('participants are tracked separately', () => {
    const m = new QualityMonitor({ windowMs: 1000, minSamples: 2 });
    m.record('a', lossy, 0);
    expect(m.record('b', lossy, 1000).sustained).toBe(false);
    expect(m.record('a', lossy, 1000).sustained).toBe(true);
  });

  test('thresholds are configurable and options validated', () => {
    const m = new QualityMonitor({ maxRttMs: 50, windowMs: 1000, minSamples: 2 });
    expect(m.record('a', { ...good, rttMs: 60 }, 0).problems).toEqual(['rtt']);
    expect(() => new QualityMonitor({ minSamples: 1 })).toThrow(TypeError);
  });
});
