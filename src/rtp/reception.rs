//! What a receiver tells a sender about one stream it receives (RFC 3550
//! §6.4.2 and appendices A.3 and A.8): the report block of the receiver
//! reports a plain or pipe transport sends about its producers, as
//! mediasoup's do. With them a sender learns its loss and, from the echoed
//! sender report, the round trip (which sizes its RTX history).
//!
//! Sans-IO: sequence numbers, timestamps and `Instant`s in, blocks out.

use std::time::Instant;

use crate::rtp::wire::ReportBlock;

/// A jump ahead by more than this many numbers is a new numbering, not
/// loss (RFC 3550 appendix A.1's MAX_DROPOUT; a reorder or a burst of loss
/// stays well below it).
const MAX_DROPOUT: u64 = 3_000;

pub struct Reception {
    clock_rate: u32,
    /// The first and the highest extended sequence numbers seen.
    first: Option<u64>,
    highest: u64,
    received: u64,
    /// Numbers a source skipped when it restarted its numbering: neither
    /// expected nor lost.
    skipped: u64,
    /// Expected and received at the previous report (for its fraction).
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in RTP timestamp units, and the last packet's
    /// arrival and timestamp.
    jitter: f64,
    last: Option<(Instant, u32)>,
    /// The middle 32 bits of the NTP time of the sender's last report, and
    /// when it came.
    last_sr: Option<(u32, Instant)>,
}

impl Reception {
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            first: None,
            highest: 0,
            received: 0,
            skipped: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter: 0.0,
            last: None,
            last_sr: None,
        }
    }

    /// The source restarted its numbering, which goes on from `seq_no`:
    /// the numbers between are not losses, and its timestamps start anew.
    pub fn restart(&mut self, seq_no: u64) {
        if self.first.is_some() {
            self.skipped += seq_no.saturating_sub(self.highest + 1);
            // Numbered on from there: its packet is the next expected.
            self.highest = self.highest.max(seq_no.saturating_sub(1));
            self.last = None;
        }
    }

    /// A packet of the stream: an original, or one `recovered` from RTX,
    /// which counts as received but not for the jitter (it came a round
    /// trip late by design).
    pub fn on_packet(&mut self, seq_no: u64, timestamp: u32, arrival: Instant, recovered: bool) {
        match self.first {
            None => {
                self.first = Some(seq_no);
                self.highest = seq_no;
            }
            Some(_) => {
                if seq_no > self.highest + MAX_DROPOUT {
                    self.restart(seq_no);
                }
                self.highest = self.highest.max(seq_no);
            }
        }
        self.received += 1;
        if recovered {
            return;
        }
        if let Some((last_at, last_ts)) = self.last {
            // D(i, j): the difference in transit times, in timestamp units;
            // the timestamps' difference taken as signed, across their wrap.
            let since = if arrival >= last_at {
                arrival.duration_since(last_at).as_secs_f64()
            } else {
                -last_at.duration_since(arrival).as_secs_f64()
            };
            let d = since * f64::from(self.clock_rate)
                - f64::from(timestamp.wrapping_sub(last_ts) as i32);
            self.jitter += (d.abs() - self.jitter) / 16.0;
        }
        self.last = Some((arrival, timestamp));
    }

    /// The sender's report about this stream came.
    pub fn on_sender_report(&mut self, ntp_sec: u32, ntp_frac: u32, now: Instant) {
        self.last_sr = Some(((ntp_sec << 16) | (ntp_frac >> 16), now));
    }

    /// The report block about the stream now, and the next one's fraction
    /// counted from here; None before its first packet.
    pub fn report(&mut self, ssrc: u32, now: Instant) -> Option<ReportBlock> {
        let first = self.first?;
        let expected = (self.highest - first + 1).saturating_sub(self.skipped);
        let lost = expected.saturating_sub(self.received);
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        let (lsr, dlsr) = self.last_sr.map_or((0, 0), |(lsr, at)| {
            let held = now.saturating_duration_since(at);
            let units = (held.as_secs_f64() * 65_536.0) as u64;
            (lsr, units.min(u64::from(u32::MAX)) as u32)
        });
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            // 24 bits, signed: clamped rather than wrapped.
            packets_lost: lost.min(0x7f_ffff) as i32,
            // The cycles counted from the first packet's number.
            highest_seq: (self.highest - first + u64::from(first as u16)) as u32,
            jitter: self.jitter as u32,
            lsr,
            dlsr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn loss_jitter_and_the_echoed_sender_report() {
        let t0 = Instant::now();
        let mut r = Reception::new(90_000);
        assert!(r.report(7, t0).is_none(), "nothing before the first packet");
        // 100 packets 10 ms apart, 900 timestamp units apart: no jitter;
        // every fourth one lost.
        for k in 0..100u64 {
            if k % 4 != 1 {
                r.on_packet(
                    65_530 + k,
                    1_000 + 900 * k as u32,
                    t0 + MS * 10 * k as u32,
                    false,
                );
            }
        }
        r.on_sender_report(0x0001_0002, 0x0003_0004, t0 + MS * 500);
        let block = r.report(7, t0 + MS * 1_500).unwrap();
        assert_eq!(block.packets_lost, 25);
        assert_eq!(block.fraction_lost, 64, "a quarter, in 1/256");
        // Across the 16-bit wrap: one cycle, and the highest's low bits.
        assert_eq!(block.highest_seq, (1 << 16) | ((65_530 + 99) & 0xffff));
        assert!(block.jitter <= 1, "regular arrivals: {}", block.jitter);
        assert_eq!(block.lsr, 0x0002_0003);
        assert_eq!(block.dlsr, 65_536, "one second since the sender report");
        // The next report's fraction counts from this one: nothing lost.
        for k in 100..110u64 {
            r.on_packet(
                65_530 + k,
                1_000 + 900 * k as u32,
                t0 + MS * 10 * k as u32,
                false,
            );
        }
        let next = r.report(7, t0 + MS * 2_500).unwrap();
        assert_eq!((next.fraction_lost, next.packets_lost), (0, 25));
        // A source that restarts its numbering (numbered on 30,000 higher)
        // and its timestamps: neither a loss nor a jitter spike.
        r.restart(65_530 + 30_110);
        for k in 0..10u64 {
            r.on_packet(
                65_530 + 30_110 + k,
                7 + 900 * k as u32,
                t0 + MS * (3_000 + 10 * k as u32),
                false,
            );
        }
        let after = r.report(7, t0 + MS * 3_500).unwrap();
        assert_eq!((after.fraction_lost, after.packets_lost), (0, 25));
        assert!(after.jitter <= 1, "jitter {}", after.jitter);
        // A jump ahead beyond MAX_DROPOUT that the transport did not call a
        // restart is one all the same; a smaller one is loss.
        let mut jump = Reception::new(90_000);
        for seq in [10, 11, 12, 10 + 5_000, 10 + 5_001, 10 + 5_004] {
            jump.on_packet(seq, 0, t0, false);
        }
        assert_eq!(jump.report(1, t0).unwrap().packets_lost, 2);
        // A packet recovered from RTX, a round trip late, counts as received
        // without moving the jitter.
        r.on_packet(65_530 + 30_120, 7 + 900 * 10, t0 + MS * 3_400, true);
        assert!(r.report(7, t0 + MS * 3_600).unwrap().jitter <= 1);
        // Arrivals 5 ms off their timestamps, alternately: jitter grows
        // towards the 450 units of that spread.
        let mut j = Reception::new(90_000);
        for k in 0..200u64 {
            let late = if k % 2 == 0 { MS * 5 } else { Duration::ZERO };
            j.on_packet(k, 900 * k as u32, t0 + MS * 10 * k as u32 + late, false);
        }
        let jitter = j.report(1, t0 + MS * 3_000).unwrap().jitter;
        assert!((400..=460).contains(&jitter), "jitter {jitter}");
    }
}
