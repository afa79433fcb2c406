//! A WebRTC transport's consumers' RTP, sent by the transport itself rather
//! than through str0m, once the DTLS handshake has given the SRTP keys (see
//! `srtp_keys`): written by [`RtpSenders`](crate::transport::rtp_senders)
//! as a plain transport's are, plus the mid, abs-send-time and
//! transport-wide sequence number a browser expects, encrypted with our own
//! SRTP and sent on the ICE-selected pair. The peer's RTCP about these
//! streams (receiver reports, NACK, PLI/FIR, transport feedback) is read
//! from a decrypted copy of what arrives; str0m still gets every packet for
//! what it runs (ICE, DTLS, SCTP, the producers' streams and their RTCP).

use std::time::{Duration, Instant};

use crate::rtp::srtp::{SrtpReceiver, SrtpSender};
use crate::rtp::transport_cc::TransportCcSender;
use crate::rtp::wire::SendExtensions;

use super::srtp_keys::SrtpKeys;

/// How often each consumer stream's sender report goes out, and the
/// bandwidth estimate is reported.
pub const RTCP_INTERVAL: Duration = Duration::from_secs(1);

pub struct Egress {
    pub tx: SrtpSender,
    rx: SrtpReceiver,
    /// An incoming RTCP packet being decrypted (kept: one allocation).
    scratch: Vec<u8>,
    pub cc: CongestionControl,
    pub next_rtcp: Instant,
    /// SRTCP the peer sent that did not authenticate with its key.
    pub rtcp_dropped: u64,
}

/// What each packet carries for the peer's congestion feedback (its send
/// time, its transport-wide sequence number), and the estimate made from
/// that feedback.
pub struct CongestionControl {
    pub estimator: TransportCcSender,
    /// abs-send-time counts from here (only its differences matter).
    epoch: Instant,
}

impl CongestionControl {
    /// The per-packet extensions of a packet of `size` bytes sent now: the
    /// send time, and, if the consumer writes one (`transport_cc`), a new
    /// transport-wide sequence number recorded for the feedback. (Taken
    /// before SRTP protects the packet: one SRTP refuses, which happens only
    /// when a stream's numbering restarts, leaves a number the feedback
    /// reports lost.)
    pub fn extensions(
        &mut self,
        now: Instant,
        size: usize,
        transport_cc: bool,
    ) -> SendExtensions<'static> {
        // 6.18 fixed point seconds, 24 bits: wraps every 64 s by design.
        let since = now.saturating_duration_since(self.epoch);
        let fraction = (u64::from(since.subsec_nanos()) << 18) / 1_000_000_000;
        let abs = ((since.as_secs() << 18) | fraction) as u32 & 0x00ff_ffff;
        SendExtensions {
            mid: None,
            abs_send_time: Some(abs),
            transport_cc: transport_cc.then(|| self.estimator.on_send(now, size)),
        }
    }
}

impl Egress {
    pub fn new(keys: &SrtpKeys, initial_bitrate: u64, now: Instant) -> Self {
        Self {
            tx: SrtpSender::new(keys.suite, &keys.local),
            rx: SrtpReceiver::new(keys.suite, &keys.remote),
            scratch: Vec::new(),
            cc: CongestionControl {
                estimator: TransportCcSender::new(initial_bitrate, now),
                epoch: now,
            },
            next_rtcp: now + RTCP_INTERVAL,
            rtcp_dropped: 0,
        }
    }

    /// The plaintext of an SRTCP packet from the peer, or None if it does
    /// not authenticate (then it is str0m's to judge and drop).
    pub fn decrypt_rtcp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(packet);
        match self.rx.unprotect_rtcp(&mut buf) {
            Ok(()) => Some(buf),
            Err(_) => {
                self.rtcp_dropped += 1;
                self.scratch = buf;
                None
            }
        }
    }

    /// Gives back the buffer [`Self::decrypt_rtcp`] returned.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.scratch = buf;
    }
}
