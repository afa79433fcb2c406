//! NACK and RTX (RFC 4585, RFC 4588) for the transports str0m does not run:
//! plain, pipe (with `enableRtx`) and direct ones. The sender keeps what it sent and
//! resends it on a NACK as RTX; the receiver finds gaps, NACKs them (again
//! until they arrive or it gives up) and unwraps RTX back into the original.
//!
//! Sans-IO: sequence numbers and `Instant`s in, decisions out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ortc::types::RtpCodecParameters;
use crate::prefetch;
use crate::rtp::wire::ForwardedExtensions;

/// How long a sending stream keeps what it sent. A receiver can tell a
/// packet is lost only once a later one arrives (for the last packet of a
/// frame, the next frame's first), and its NACK takes a round trip more: so
/// a packet is kept, and resent, until this long after the packet that
/// followed it. Sized to the round trip, three of them and a margin, with
/// libwebrtc's one second at least (the floor of its send history; at five
/// frames a second a frame's last packet is known lost only 200 ms later)
/// and mediasoup's two seconds for video at most. Until a receiver report
/// gives the round trip (a pipe measures none), KEEP_MIN.
const KEEP_MIN: Duration = Duration::from_millis(1_000);
const KEEP_MAX: Duration = Duration::from_millis(2_000);
const KEEP_MARGIN: Duration = Duration::from_millis(150);
/// At most this many packets whatever the rate (mediasoup's limit too).
const HISTORY_MAX: usize = 2_500;
/// Expired packets are dropped in batches, once the oldest kept has been
/// expired this long: a check on every send would read the oldest entry,
/// a second old and out of the cache by then, for each copy of each packet
/// (a sixteenth of a large fan-out's own work was that one read). A batch
/// reads consecutive entries instead, and costs at most this much longer
/// in memory.
const EVICTION_BATCH: Duration = Duration::from_millis(100);
/// How long a receiver waits before asking again for a missing packet (no
/// RTT is measured on a pipe: enough for one between data centres).
const NACK_RETRY: Duration = Duration::from_millis(100);
/// How many times it asks; it keeps waiting for an answer until NACK_GIVE_UP.
const NACK_TRIES: u8 = 3;
const NACK_GIVE_UP: Duration = Duration::from_millis(1_000);
/// A larger gap is a restart or a long outage, not loss: nothing is asked.
const MAX_GAP: u64 = 256;
/// At most this many packets awaited: beyond, the stream is too broken for
/// NACKs (a keyframe will have to do).
const MAX_MISSING: usize = 512;
/// A sender does not resend a packet again within a round trip (a NACK
/// storm, or numbers repeated within one NACK; the receiver asks again only
/// once the first answer could have come), and never sooner than
/// RESEND_GUARD_MIN. Until the round trip is known, RESEND_GUARD_UNMEASURED:
/// under a pipe's NACK_RETRY, so that its second ask is answered.
const RESEND_GUARD_UNMEASURED: Duration = Duration::from_millis(50);
const RESEND_GUARD_MIN: Duration = Duration::from_millis(5);

/// (media payload type, its RTX payload type), from the codecs' `apt`,
/// for media codecs that list generic NACK: retransmission needs both ends
/// to agree on NACK (mediasoup's rule), and audio has neither.
pub fn rtx_payload_types(codecs: &[RtpCodecParameters]) -> Vec<(u8, u8)> {
    let nackable = |pt: u8| {
        codecs.iter().any(|c| {
            c.payload_type == pt
                && c.rtcp_feedback
                    .iter()
                    .any(|fb| fb.r#type == "nack" && fb.parameter.is_empty())
        })
    };
    codecs
        .iter()
        .filter(|c| c.mime_type.to_ascii_lowercase().ends_with("/rtx"))
        .filter_map(|c| {
            let apt = c.parameters.get("apt")?.as_u64()?;
            Some((u8::try_from(apt).ok()?, c.payload_type))
        })
        .filter(|(media, _)| nackable(*media))
        .collect()
}

/// One packet as sent, enough to send it again.
#[derive(Clone)]
pub struct SentPacket {
    pub seq_no: u64,
    pub payload_type: u8,
    pub marker: bool,
    pub timestamp: u32,
    pub payload: Arc<[u8]>,
    pub ext_vals: ForwardedExtensions,
    /// When it was sent (or, forwarded, when it reached the router).
    pub sent_at: Instant,
    /// When it was last resent.
    pub resent_at: Option<Instant>,
}

/// The sending side of one stream's RTX: its SSRC and numbering, and what
/// was sent lately.
pub struct RtxSender {
    pub ssrc: u32,
    /// Extended: SRTP counts rollovers on the RTX stream too.
    next_seq: u64,
    history: VecDeque<SentPacket>,
    /// The latest round trip the receiver's reports gave.
    rtt: Option<Duration>,
    /// When the next batch of expired packets is due (EVICTION_BATCH);
    /// None while fewer than two are kept.
    next_eviction: Option<Instant>,
}

impl RtxSender {
    pub fn new(ssrc: u32, first_seq: u16) -> Self {
        Self {
            ssrc,
            next_seq: 65_536 + u64::from(first_seq),
            history: VecDeque::new(),
            rtt: None,
            next_eviction: None,
        }
    }

    /// A new round trip from a receiver report: how long packets are kept
    /// and how soon one may be resent follow it.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
        // A shorter keep moves the next batch earlier (once per report).
        if self.next_eviction.is_some() {
            self.schedule_eviction();
        }
    }

    /// How long a sent packet is kept for a NACK once the next one has
    /// gone (see KEEP_MIN).
    pub fn keep(&self) -> Duration {
        self.rtt.map_or(KEEP_MIN, |rtt| {
            rtt.saturating_mul(3)
                .saturating_add(KEEP_MARGIN)
                .clamp(KEEP_MIN, KEEP_MAX)
        })
    }

    /// Asks for the history's next entry (after the newest; a hint, wrong
    /// where the ring wraps and after it grows or shrinks).
    pub fn prefetch_next(&self) {
        if let Some(newest) = self.history.back() {
            prefetch::line(std::ptr::from_ref(newest).wrapping_add(1));
        }
    }

    pub fn remember(&mut self, packet: SentPacket) {
        if self.history.len() >= HISTORY_MAX
            || self.next_eviction.is_some_and(|due| packet.sent_at >= due)
        {
            self.evict(packet.sent_at);
        }
        // After a burst (a keyframe at a high rate), give back what the
        // history no longer needs.
        if self.history.capacity() > 4 * self.history.len().max(64) {
            self.history.shrink_to(2 * self.history.len().max(64));
        }
        self.history.push_back(packet);
        if self.next_eviction.is_none() {
            self.schedule_eviction();
        }
    }

    /// Drops what has expired at `now`: a packet goes once the packet after
    /// it is older than `keep`. Then the next batch is due once the oldest
    /// left has been expired for EVICTION_BATCH.
    fn evict(&mut self, now: Instant) {
        let keep = self.keep();
        while self.history.len() >= HISTORY_MAX
            || self
                .history
                .get(1)
                .is_some_and(|next| now.saturating_duration_since(next.sent_at) > keep)
        {
            self.history.pop_front();
        }
        self.schedule_eviction();
    }

    fn schedule_eviction(&mut self) {
        let keep = self.keep();
        self.next_eviction = self
            .history
            .get(1)
            .map(|next| next.sent_at + keep + EVICTION_BATCH);
    }

    /// Where the packet with this 16-bit number is. Its extended number is
    /// the nearest at or below the newest's; without holes in the numbers
    /// it sits that far from the end, and each hole (a packet the router
    /// dropped) moves it one nearer: so the search starts there and stops
    /// past the number, a step per hole at most. (A number sent out of
    /// order is not found: that one packet goes unanswered.)
    fn position(&self, seq: u16) -> Option<usize> {
        let newest = self.history.back()?.seq_no;
        let back = u64::from((newest as u16).wrapping_sub(seq));
        let target = newest.checked_sub(back)?;
        if target < self.history.front()?.seq_no {
            return None;
        }
        let len = self.history.len();
        let start = usize::try_from(back)
            .ok()
            .and_then(|b| len.checked_sub(1 + b))
            .unwrap_or(0);
        for i in start..len {
            match self.history[i].seq_no {
                n if n == target => return Some(i),
                n if n > target => return None,
                _ => {}
            }
        }
        None
    }

    /// The packet sent with this (16-bit) sequence number, if still kept
    /// and not resent just now, the extended RTX sequence number to resend
    /// it with, and whether this is its first resend (mediasoup's
    /// `packetsRepaired`). `can_send` is asked first (has it an RTX payload
    /// type?): a number is used only for a packet that goes out.
    pub fn resend(
        &mut self,
        seq: u16,
        now: Instant,
        can_send: impl Fn(&SentPacket) -> bool,
    ) -> Option<(&SentPacket, u64, bool)> {
        let keep = self.keep();
        let guard = self
            .rtt
            .map_or(RESEND_GUARD_UNMEASURED, |rtt| rtt.max(RESEND_GUARD_MIN));
        let i = self.position(seq)?;
        // Its loss could be seen more than `keep` ago (the packet after it
        // went out then): an answer now comes too late to be of use. (Kept
        // only because the stream has sent little since.)
        let too_old = self
            .history
            .get(i + 1)
            .is_some_and(|next| now.saturating_duration_since(next.sent_at) > keep);
        let packet = &mut self.history[i];
        if too_old
            || packet
                .resent_at
                .is_some_and(|at| now.saturating_duration_since(at) < guard)
            || !can_send(packet)
        {
            return None;
        }
        let first = packet.resent_at.replace(now).is_none();
        let rtx_seq = self.next_seq;
        self.next_seq += 1;
        Some((packet, rtx_seq, first))
    }
}

/// RFC 4588: the RTX payload is the original sequence number, then the
/// original payload.
pub fn rtx_payload(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + payload.len());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The original sequence number and payload of an RTX payload.
pub fn unwrap_rtx(payload: &[u8]) -> Option<(u16, &[u8])> {
    let (osn, rest) = payload.split_at_checked(2)?;
    Some((u16::from_be_bytes([osn[0], osn[1]]), rest))
}

struct Missing {
    first_asked: Instant,
    last_asked: Instant,
    tries: u8,
}

/// The receiving side of one stream: which packets are missing and when to
/// ask for them.
#[derive(Default)]
pub struct NackTracker {
    highest: Option<u64>,
    missing: BTreeMap<u64, Missing>,
}

impl NackTracker {
    /// A packet arrived (original or unwrapped RTX); returns the sequence
    /// numbers it shows missing, to NACK now.
    pub fn on_packet(&mut self, seq_no: u64, now: Instant) -> Vec<u16> {
        self.missing.remove(&seq_no);
        let Some(highest) = self.highest else {
            self.highest = Some(seq_no);
            return Vec::new();
        };
        if seq_no <= highest {
            return Vec::new();
        }
        self.highest = Some(seq_no);
        if seq_no - highest > MAX_GAP {
            self.missing.clear();
            return Vec::new();
        }
        let lost: Vec<u64> = (highest + 1..seq_no).collect();
        if self.missing.len() + lost.len() > MAX_MISSING {
            self.missing.clear();
            return Vec::new();
        }
        for &s in &lost {
            self.missing.insert(
                s,
                Missing {
                    first_asked: now,
                    last_asked: now,
                    tries: 1,
                },
            );
        }
        lost.into_iter().map(|s| s as u16).collect()
    }

    /// Whether a packet with this number is still awaited (an RTX for one
    /// that is not is a duplicate).
    pub fn awaits(&self, seq_no: u64) -> bool {
        self.missing.contains_key(&seq_no)
    }

    /// The numbers to ask for again now. Asked enough, a number is still
    /// awaited (its answer may be on the way) until NACK_GIVE_UP.
    pub fn due(&mut self, now: Instant) -> Vec<u16> {
        self.missing
            .retain(|_, m| now.saturating_duration_since(m.first_asked) < NACK_GIVE_UP);
        let mut again = Vec::new();
        for (seq, m) in &mut self.missing {
            if m.tries < NACK_TRIES && now.saturating_duration_since(m.last_asked) >= NACK_RETRY {
                m.last_asked = now;
                m.tries += 1;
                again.push(*seq as u16);
            }
        }
        again
    }

    /// When `due` has something to do next: a retry, or giving up.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.missing
            .values()
            .map(|m| {
                if m.tries < NACK_TRIES {
                    m.last_asked + NACK_RETRY
                } else {
                    m.first_asked + NACK_GIVE_UP
                }
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtx_runs_only_for_codecs_with_nack() {
        let codecs: Vec<RtpCodecParameters> = serde_json::from_value(serde_json::json!([
            { "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000,
              "rtcpFeedback": [{ "type": "nack" }, { "type": "nack", "parameter": "pli" }] },
            { "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000, "parameters": { "apt": 101 } },
            { "mimeType": "video/H264", "payloadType": 103, "clockRate": 90000,
              "rtcpFeedback": [{ "type": "nack", "parameter": "pli" }] },
            { "mimeType": "video/rtx", "payloadType": 104, "clockRate": 90000, "parameters": { "apt": 103 } },
        ]))
        .unwrap();
        // H264 lists only PLI: nobody would NACK it, so no RTX for it.
        assert_eq!(rtx_payload_types(&codecs), vec![(101, 102)]);
    }

    #[test]
    fn the_receiver_asks_for_gaps_again_and_waits_for_late_answers() {
        let t0 = Instant::now();
        let mut n = NackTracker::default();
        assert!(n.on_packet(100, t0).is_empty());
        assert_eq!(n.on_packet(104, t0), vec![101, 102, 103]);
        // Late and recovered ones are no longer asked for.
        assert!(n.on_packet(102, t0).is_empty());
        assert!(n.awaits(101) && !n.awaits(102));
        assert!(n.due(t0 + Duration::from_millis(10)).is_empty());
        assert_eq!(n.next_deadline(), Some(t0 + NACK_RETRY));
        assert_eq!(n.due(t0 + NACK_RETRY), vec![101, 103]);
        assert_eq!(n.due(t0 + NACK_RETRY * 2), vec![101, 103]);
        // Asked three times: no more NACKs, but a late answer still counts.
        assert!(n.due(t0 + NACK_RETRY * 3).is_empty());
        assert!(n.awaits(101));
        let deadline = n.next_deadline().unwrap();
        assert_eq!(deadline, t0 + NACK_GIVE_UP);
        // After giving up, nothing is due and nothing awaited: the timer moves on.
        assert!(n.due(deadline).is_empty());
        assert!(!n.awaits(101) && n.next_deadline().is_none());
        // A huge jump is a restart, not 10 000 losses, and forgets the gaps.
        assert_eq!(n.on_packet(110, t0), vec![105, 106, 107, 108, 109]);
        assert!(n.on_packet(10_110, t0).is_empty());
        assert!(!n.awaits(105));
        // More than MAX_MISSING awaited at once: given up.
        let mut m = NackTracker::default();
        m.on_packet(0, t0);
        for k in 1..=3u64 {
            m.on_packet(k * 200, t0);
        }
        assert!(!m.awaits(1) && !m.awaits(401));
    }

    fn sent(seq_no: u64, sent_at: Instant) -> SentPacket {
        SentPacket {
            seq_no,
            payload_type: 96,
            marker: false,
            timestamp: 0,
            payload: Arc::from(&b"x"[..]),
            ext_vals: ForwardedExtensions::default(),
            sent_at,
            resent_at: None,
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rtx_wraps_and_unwraps_and_the_sender_finds_what_it_sent() {
        let payload = rtx_payload(0xbeef, b"media");
        assert_eq!(unwrap_rtx(&payload), Some((0xbeef, &b"media"[..])));
        assert_eq!(unwrap_rtx(&[1]), None);
        let t0 = Instant::now();
        let mut s = RtxSender::new(7, 65_535);
        // 100 packets/s for 3 s, no round trip measured yet: each packet is
        // kept until 1 s after the next one went (dropped in batches of up
        // to 100 ms).
        let mut lengths = Vec::new();
        for k in 0..300u64 {
            s.remember(sent(70_000 + k, t0 + MS * 10 * k as u32));
            if k >= 150 {
                lengths.push(s.history.len());
            }
        }
        assert_eq!(lengths.iter().min(), Some(&102));
        assert_eq!(lengths.iter().max(), Some(&111));
        let now = t0 + MS * 2_990;
        let any = |_: &SentPacket| true;
        assert!(s.resend((70_000 + 197) as u16, now, any).is_none());
        let (packet, rtx_seq, first) = s.resend((70_000 + 299) as u16, now, any).unwrap();
        assert!(first);
        assert_eq!(packet.seq_no, 70_299);
        assert_eq!(rtx_seq, 65_536 + 65_535);
        // Not again within the guard (50 ms until a round trip is known);
        // a packet that cannot go uses no number.
        assert!(
            s.resend((70_000 + 299) as u16, now + MS * 49, any)
                .is_none()
        );
        assert!(s.resend((70_000 + 298) as u16, now, |_| false).is_none());
        assert_eq!(
            s.resend((70_000 + 298) as u16, now, any).unwrap().1,
            65_536 + 65_536
        );
        assert!(
            s.resend((70_000 + 299) as u16, now + MS * 50, any)
                .is_some()
        );
        // Numbers with a hole (a packet the router dropped) are still found.
        let mut h = RtxSender::new(9, 0);
        for seq in [10, 11, 13, 14] {
            h.remember(sent(seq, t0));
        }
        assert_eq!(h.resend(11, t0, any).unwrap().0.seq_no, 11);
        assert_eq!(h.resend(14, t0, any).unwrap().0.seq_no, 14);
        assert!(h.resend(12, t0, any).is_none());
        // Across the 16-bit wrap: 65,500 to 65,700, the 16-bit numbers
        // 65,500..65,535 then 0..164.
        let mut w = RtxSender::new(10, 0);
        for seq in 65_500..=65_700u64 {
            w.remember(sent(seq, t0));
        }
        assert_eq!(w.resend(65_530, t0, any).unwrap().0.seq_no, 65_530);
        assert_eq!(w.resend(3, t0, any).unwrap().0.seq_no, 65_539);
        assert_eq!(w.resend(164, t0, any).unwrap().0.seq_no, 65_700);
        // Older than the oldest kept, or not sent yet: not found.
        assert!(w.resend(65_499, t0, any).is_none());
        assert!(w.resend(165, t0, any).is_none());
        // A first resend is told apart from a later one.
        assert!(w.resend(100, t0, any).unwrap().2);
        assert!(!w.resend(100, t0 + MS * 50, any).unwrap().2);
    }

    #[test]
    fn the_sender_keeps_packets_for_three_round_trips_within_one_and_two_seconds() {
        let mut s = RtxSender::new(7, 0);
        assert_eq!(s.keep(), KEEP_MIN);
        for (rtt_ms, keep_ms) in [
            (0, 1_000),
            (20, 1_000),
            (300, 1_050),
            (600, 1_950),
            (2_000, 2_000),
        ] {
            s.set_rtt(MS * rtt_ms);
            assert_eq!(s.keep(), MS * keep_ms, "rtt {rtt_ms} ms");
        }
        // 300 ms of round trip: 1,050 ms kept at 100 packets/s.
        let t0 = Instant::now();
        s.set_rtt(MS * 300);
        for k in 0..300u64 {
            s.remember(sent(k, t0 + MS * 10 * k as u32));
        }
        assert!(
            (107..=116).contains(&s.history.len()),
            "{}",
            s.history.len()
        );
        let now = t0 + MS * 2_990;
        let any = |_: &SentPacket| true;
        assert!(s.resend(192, now, any).is_none());
        assert!(s.resend(193, now, any).is_some());
        // Resent again once a round trip has passed, not before.
        assert!(s.resend(290, now, any).is_some());
        assert!(s.resend(290, now + MS * 299, any).is_none());
        assert!(s.resend(290, now + MS * 300, any).is_some());
        // A stream that stops sending keeps its last packets, but one whose
        // loss could be seen longer ago than that is not resent; the last
        // one, whose loss no later packet shows, still is.
        assert!(s.resend(280, t0 + MS * (2_810 + 1_051), any).is_none());
        assert!(s.resend(299, t0 + MS * 60_000, any).is_some());
        // A shorter round trip shortens the history at the next packet.
        let mut shrinking = RtxSender::new(9, 0);
        shrinking.set_rtt(MS * 600);
        for k in 0..300u64 {
            shrinking.remember(sent(k, t0 + MS * 10 * k as u32));
        }
        assert!(shrinking.history.len() > 190);
        shrinking.set_rtt(MS * 20);
        let next = shrinking.history[1].sent_at;
        assert_eq!(
            shrinking.next_eviction,
            Some(next + KEEP_MIN + EVICTION_BATCH)
        );
        shrinking.remember(sent(300, t0 + MS * 3_000));
        assert_eq!(shrinking.history.len(), 102);
        // Whatever the rate, at most HISTORY_MAX packets.
        let mut fast = RtxSender::new(8, 0);
        for k in 0..3_000u64 {
            fast.remember(sent(k, t0));
        }
        assert_eq!(fast.history.len(), HISTORY_MAX);
        // Slow again: what the burst grew is given back.
        for k in 0..200u64 {
            fast.remember(sent(3_000 + k, t0 + MS * 10 * (k as u32 + 1)));
        }
        assert!(fast.history.capacity() <= 4 * fast.history.len().max(64));
    }
}
