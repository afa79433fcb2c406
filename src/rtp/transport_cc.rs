//! Send-side bandwidth estimation from transport-wide congestion control
//! feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), for the
//! consumers' RTP a WebRTC transport sends itself.
//!
//! Every packet sent gets a transport-wide sequence number, and its send
//! time and size are kept; the browser reports, per number, whether and
//! when it arrived. From that, as browsers' GCC does but smaller:
//! - the acknowledged bitrate: bytes that arrived over the last 500 ms;
//! - delay-based overuse: the one-way delay variation between bursts of
//!   packets, smoothed, and its trend (least squares over the last 20
//!   bursts): a rising trend is a queue building somewhere on the path;
//! - loss over the recent reports.
//!
//! Rate control: on overuse the estimate drops to 85 % of what arrives; on
//! loss above 10 % it drops in proportion; otherwise it grows 8 % a second,
//! and 50 % a second towards what the consumers would take at their
//! preferred layers (`set_desired`). An SFU does not probe with padding, so
//! the estimate may grow past what is sent (up to twice the acknowledged
//! rate, or the desired rate): a consumer held on a low layer gets room to
//! try a higher one, and the delay trend pulls the estimate back if the path
//! cannot carry it.
//!
//! Sans-IO: `Instant`s in, an estimate out. Malformed feedback changes
//! nothing and is counted; nothing here panics on input.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::prefetch;

/// Sent packets remembered, by sequence number modulo the record's length:
/// it starts small (a transport that sends nothing costs nothing) and
/// doubles, up to this, while it would overwrite packets less than
/// `RECORD_AGE` old.
const MAX_RECORD: usize = 8192;
const FIRST_RECORD: usize = 256;
/// Feedback about a packet sent longer ago than this is ignored.
const RECORD_AGE: Duration = Duration::from_secs(2);
/// Packets sent within this of a burst's first are one group.
const BURST: Duration = Duration::from_millis(5);
/// Groups in the delay trend.
const TREND_WINDOW: usize = 20;
/// The trend (ms of delay growth, scaled as libwebrtc's detector scales it)
/// above which the path is overused.
const OVERUSE_THRESHOLD: f64 = 12.5;
const ACKED_WINDOW_US: i64 = 500_000;
/// An arrival this far from the last one (either way) is a new clock on the
/// receiver's side (its 24-bit reference time wrapped, or it restarted): the
/// delay history means nothing across it.
const CLOCK_JUMP_US: i64 = 10_000_000;
/// Decreases at most this often: after one, what arrives takes about a
/// round trip to show it (cutting again on the same reports would compound).
const DECREASE_INTERVAL: Duration = Duration::from_millis(300);
const MIN_ESTIMATE: u64 = 30_000;
/// A report naming more packets than this is garbage.
const MAX_STATUS_COUNT: usize = 8192;

/// A sent packet, 8 bytes: its 16-bit number, size, and send time in µs
/// from the sender's epoch (wrapping: only ages under `RECORD_AGE` are
/// taken). `size` 0: an empty slot.
#[derive(Clone, Copy, Default)]
struct Sent {
    seq: u16,
    size: u16,
    at_us: u32,
}

/// One packet's fate in a report: its number, and its arrival time on the
/// receiver's clock (µs) if it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketReport {
    pub seq: u16,
    pub arrival_us: Option<i64>,
}

/// Parses a transport feedback FCI (from the base sequence number on) into
/// `reports`; false if it is malformed (then `reports` is left cleared).
pub fn parse_feedback(fci: &[u8], reports: &mut Vec<PacketReport>) -> bool {
    reports.clear();
    let ok = parse_into(fci, reports).is_some();
    if !ok {
        reports.clear();
    }
    ok
}

fn parse_into(fci: &[u8], reports: &mut Vec<PacketReport>) -> Option<()> {
    let base = u16::from_be_bytes([*fci.first()?, *fci.get(1)?]);
    let count = usize::from(u16::from_be_bytes([*fci.get(2)?, *fci.get(3)?]));
    if count == 0 || count > MAX_STATUS_COUNT {
        return None;
    }
    // 24-bit signed multiples of 64 ms.
    let reference = i32::from_be_bytes([*fci.get(4)?, *fci.get(5)?, *fci.get(6)?, 0]) >> 8;
    let mut at = 8;
    // Symbols first (the deltas follow all the chunks).
    let mut symbols: Vec<u8> = Vec::with_capacity(count);
    while symbols.len() < count {
        let chunk = u16::from_be_bytes([*fci.get(at)?, *fci.get(at + 1)?]);
        at += 2;
        let left = count - symbols.len();
        if chunk & 0x8000 == 0 {
            let symbol = ((chunk >> 13) & 0x03) as u8;
            let run = usize::from(chunk & 0x1fff);
            symbols.extend(std::iter::repeat_n(symbol, run.min(left)));
        } else if chunk & 0x4000 == 0 {
            for i in (0..14).rev().take(left) {
                symbols.push(((chunk >> i) & 0x01) as u8);
            }
        } else {
            for i in (0..7).rev().take(left) {
                symbols.push(((chunk >> (2 * i)) & 0x03) as u8);
            }
        }
    }
    let mut arrival = i64::from(reference) * 64_000;
    for (i, symbol) in symbols.into_iter().enumerate() {
        let seq = base.wrapping_add(i as u16);
        let delta_ticks = match symbol {
            0 => {
                reports.push(PacketReport {
                    seq,
                    arrival_us: None,
                });
                continue;
            }
            1 => {
                let d = i64::from(*fci.get(at)?);
                at += 1;
                d
            }
            2 => {
                let d = i64::from(i16::from_be_bytes([*fci.get(at)?, *fci.get(at + 1)?]));
                at += 2;
                d
            }
            _ => return None,
        };
        arrival += delta_ticks * 250;
        reports.push(PacketReport {
            seq,
            arrival_us: Some(arrival),
        });
    }
    Some(())
}

/// A burst of packets sent close together: its last send time and arrival.
#[derive(Clone, Copy)]
struct Group {
    first_sent: Instant,
    last_sent: Instant,
    last_arrival_us: i64,
}

pub struct TransportCcSender {
    next_seq: u16,
    epoch: Instant,
    record: Vec<Sent>,
    estimate: f64,
    min: Option<u64>,
    max: Option<u64>,
    desired: Option<u64>,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    /// (arrival µs, size) of packets that arrived, the last 500 ms.
    acked: VecDeque<(i64, u32)>,
    acked_bytes: u64,
    /// The burst being filled, and the one before it.
    group: Option<Group>,
    previous: Option<Group>,
    /// Accumulated and smoothed delay variation (ms), and the trend window
    /// of (arrival ms, smoothed delay ms).
    accumulated_ms: f64,
    smoothed_ms: f64,
    trend: VecDeque<(f64, f64)>,
    first_arrival_us: Option<i64>,
    deltas: usize,
    overuse_since: Option<Instant>,
    overusing: bool,
    loss: f32,
    malformed: u64,
    /// Reused per feedback.
    reports: Vec<PacketReport>,
}

impl TransportCcSender {
    /// `initial_bps`: the estimate before any feedback (mediasoup's
    /// `initialAvailableOutgoingBitrate`).
    pub fn new(initial_bps: u64, now: Instant) -> Self {
        Self {
            next_seq: 1,
            epoch: now,
            record: Vec::new(),
            estimate: initial_bps.max(MIN_ESTIMATE) as f64,
            min: None,
            max: None,
            desired: None,
            last_update: None,
            last_decrease: None,
            acked: VecDeque::new(),
            acked_bytes: 0,
            group: None,
            previous: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            trend: VecDeque::with_capacity(TREND_WINDOW),
            first_arrival_us: None,
            deltas: 0,
            overuse_since: None,
            overusing: false,
            loss: 0.0,
            malformed: 0,
            reports: Vec::new(),
        }
    }

    /// Asks for the record entry the next [`Self::on_send`] writes.
    pub fn prefetch_next(&self) {
        if let Some(entry) = self
            .record
            .get(usize::from(self.next_seq) & self.record.len().wrapping_sub(1))
        {
            prefetch::line(entry);
        }
    }

    /// The transport-wide sequence number of a packet of `size` bytes sent
    /// now, kept for the feedback to come.
    pub fn on_send(&mut self, now: Instant, size: usize) -> u16 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let at_us = self.micros(now);
        if self.record.is_empty() {
            self.record = vec![Sent::default(); FIRST_RECORD];
        }
        let slot = usize::from(seq) & (self.record.len() - 1);
        let old = self.record[slot];
        if old.size != 0
            && at_us.wrapping_sub(old.at_us) < RECORD_AGE.as_micros() as u32
            && self.record.len() < MAX_RECORD
        {
            self.grow();
        }
        let slot = usize::from(seq) & (self.record.len() - 1);
        self.record[slot] = Sent {
            seq,
            size: size.clamp(1, usize::from(u16::MAX)) as u16,
            at_us,
        };
        seq
    }

    /// µs since the epoch, wrapping every 71 minutes.
    fn micros(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.epoch).as_micros() as u32
    }

    fn grow(&mut self) {
        let mut bigger = vec![Sent::default(); self.record.len() * 2];
        let mask = bigger.len() - 1;
        for s in self.record.iter().filter(|s| s.size != 0) {
            bigger[usize::from(s.seq) & mask] = *s;
        }
        self.record = bigger;
    }

    /// The send time of a packet still on record, by its number.
    fn sent(&self, now: Instant, seq: u16) -> Option<(Instant, u32)> {
        let s = self
            .record
            .get(usize::from(seq) & self.record.len().wrapping_sub(1))?;
        let age = Duration::from_micros(u64::from(self.micros(now).wrapping_sub(s.at_us)));
        (s.size != 0 && s.seq == seq && age <= RECORD_AGE)
            .then(|| (now.checked_sub(age).unwrap_or(now), u32::from(s.size)))
    }

    /// mediasoup's `setMinOutgoingBitrate` / `setMaxOutgoingBitrate`.
    pub fn set_bounds(&mut self, min: Option<u64>, max: Option<u64>) {
        self.min = min;
        self.max = max;
    }

    /// What the consumers would take at their preferred layers while some
    /// are held below them (None: none is).
    pub fn set_desired(&mut self, desired: Option<u64>) {
        self.desired = desired;
    }

    /// The estimate of the available outgoing bitrate (bps), within the
    /// bounds.
    pub fn estimate(&self) -> u64 {
        let e = self.estimate as u64;
        let e = self.max.map_or(e, |max| e.min(max));
        self.min.map_or(e, |min| e.max(min)).max(MIN_ESTIMATE)
    }

    /// The share of packets reported lost lately (0.0..=1.0).
    pub fn loss(&self) -> f32 {
        self.loss
    }

    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// One transport feedback's FCI; false (and nothing changed) if it is
    /// malformed.
    pub fn on_feedback(&mut self, now: Instant, fci: &[u8]) -> bool {
        let mut reports = std::mem::take(&mut self.reports);
        if !parse_feedback(fci, &mut reports) {
            self.malformed += 1;
            self.reports = reports;
            return false;
        }
        let (mut lost, mut received) = (0u32, 0u32);
        for r in &reports {
            let Some((at, size)) = self.sent(now, r.seq) else {
                continue;
            };
            match r.arrival_us {
                None => lost += 1,
                Some(arrival) => {
                    received += 1;
                    self.on_arrival(at, size, arrival);
                }
            }
        }
        self.reports = reports;
        if lost + received > 0 {
            let fraction = lost as f32 / (lost + received) as f32;
            // Weighted by how much this report says.
            let weight = ((lost + received) as f32 / 100.0).min(1.0) * 0.5;
            self.loss += (fraction - self.loss) * weight;
        }
        self.update(now);
        true
    }

    fn on_arrival(&mut self, sent_at: Instant, size: u32, arrival_us: i64) {
        if self
            .acked
            .back()
            .is_some_and(|&(last, _)| (arrival_us - last).abs() > CLOCK_JUMP_US)
        {
            self.forget_arrivals();
        }
        self.acked.push_back((arrival_us, size));
        self.acked_bytes += u64::from(size);
        while let Some(&(t, size)) = self.acked.front() {
            if arrival_us - t <= ACKED_WINDOW_US {
                break;
            }
            self.acked.pop_front();
            self.acked_bytes -= u64::from(size);
        }
        match self.group.as_mut() {
            Some(g) if sent_at.saturating_duration_since(g.first_sent) < BURST => {
                if sent_at >= g.last_sent {
                    g.last_sent = sent_at;
                    g.last_arrival_us = g.last_arrival_us.max(arrival_us);
                }
            }
            // Reordered: belongs to a group already closed.
            Some(g) if sent_at < g.first_sent => {}
            _ => {
                if let Some(done) = self.group.take() {
                    self.on_group(done);
                }
                self.group = Some(Group {
                    first_sent: sent_at,
                    last_sent: sent_at,
                    last_arrival_us: arrival_us,
                });
            }
        }
    }

    /// Starts the acknowledged rate and the delay trend afresh (the estimate
    /// and the loss stay).
    fn forget_arrivals(&mut self) {
        self.acked.clear();
        self.acked_bytes = 0;
        self.group = None;
        self.previous = None;
        self.accumulated_ms = 0.0;
        self.smoothed_ms = 0.0;
        self.trend.clear();
        self.first_arrival_us = None;
        self.deltas = 0;
        self.overuse_since = None;
        self.overusing = false;
    }

    /// A burst is complete: its delay variation against the previous one
    /// feeds the trend.
    fn on_group(&mut self, group: Group) {
        let Some(prev) = self.previous.replace(group) else {
            return;
        };
        let send_delta = group.last_sent.saturating_duration_since(prev.last_sent);
        let arrival_delta_ms = (group.last_arrival_us - prev.last_arrival_us) as f64 / 1000.0;
        let variation = arrival_delta_ms - send_delta.as_secs_f64() * 1000.0;
        self.accumulated_ms += variation;
        self.smoothed_ms = 0.9 * self.smoothed_ms + 0.1 * self.accumulated_ms;
        let first = *self.first_arrival_us.get_or_insert(group.last_arrival_us);
        let x = (group.last_arrival_us - first) as f64 / 1000.0;
        if self.trend.len() == TREND_WINDOW {
            self.trend.pop_front();
        }
        self.trend.push_back((x, self.smoothed_ms));
        self.deltas += 1;
    }

    /// Least-squares slope of the smoothed delay over arrival time.
    fn slope(&self) -> Option<f64> {
        if self.trend.len() < 2 {
            return None;
        }
        let n = self.trend.len() as f64;
        let (sx, sy) = self
            .trend
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let (num, den) = self.trend.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
            (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
        });
        (den > 0.0).then(|| num / den)
    }

    fn acked_bps(&self) -> Option<f64> {
        let (first, _) = self.acked.front()?;
        let (last, _) = self.acked.back()?;
        let span_us = (last - first).max(100_000);
        (self.acked.len() >= 5).then(|| self.acked_bytes as f64 * 8.0 * 1e6 / span_us as f64)
    }

    fn update(&mut self, now: Instant) {
        let dt = self
            .last_update
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
            .min(1.0);
        self.last_update = Some(now);
        // Overuse: the scaled trend above the threshold for over 10 ms.
        let trend = self
            .slope()
            .map_or(0.0, |s| s * self.deltas.min(60) as f64 * 4.0);
        if trend > OVERUSE_THRESHOLD {
            let since = *self.overuse_since.get_or_insert(now);
            self.overusing = now.saturating_duration_since(since) >= Duration::from_millis(10);
        } else {
            self.overuse_since = None;
            self.overusing = false;
        }
        let acked = self.acked_bps();
        let may_decrease = self
            .last_decrease
            .is_none_or(|t| now.saturating_duration_since(t) >= DECREASE_INTERVAL);
        if self.overusing {
            if let (Some(acked), true) = (acked, may_decrease) {
                self.decrease(now, 0.85 * acked);
            }
        } else if self.loss > 0.1 {
            if may_decrease {
                let target = self.estimate * (1.0 - 0.5 * f64::from(self.loss));
                self.decrease(now, target);
            }
        } else if self.loss < 0.02 && dt > 0.0 {
            let desired = self.desired.map(|d| d as f64);
            let fast = desired.is_some_and(|d| self.estimate < d)
                && self
                    .last_decrease
                    .is_none_or(|t| now.saturating_duration_since(t) > Duration::from_secs(2));
            let rate: f64 = if fast { 1.5 } else { 1.08 };
            // What arrives without congestion is available, whatever the
            // estimate said.
            let floor = acked.unwrap_or(0.0);
            let grown = self.estimate.max(floor) * rate.powf(dt);
            let cap = acked
                .map_or(self.estimate, |a| (2.0 * a).max(300_000.0))
                .max(desired.unwrap_or(0.0))
                .max(self.estimate);
            self.estimate = grown.min(cap);
        }
        // Never grow unbounded past the maximum (it would take as long to
        // come back down once the maximum is lifted or lowered).
        if let Some(max) = self.max {
            self.estimate = self.estimate.min(max as f64 * 1.5);
        }
        self.estimate = self.estimate.max(MIN_ESTIMATE as f64);
    }

    fn decrease(&mut self, now: Instant, target: f64) {
        if target < self.estimate {
            self.estimate = target.max(MIN_ESTIMATE as f64);
            self.last_decrease = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a feedback FCI for `packets` (seq, arrival µs or lost) from
    /// `base`, with 2-bit status vectors (or a run for `runs`).
    fn feedback(base: u16, reference_64ms: i32, packets: &[Option<i64>], runs: bool) -> Vec<u8> {
        let mut fci = Vec::new();
        fci.extend_from_slice(&base.to_be_bytes());
        fci.extend_from_slice(&(packets.len() as u16).to_be_bytes());
        fci.extend_from_slice(&reference_64ms.to_be_bytes()[1..]);
        fci.push(0);
        let mut last = i64::from(reference_64ms) * 64_000;
        let mut deltas = Vec::new();
        let symbols: Vec<u8> = packets
            .iter()
            .map(|p| match p {
                None => 0,
                Some(at) => {
                    let d = (at - last) / 250;
                    last += d * 250;
                    if (0..=255).contains(&d) {
                        deltas.push(d as u8);
                        1
                    } else {
                        let d = i16::try_from(d).expect("a delta a report can carry");
                        deltas.extend_from_slice(&d.to_be_bytes());
                        2
                    }
                }
            })
            .collect();
        if runs {
            let mut i = 0;
            while i < symbols.len() {
                let s = symbols[i];
                let n = symbols[i..].iter().take_while(|x| **x == s).count();
                fci.extend_from_slice(&((u16::from(s) << 13) | n as u16).to_be_bytes());
                i += n;
            }
        } else {
            for chunk in symbols.chunks(7) {
                let mut c: u16 = 0xC000;
                for (i, s) in chunk.iter().enumerate() {
                    c |= u16::from(*s) << (2 * (6 - i));
                }
                fci.extend_from_slice(&c.to_be_bytes());
            }
        }
        fci.extend_from_slice(&deltas);
        fci
    }

    #[test]
    fn feedback_parses_runs_vectors_and_large_deltas_across_a_wrap() {
        let mut out = Vec::new();
        let arrivals = [
            Some(64_000),
            None,
            Some(64_500),
            Some(200_000),
            Some(150_000),
        ];
        for runs in [false, true] {
            let fci = feedback(65_534, 1, &arrivals, runs);
            assert!(parse_feedback(&fci, &mut out));
            let seqs: Vec<u16> = out.iter().map(|r| r.seq).collect();
            assert_eq!(seqs, vec![65_534, 65_535, 0, 1, 2]);
            let got: Vec<Option<i64>> = out.iter().map(|r| r.arrival_us).collect();
            assert_eq!(got, arrivals.to_vec(), "runs: {runs}");
        }
        // A one-bit vector: received, lost, received (small deltas).
        let mut fci = vec![0, 10, 0, 3, 0, 0, 0, 0];
        fci.extend_from_slice(&(0x8000u16 | 0b10_1000_0000_0000).to_be_bytes());
        fci.extend_from_slice(&[4, 8]);
        assert!(parse_feedback(&fci, &mut out));
        assert_eq!(
            out,
            vec![
                PacketReport {
                    seq: 10,
                    arrival_us: Some(1_000)
                },
                PacketReport {
                    seq: 11,
                    arrival_us: None
                },
                PacketReport {
                    seq: 12,
                    arrival_us: Some(3_000)
                },
            ]
        );
    }

    #[test]
    fn malformed_feedback_is_refused_without_panicking() {
        let mut out = Vec::new();
        let good = feedback(1, 0, &[Some(1_000), Some(2_000), None, Some(3_000)], false);
        for cut in 0..good.len() - 1 {
            assert!(!parse_feedback(&good[..cut], &mut out), "cut at {cut}");
            assert!(out.is_empty());
        }
        // Huge status count; reserved symbol.
        assert!(!parse_feedback(
            &[0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 5],
            &mut out
        ));
        assert!(!parse_feedback(
            &[0, 1, 0, 1, 0, 0, 0, 0, 0x60, 1, 0],
            &mut out
        ));
        let mut t = TransportCcSender::new(500_000, Instant::now());
        let now = Instant::now();
        // Deterministic junk.
        let mut x: u32 = 12_345;
        for _ in 0..2_000 {
            let len = (x % 40) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            t.on_feedback(now, &junk);
        }
        assert!(t.malformed() > 0);
        assert!(t.estimate() >= MIN_ESTIMATE);
    }

    /// A sender and a path: send times and arrival times go on across
    /// `run`s.
    struct Sim {
        t: TransportCcSender,
        start: Instant,
        sent: f64,
        arrival_us: f64,
        /// Reports go every 100 ms across `run`s.
        next_report: f64,
        pending: Vec<(u16, Option<i64>)>,
    }

    impl Sim {
        fn new(initial_bps: u64) -> Self {
            let start = Instant::now();
            Self {
                t: TransportCcSender::new(initial_bps, start),
                start,
                sent: 0.0,
                arrival_us: 20_000.0,
                next_report: 0.1,
                pending: Vec::new(),
            }
        }

        /// Sends `bps` in 1,200-byte packets for `secs`, the path stretching
        /// each arrival gap by `stretch` (1.0: no queue), reporting every
        /// 100 ms, losing every `lose_every`-th packet (0: none).
        fn run(&mut self, bps: f64, secs: f64, stretch: f64, lose_every: u32) {
            let interval = 1_200.0 * 8.0 / bps;
            let end = self.sent + secs;
            let mut i = 0u32;
            while self.sent < end {
                let at = self.start + Duration::from_secs_f64(self.sent);
                let seq = self.t.on_send(at, 1_200);
                self.arrival_us += interval * stretch * 1e6;
                let lost = lose_every > 0 && i.is_multiple_of(lose_every);
                self.pending
                    .push((seq, (!lost).then_some(self.arrival_us as i64)));
                if self.sent >= self.next_report {
                    self.next_report += 0.1;
                    self.report(at);
                }
                self.sent += interval;
                i += 1;
            }
        }

        /// Reports what is pending, as the receiver does every 100 ms.
        fn report(&mut self, at: Instant) {
            let Some(&(base, _)) = self.pending.first() else {
                return;
            };
            let arrivals: Vec<Option<i64>> = self.pending.iter().map(|p| p.1).collect();
            // The reference time: the first arrival's, in 64 ms steps, as a
            // receiver writes it.
            let first = arrivals.iter().flatten().next().copied().unwrap_or(0);
            let reference = first.div_euclid(64_000) as i32;
            let fci = feedback(base, reference, &arrivals, false);
            assert!(self.t.on_feedback(at, &fci));
            self.pending.clear();
        }
    }

    #[test]
    fn an_open_path_lets_the_estimate_grow_past_what_is_sent() {
        let mut sim = Sim::new(300_000);
        sim.run(1_000_000.0, 5.0, 1.0, 0);
        assert!(
            sim.t.estimate() > 1_000_000,
            "estimate {}",
            sim.t.estimate()
        );
        assert!(sim.t.loss() < 0.01);
    }

    #[test]
    fn a_queue_building_brings_the_estimate_below_what_arrives() {
        let mut sim = Sim::new(2_000_000);
        sim.run(1_000_000.0, 2.0, 1.0, 0);
        let before = sim.t.estimate();
        // Arrivals spread 1.5× the send spacing: the path carries ~667 kbps.
        sim.run(1_000_000.0, 1.0, 1.5, 0);
        assert!(
            sim.t.estimate() < before,
            "{} vs {before}",
            sim.t.estimate()
        );
        assert!(sim.t.estimate() < 700_000, "estimate {}", sim.t.estimate());
    }

    #[test]
    fn loss_lowers_the_estimate_and_bounds_hold() {
        let mut sim = Sim::new(1_000_000);
        sim.run(1_000_000.0, 2.0, 1.0, 5);
        let t = &mut sim.t;
        assert!(t.loss() > 0.1, "loss {}", t.loss());
        assert!(t.estimate() < 1_000_000, "estimate {}", t.estimate());
        t.set_bounds(Some(50_000), Some(200_000));
        assert!(t.estimate() <= 200_000);
        t.set_bounds(Some(5_000_000), None);
        assert_eq!(t.estimate(), 5_000_000);
    }

    #[test]
    fn a_consumer_held_back_gets_room_quickly() {
        let mut slow = Sim::new(300_000);
        slow.run(300_000.0, 3.0, 1.0, 0);
        let mut fast = Sim::new(300_000);
        fast.t.set_desired(Some(1_500_000));
        fast.run(300_000.0, 3.0, 1.0, 0);
        assert!(fast.t.estimate() > 900_000, "fast {}", fast.t.estimate());
        assert!(fast.t.estimate() > slow.t.estimate());
    }

    #[test]
    fn a_jump_of_the_receivers_clock_starts_the_delay_history_afresh() {
        for jump_us in [-5_000_000_000.0, 3_000_000_000.0] {
            let mut sim = Sim::new(1_000_000);
            sim.run(1_000_000.0, 2.0, 1.0, 0);
            let before = sim.t.estimate();
            // Everything before the jump reported first: the next report
            // is all on the new clock.
            sim.report(sim.start + Duration::from_secs_f64(sim.sent));
            sim.arrival_us += jump_us;
            sim.run(1_000_000.0, 2.0, 1.0, 0);
            // Neither a false overuse nor a stale acknowledged rate, and
            // the arrivals kept stay those of the last 500 ms.
            assert!(
                sim.t.estimate() >= before,
                "{jump_us}: {}",
                sim.t.estimate()
            );
            assert!(sim.t.acked.len() < 80, "{jump_us}: {}", sim.t.acked.len());
            let acked = sim.t.acked_bps().unwrap();
            assert!(
                (800_000.0..1_300_000.0).contains(&acked),
                "{jump_us}: {acked}"
            );
        }
    }

    #[test]
    fn overuse_cuts_wait_for_the_last_cut_to_show() {
        let mut sim = Sim::new(2_000_000);
        sim.run(1_000_000.0, 2.0, 1.0, 0);
        // A queue for 1.5 s, reported every 100 ms: while the acknowledged
        // rate slides down to what the path carries, each report would
        // cut again.
        let mut cuts: Vec<Instant> = Vec::new();
        for _ in 0..15 {
            sim.run(1_000_000.0, 0.1, 1.5, 0);
            if let Some(t) = sim.t.last_decrease.filter(|t| cuts.last() != Some(t)) {
                cuts.push(t);
            }
        }
        assert!(cuts.len() >= 2, "{} cuts", cuts.len());
        for pair in cuts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= Duration::from_millis(300), "{gap:?}");
        }
        assert!(sim.t.estimate() < 700_000, "estimate {}", sim.t.estimate());
    }

    #[test]
    fn sequence_numbers_are_consecutive_and_wrap() {
        let now = Instant::now();
        let mut t = TransportCcSender::new(300_000, now);
        let first = t.on_send(now, 100);
        for i in 1..70_000u32 {
            assert_eq!(t.on_send(now, 100), first.wrapping_add(i as u16));
        }
    }
}
