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
use crate::rtp::wire::ForwardedExtensions;

/// Packets a sending stream keeps for retransmission: about 2.5 s of video
/// at 100 packets/s, mediasoup's order of magnitude.
const HISTORY: usize = 256;
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
/// A sender does not resend a packet again sooner than this (a NACK storm,
/// or numbers repeated within one NACK).
const RESEND_GUARD: Duration = Duration::from_millis(40);

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
}

impl RtxSender {
    pub fn new(ssrc: u32, first_seq: u16) -> Self {
        Self {
            ssrc,
            next_seq: 65_536 + u64::from(first_seq),
            history: VecDeque::with_capacity(HISTORY),
        }
    }

    pub fn remember(&mut self, packet: SentPacket) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(packet);
    }

    /// The packet sent with this (16-bit) sequence number, if still kept
    /// and not resent just now, and the extended RTX sequence number to
    /// resend it with. `can_send` is asked first (has it an RTX payload
    /// type?): a number is used only for a packet that goes out.
    pub fn resend(
        &mut self,
        seq: u16,
        now: Instant,
        can_send: impl Fn(&SentPacket) -> bool,
    ) -> Option<(&SentPacket, u64)> {
        let packet = self
            .history
            .iter_mut()
            .rev()
            .find(|p| p.seq_no as u16 == seq)?;
        if packet
            .resent_at
            .is_some_and(|at| now.saturating_duration_since(at) < RESEND_GUARD)
            || !can_send(packet)
        {
            return None;
        }
        packet.resent_at = Some(now);
        let rtx_seq = self.next_seq;
        self.next_seq += 1;
        Some((packet, rtx_seq))
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

    #[test]
    fn rtx_wraps_and_unwraps_and_the_sender_finds_what_it_sent() {
        let payload = rtx_payload(0xbeef, b"media");
        assert_eq!(unwrap_rtx(&payload), Some((0xbeef, &b"media"[..])));
        assert_eq!(unwrap_rtx(&[1]), None);
        let mut s = RtxSender::new(7, 65_535);
        for seq in 0..300u64 {
            s.remember(SentPacket {
                seq_no: 70_000 + seq,
                payload_type: 96,
                marker: false,
                timestamp: 0,
                payload: Arc::from(&b"x"[..]),
                ext_vals: ForwardedExtensions::default(),
                resent_at: None,
            });
        }
        let t0 = Instant::now();
        let any = |_: &SentPacket| true;
        // The oldest 44 are gone (256 kept).
        assert!(s.resend((70_000 + 10) as u16, t0, any).is_none());
        let (packet, rtx_seq) = s.resend((70_000 + 299) as u16, t0, any).unwrap();
        assert_eq!(packet.seq_no, 70_299);
        assert_eq!(rtx_seq, 65_536 + 65_535);
        // Not again right away; a packet that cannot go uses no number.
        assert!(s.resend((70_000 + 299) as u16, t0, any).is_none());
        assert!(s.resend((70_000 + 298) as u16, t0, |_| false).is_none());
        assert_eq!(
            s.resend((70_000 + 298) as u16, t0, any).unwrap().1,
            65_536 + 65_536
        );
        assert!(
            s.resend((70_000 + 299) as u16, t0 + RESEND_GUARD, any)
                .is_some()
        );
    }
}
