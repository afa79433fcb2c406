//! Per-consumer sequence-number and timestamp rewriting.
//!
//! A consumer's outgoing stream must look like one continuous RTP stream to
//! the browser, although its source changes: pause/resume, simulcast layer
//! switches and producer SSRC changes. Within one *run* (a stretch forwarded
//! from one source without interruption) the mapping is a fixed offset, so
//! loss and reordering upstream are reproduced faithfully and the receiver's
//! NACKs still line up. A *resync* starts a new run whose first packet
//! follows the last packet sent, in both sequence number and timestamp.

use std::collections::VecDeque;
use std::time::Instant;

/// At most this many dropped inputs are remembered per run; older ones are
/// folded into the run's base (packets from before them are then too old).
const MAX_DROPPED: usize = 1024;

/// Maps extended input sequence numbers (str0m's `SeqNo`, 64-bit) to a
/// contiguous extended output sequence.
#[derive(Debug, Clone)]
pub struct SeqRewriter {
    /// Output of the first packet of the very first run: below 65 536 so
    /// that the SRTP rollover counter starts at 0 without signalling.
    initial_out: u64,
    /// The input sequence number that starts the current run.
    base_in: u64,
    /// The output sequence number given to `base_in`.
    base_out: u64,
    /// Highest output handed out so far.
    max_out: Option<u64>,
    /// Highest input forwarded or dropped in the current run.
    max_in: Option<u64>,
    resync: bool,
    /// Inputs of the current run deliberately not forwarded (e.g. a temporal
    /// layer left out), ascending: later packets close the gap they leave,
    /// and a late packet is still numbered by its place among them.
    dropped: VecDeque<u64>,
}

impl SeqRewriter {
    pub fn new(initial_out: u16) -> Self {
        Self {
            initial_out: u64::from(initial_out),
            base_in: 0,
            base_out: 0,
            max_out: None,
            max_in: None,
            resync: true,
            dropped: VecDeque::new(),
        }
    }

    /// The next packet starts a new run right after the last output.
    pub fn resync(&mut self) {
        self.resync = true;
        self.dropped.clear();
        self.max_in = None;
    }

    /// `input` is left out on purpose: the output closes up behind it. Only
    /// a packet newer than all so far can be closed up behind: one that comes
    /// late (a retransmission) leaves its gap, or packets already numbered
    /// after it would share numbers with those to come.
    pub fn drop_input(&mut self, input: u64) {
        if self.resync || self.max_in.is_none_or(|m| input <= m) {
            return;
        }
        self.max_in = Some(input);
        let at = self.dropped.partition_point(|&d| d < input);
        if self.dropped.get(at) == Some(&input) {
            return;
        }
        self.dropped.insert(at, input);
        if self.dropped.len() > MAX_DROPPED
            && let Some(oldest) = self.dropped.pop_front()
        {
            // The run now starts right after it, numbered as before: the
            // input after it gets the number it would have had.
            self.base_out += oldest - self.base_in;
            self.base_in = oldest + 1;
        }
    }

    /// Highest output sequence number so far.
    pub fn max_out(&self) -> Option<u64> {
        self.max_out
    }

    /// Output for `input`, or `None` when the packet is older than the
    /// current run (e.g. a late retransmission from before a layer switch),
    /// which must not be forwarded: its number would collide with packets
    /// already sent.
    pub fn rewrite(&mut self, input: u64) -> Option<u64> {
        if self.resync {
            self.resync = false;
            self.base_in = input;
            self.base_out = self.max_out.map_or(self.initial_out, |m| m + 1);
        }
        if input < self.base_in || self.dropped.binary_search(&input).is_ok() {
            return None;
        }
        if self.max_in.is_none_or(|m| input > m) {
            self.max_in = Some(input);
        }
        let skipped = self.dropped.partition_point(|&d| d < input) as u64;
        let out = self.base_out + (input - self.base_in) - skipped;
        if self.max_out.is_none_or(|m| out > m) {
            self.max_out = Some(out);
        }
        Some(out)
    }
}

/// Maps input RTP timestamps to the consumer's timeline with a per-run
/// offset; at a resync the gap is derived from the wall clock, so playout
/// timing stays right across pauses and layer switches.
#[derive(Debug, Clone)]
pub struct TimestampRewriter {
    clock_rate: u32,
    offset: u32,
    /// Highest output timestamp so far and the arrival time of its packet.
    last_out: Option<(u32, Instant)>,
    resync: bool,
}

impl TimestampRewriter {
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            offset: 0,
            last_out: None,
            resync: true,
        }
    }

    pub fn resync(&mut self) {
        self.resync = true;
    }

    pub fn rewrite(&mut self, input: u32, arrival: Instant) -> u32 {
        if self.resync {
            self.resync = false;
            if let Some((last_ts, last_at)) = self.last_out {
                let elapsed = arrival.saturating_duration_since(last_at);
                let ticks = (elapsed.as_secs_f64() * f64::from(self.clock_rate)) as u64;
                // At least one tick, so that the new run never goes backwards.
                let expected = last_ts.wrapping_add(ticks.clamp(1, u64::from(u32::MAX / 2)) as u32);
                self.offset = expected.wrapping_sub(input);
            }
        }
        let out = input.wrapping_add(self.offset);
        match self.last_out {
            Some((last, _)) if !is_newer_ts(out, last) => {}
            _ => self.last_out = Some((out, arrival)),
        }
        out
    }
}

/// RFC 1982 comparison of 32-bit RTP timestamps.
fn is_newer_ts(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Sequence and timestamp rewriting for one consumer stream.
#[derive(Debug, Clone)]
pub struct RtpRewriter {
    pub seq: SeqRewriter,
    pub ts: TimestampRewriter,
}

impl RtpRewriter {
    pub fn new(initial_seq: u16, clock_rate: u32) -> Self {
        Self {
            seq: SeqRewriter::new(initial_seq),
            ts: TimestampRewriter::new(clock_rate),
        }
    }

    /// The next forwarded packet comes from a new run (resume, layer or
    /// source switch).
    pub fn resync(&mut self) {
        self.seq.resync();
        self.ts.resync();
    }

    /// Rewritten (extended sequence number, timestamp), or `None` to drop.
    pub fn rewrite(&mut self, seq: u64, ts: u32, arrival: Instant) -> Option<(u64, u32)> {
        let out_seq = self.seq.rewrite(seq)?;
        Some((out_seq, self.ts.rewrite(ts, arrival)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_run_starts_at_initial_and_keeps_gaps_and_reordering() {
        let mut s = SeqRewriter::new(1000);
        assert_eq!(s.rewrite(70_000), Some(1000));
        assert_eq!(s.rewrite(70_001), Some(1001));
        // Upstream loss stays a gap, so the receiver can NACK it.
        assert_eq!(s.rewrite(70_003), Some(1003));
        // The late packet fills the gap.
        assert_eq!(s.rewrite(70_002), Some(1002));
        assert_eq!(s.max_out(), Some(1003));
        // Older than the run: dropped.
        assert_eq!(s.rewrite(69_999), None);
    }

    #[test]
    fn dropped_inputs_leave_no_gap_even_for_late_packets() {
        let mut s = SeqRewriter::new(100);
        assert_eq!(s.rewrite(10), Some(100));
        s.drop_input(11);
        assert_eq!(s.rewrite(12), Some(101));
        s.drop_input(14);
        s.drop_input(15);
        assert_eq!(s.rewrite(16), Some(103));
        // 13 arrives late: between the two drops, in its place.
        assert_eq!(s.rewrite(13), Some(102));
        assert_eq!(s.rewrite(11), None, "a dropped packet stays dropped");
        // A late packet that is dropped leaves its gap: nothing is renumbered.
        assert_eq!(s.rewrite(18), Some(105));
        s.drop_input(17);
        assert_eq!(s.rewrite(19), Some(106));
        // A resync forgets the drops.
        s.resync();
        assert_eq!(s.rewrite(500), Some(107));
        assert_eq!(s.rewrite(501), Some(108));
    }

    #[test]
    fn many_drops_fold_into_the_run() {
        let mut s = SeqRewriter::new(0);
        assert_eq!(s.rewrite(0), Some(0));
        // Every other packet dropped, far more than remembered.
        for i in 1..=3000u64 {
            if i % 2 == 1 {
                s.drop_input(i);
            } else {
                assert_eq!(s.rewrite(i), Some(i / 2));
            }
        }
    }

    #[test]
    fn resync_continues_after_highest_output() {
        let mut s = SeqRewriter::new(65_534);
        assert_eq!(s.rewrite(10), Some(65_534));
        assert_eq!(s.rewrite(11), Some(65_535));
        s.resync();
        // New source with unrelated numbers; output crosses the 16-bit wrap
        // as an extended number (ROC 1), which the receiver tracks itself.
        assert_eq!(s.rewrite(500), Some(65_536));
        assert_eq!(s.rewrite(501), Some(65_537));
        // Late packet of the previous run is refused.
        assert_eq!(s.rewrite(12), None);
    }

    #[test]
    fn timestamps_keep_offset_within_run_and_follow_wallclock_at_resync() {
        let t0 = Instant::now();
        let mut ts = TimestampRewriter::new(90_000);
        assert_eq!(ts.rewrite(1_000, t0), 1_000);
        assert_eq!(ts.rewrite(4_000, t0 + Duration::from_millis(33)), 4_000);
        ts.resync();
        // 1 s later, from a source with a wildly different clock base.
        let out = ts.rewrite(u32::MAX - 5, t0 + Duration::from_millis(1_033));
        assert_eq!(out, 4_000 + 90_000);
        // The offset stays for the run, across the u32 wrap.
        let out2 = ts.rewrite(2, t0 + Duration::from_millis(1_040));
        assert_eq!(out2, 4_000 + 90_000 + 8);
    }

    #[test]
    fn resync_never_goes_backwards_in_time() {
        let t0 = Instant::now();
        let mut ts = TimestampRewriter::new(48_000);
        ts.rewrite(960, t0);
        ts.resync();
        // Same instant: one tick ahead.
        assert_eq!(ts.rewrite(123, t0), 961);
    }

    #[test]
    fn rewriter_is_contiguous_across_pause_and_resume() {
        let t0 = Instant::now();
        let mut r = RtpRewriter::new(1, 90_000);
        let mut out = vec![];
        for i in 0..5u64 {
            out.push(r.rewrite(100 + i, 3000 * i as u32, t0).unwrap().0);
        }
        // Paused: packets 105..=199 are not forwarded. Resume on 200.
        r.resync();
        for i in 200..205u64 {
            out.push(r.rewrite(i, 3000 * i as u32, t0).unwrap().0);
        }
        assert_eq!(out, (1..=10).collect::<Vec<_>>());
    }
}
