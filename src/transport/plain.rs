//! `PlainTransport`: RTP and RTCP over UDP, no ICE or DTLS, for tools such
//! as FFmpeg and GStreamer (recording, ingest) and for piping media between
//! routers; SRTP when keyed by signalling (mediasoup's `srtpParameters`).
//!
//! Sans-IO like the WebRTC transport: datagrams in, datagrams and events
//! out. What it does on the wire is deliberately small: producers' packets
//! are parsed and handed to the router as they are; consumers' packets go
//! out with a plain header (of the extensions, the audio level and video
//! orientation only), an RTCP sender report per stream every second, and
//! PLI/FIR/receiver reports from the peer are honoured. Where parameters
//! give a codec NACK and RTX, NACKs are answered with RTX and producers'
//! gaps NACKed; no bandwidth estimation runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Transmit};

use super::rtp_senders::{RtcpAction, RtpSenders};
use super::webrtc::{
    ConsumerStats, ForwardedRtp, Id, ProducerStats, SenderReport, TransportEvent, TransportOutput,
    TransportStats, TransportTuple,
};
use crate::error::{CoreError, CoreResult};
use crate::id_map::SlotKey;
use crate::ortc::types::{MediaKind, RtpParameters};
use crate::router::ReceivedRtp;
use crate::rtp::reception::Reception;
use crate::rtp::retransmission::{NackTracker, rtx_payload_types, unwrap_rtx};
use crate::rtp::srtp::{CryptoSuite, SrtpReceiver, SrtpSender};
use crate::rtp::wire::{self, ExtensionIds, RtcpItem, SendExtensions};

/// How often each consumer stream's sender report goes out.
const RTCP_INTERVAL: Duration = Duration::from_secs(1);
/// The SSRC our own RTCP (PLIs to producers) is sent from.
const LOCAL_RTCP_SSRC: u32 = 0x6f63_6c6c;
/// Its CNAME. Each transport is an RTP session of its own and this source
/// sends no media, so the name only has to be there (RFC 3550 §6.1).
const LOCAL_CNAME: &str = "opencall";

#[derive(Debug, Clone)]
pub struct PlainTransportOptions {
    /// The RTP socket's (announced) address.
    pub rtp: SocketAddr,
    /// The RTCP socket's, when RTCP is not muxed.
    pub rtcp: Option<SocketAddr>,
    pub comedia: bool,
    /// A PipeTransport: its consumers are pipe consumers.
    pub pipe: bool,
    /// SRTP in this suite: our master key + salt is generated here.
    pub srtp: Option<CryptoSuite>,
    /// The RTP side of a DirectTransport: no socket, the peer is Node
    /// (`producer.send()` and `sendRtcp()` in, consumer `rtp` events and the
    /// transport's `rtcp` events out).
    pub direct: bool,
    /// A PipeTransport with `enableRtx`: its consumers keep RTX and NACK in
    /// their parameters (and so the producers made from them on the far
    /// router).
    pub rtx: bool,
}

/// A crypto suite and a master key + salt of its length.
#[derive(Clone)]
pub struct SrtpKey {
    pub suite: CryptoSuite,
    pub master: Vec<u8>,
}

impl std::fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself, in logs or dumps.
        f.debug_struct("SrtpKey")
            .field("suite", &self.suite)
            .finish()
    }
}

impl SrtpKey {
    /// A fresh random master key + salt for the suite.
    pub fn generate(suite: CryptoSuite) -> Self {
        let mut master = vec![0u8; suite.master_len()];
        aws_lc_rs::rand::fill(&mut master).expect("system randomness");
        Self { suite, master }
    }
}

/// Both directions' SRTP: ours from creation, the peer's from `connect()`.
struct Srtp {
    /// Ours, as `srtpParameters` tells the peer.
    local: SrtpKey,
    tx: SrtpSender,
    rx: Option<SrtpReceiver>,
    /// A packet being decrypted (kept to avoid an allocation per packet).
    scratch: Vec<u8>,
}

impl Srtp {
    fn new(local: SrtpKey) -> Self {
        Self {
            tx: SrtpSender::new(local.suite, &local.master),
            local,
            rx: None,
            scratch: Vec::new(),
        }
    }
}

struct PlainProducer {
    id: Id,
    /// Encoding → its SSRC (signalled, or learned from the first packet).
    ssrcs: Vec<Option<u32>>,
    rids: Vec<Option<String>>,
    extension_ids: ExtensionIds,
    stats: Vec<ProducerStats>,
    /// Per encoding, the last extended sequence number seen.
    last_seq: Vec<Option<u64>>,
    /// Per encoding, its RTX SSRC (signalled) and its gaps, with RTX on.
    rtx_ssrcs: Vec<Option<u32>>,
    nacks: Vec<NackTracker>,
    /// Per encoding, what our receiver reports tell the sender.
    receptions: Vec<Reception>,
    /// (media PT, RTX PT) of its codecs.
    rtx_payload_types: Vec<(u8, u8)>,
}

impl PlainProducer {
    /// Whether any of its encodings has RTX (and so gaps to NACK).
    fn nacks(&self) -> bool {
        self.rtx_ssrcs.iter().any(Option::is_some)
    }
}

pub struct PlainTransport {
    opts: PlainTransportOptions,
    remote_rtp: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    connected: bool,
    dead: bool,
    producers: Vec<PlainProducer>,
    rx_ssrcs: HashMap<u32, (usize, usize)>,
    consumers: RtpSenders,
    /// Keyframe requests made before a comedia peer was known.
    pending_keyframes: Vec<(Id, Option<usize>)>,
    next_rtcp: Instant,
    stats: TransportStats,
    srtp: Option<Srtp>,
    /// Producers with RTX, whose gaps are NACKed: without any, the timer
    /// need not look at their trackers.
    nacking_producers: usize,
}

fn tuple(local: SocketAddr, remote: Option<SocketAddr>) -> TransportTuple {
    TransportTuple {
        local_ip: local.ip().to_string(),
        local_address: local.ip().to_string(),
        local_port: local.port(),
        remote_ip: remote.map(|r| r.ip().to_string()).unwrap_or_default(),
        remote_port: remote.map(|r| r.port()).unwrap_or(0),
        protocol: "udp".to_owned(),
    }
}

/// Extends a 16-bit sequence number next to the last extended one.
/// A packet this far behind the highest seen is not late: its source
/// restarted its numbering (RFC 3550 A.1 allows 100 misordered; a NACKed
/// packet comes back within about a second, a few hundred at most).
const RESTART_BEHIND: u64 = 1_000;

/// The first extended number above `last` whose low 16 bits are `seq`.
fn following(last: u64, seq: u16) -> u64 {
    let next = last + 1;
    next + u64::from(seq.wrapping_sub(next as u16))
}

fn extend_seq(last: Option<u64>, seq: u16) -> u64 {
    let Some(last) = last else {
        // Start a cycle up, so that reordered packets just before the first
        // one still have somewhere to go.
        return 65_536 + u64::from(seq);
    };
    let delta = seq.wrapping_sub(last as u16) as i16;
    last.saturating_add_signed(i64::from(delta))
}

impl PlainTransport {
    pub fn new(opts: PlainTransportOptions, now: Instant) -> Self {
        Self {
            remote_rtp: None,
            remote_rtcp: None,
            connected: false,
            dead: false,
            producers: Vec::new(),
            rx_ssrcs: HashMap::new(),
            consumers: RtpSenders::default(),
            pending_keyframes: Vec::new(),
            next_rtcp: now + RTCP_INTERVAL,
            stats: TransportStats::default(),
            srtp: opts.srtp.map(|suite| Srtp::new(SrtpKey::generate(suite))),
            nacking_producers: 0,
            opts,
        }
    }

    /// A DirectTransport's RTP side: no socket, Node at the far end.
    pub fn direct(now: Instant) -> Self {
        Self::new(
            PlainTransportOptions {
                rtp: SocketAddr::from(([0, 0, 0, 0], 0)),
                rtcp: None,
                comedia: false,
                pipe: false,
                srtp: None,
                direct: true,
                rtx: false,
            },
            now,
        )
    }

    /// Our SRTP suite and key (mediasoup's `srtpParameters`), if SRTP is on.
    pub fn srtp_parameters(&self) -> Option<&SrtpKey> {
        self.srtp.as_ref().map(|s| &s.local)
    }

    pub fn rtcp_mux(&self) -> bool {
        self.opts.rtcp.is_none()
    }

    pub fn comedia(&self) -> bool {
        self.opts.comedia
    }

    pub fn is_pipe(&self) -> bool {
        self.opts.pipe
    }

    /// mediasoup's `tuple`: the RTP socket and, once known, the peer.
    pub fn tuple(&self) -> TransportTuple {
        tuple(self.opts.rtp, self.remote_rtp)
    }

    /// mediasoup's `rtcpTuple` (only without RTCP mux).
    pub fn rtcp_tuple(&self) -> Option<TransportTuple> {
        self.opts.rtcp.map(|local| tuple(local, self.remote_rtcp))
    }

    pub fn has_peer(&self) -> bool {
        self.opts.direct || self.remote_rtp.is_some()
    }

    pub fn is_alive(&self) -> bool {
        !self.dead
    }

    /// `plainTransport.connect({ ip, port, rtcpPort, srtpParameters })`;
    /// `remote_srtp`: the peer's suite and key (what it encrypts with).
    pub fn connect(
        &mut self,
        remote: Option<SocketAddr>,
        rtcp_port: Option<u16>,
        remote_srtp: Option<SrtpKey>,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        if self.dead {
            return Err(CoreError::invalid_state("transport closed"));
        }
        if self.connected {
            return Err(CoreError::invalid_state("connect() already called"));
        }
        // Everything is checked before anything changes: a failed connect()
        // leaves the transport (and its key) as it was.
        let rekeyed = match (&self.srtp, remote_srtp) {
            (Some(srtp), Some(remote)) => {
                if self.opts.pipe && remote.suite != srtp.local.suite {
                    return Err(CoreError::type_error(
                        "invalid/unsupported srtpParameters.cryptoSuite",
                    ));
                }
                // Both sides use the peer's suite; ours is re-keyed for it
                // (mediasoup does the same: read srtpParameters again).
                let local = if remote.suite == srtp.local.suite {
                    None
                } else {
                    Some(SrtpKey::generate(remote.suite))
                };
                Some((local, SrtpReceiver::new(remote.suite, &remote.master)))
            }
            (Some(_), None) => {
                return Err(CoreError::type_error(
                    "missing srtpParameters (SRTP enabled)",
                ));
            }
            (None, Some(_)) => {
                return Err(CoreError::type_error(
                    "invalid srtpParameters (SRTP not enabled)",
                ));
            }
            (None, None) => None,
        };
        let peer = if self.opts.comedia {
            None
        } else {
            let remote = remote.ok_or_else(|| CoreError::type_error("missing ip or port"))?;
            let rtcp = match self.opts.rtcp {
                Some(_) => Some(SocketAddr::new(
                    remote.ip(),
                    rtcp_port.ok_or_else(|| {
                        CoreError::type_error("missing rtcpPort (required with rtcpMux disabled)")
                    })?,
                )),
                None => None,
            };
            Some((remote, rtcp))
        };
        if let (Some(srtp), Some((local, rx))) = (self.srtp.as_mut(), rekeyed) {
            if let Some(local) = local {
                *srtp = Srtp::new(local);
                // The consumers' streams start again under the new key.
                self.consumers.reset_srtp();
            }
            srtp.rx = Some(rx);
        }
        if let Some((remote, rtcp)) = peer {
            self.remote_rtp = Some(remote);
            self.remote_rtcp = rtcp;
            // Held keyframe requests go out now, under the final keys.
            self.on_peer_known(out);
        }
        self.connected = true;
        Ok(())
    }

    /// The peer is known: consumers can start (the worker asks their
    /// producers for keyframes on `Connected`), and keyframe requests
    /// held for it go out.
    fn on_peer_known(&mut self, out: &mut TransportOutput) {
        out.events.push(TransportEvent::Connected);
        for (producer_id, encoding) in std::mem::take(&mut self.pending_keyframes) {
            self.request_keyframe(&producer_id, encoding, out);
        }
    }

    pub fn close(&mut self) {
        self.dead = true;
    }

    pub fn poll_timeout(&self) -> Instant {
        if self.nacking_producers == 0 {
            return self.next_rtcp;
        }
        let nacks = self
            .producers
            .iter()
            .flat_map(|p| p.nacks.iter().filter_map(NackTracker::next_deadline));
        nacks.fold(self.next_rtcp, Instant::min)
    }

    /// A pipe with `enableRtx` (its consumers keep RTX in their parameters).
    pub fn rtx_enabled(&self) -> bool {
        self.opts.rtx
    }

    /// Whether a new consumer keeps RTX and NACK: a pipe's follow its
    /// `enableRtx`; the others follow the consumer's own `enableRtx`, as
    /// mediasoup's.
    pub fn consumer_rtx(&self, enable_rtx: bool) -> bool {
        if self.opts.pipe {
            self.opts.rtx
        } else {
            enable_rtx
        }
    }

    pub fn stats(&self) -> TransportStats {
        self.stats.clone()
    }

    // -- network ------------------------------------------------------------

    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        local: SocketAddr,
        buf: &[u8],
        out: &mut TransportOutput,
    ) {
        if self.dead {
            return;
        }
        self.stats.bytes_received += buf.len() as u64;
        let on_rtcp_socket = self.opts.rtcp == Some(local);
        let rtcp = on_rtcp_socket || wire::is_rtcp(buf);
        let known = if on_rtcp_socket {
            self.remote_rtcp
        } else {
            self.remote_rtp
        };
        let Some(srtp) = self.srtp.as_mut() else {
            self.on_datagram(now, source, on_rtcp_socket, rtcp, buf, out);
            return;
        };
        if known.is_some_and(|peer| peer != source) {
            // Not the peer's: dropped before costing a decryption, or
            // moving the replay state a copy of a real packet would move.
            self.stats.malformed_packets_dropped += 1;
            return;
        }
        // Decrypted before anything else: comedia must learn its peer from
        // a packet that authenticates, not from a stray or forged one.
        let mut plain = std::mem::take(&mut srtp.scratch);
        plain.clear();
        plain.extend_from_slice(buf);
        let opened = match srtp.rx.as_mut() {
            // Nothing is accepted before the peer's key is known.
            None => false,
            Some(rx) if rtcp => rx.unprotect_rtcp(&mut plain).is_ok(),
            Some(rx) => rx.unprotect_rtp(&mut plain).is_ok(),
        };
        // SRTP stays in place meanwhile: handling the packet may send some
        // (keyframe requests held for a comedia peer), encrypted.
        if opened {
            self.on_datagram(now, source, on_rtcp_socket, rtcp, &plain, out);
        } else {
            self.stats.malformed_packets_dropped += 1;
        }
        if let Some(srtp) = self.srtp.as_mut() {
            srtp.scratch = plain;
        }
    }

    /// A plain (or decrypted) datagram.
    fn on_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        on_rtcp_socket: bool,
        rtcp: bool,
        buf: &[u8],
        out: &mut TransportOutput,
    ) {
        // Checked before its source is considered: comedia must learn its
        // peer from real RTP or RTCP, not from a stray datagram.
        let valid = if rtcp {
            wire::is_rtcp(buf)
        } else {
            wire::parse_rtp(buf).is_some()
        };
        if !valid || !self.accept_source(source, on_rtcp_socket, out) {
            self.stats.malformed_packets_dropped += 1;
            return;
        }
        if rtcp {
            self.on_rtcp(now, buf, out);
        } else {
            self.on_rtp(now, buf, out);
        }
    }

    /// Whether a datagram from `source` is the peer's. With comedia, the
    /// first packet names the peer (mediasoup's `tuple` / `rtcptuple` events).
    fn accept_source(
        &mut self,
        source: SocketAddr,
        rtcp_socket: bool,
        out: &mut TransportOutput,
    ) -> bool {
        let slot = if rtcp_socket {
            &mut self.remote_rtcp
        } else {
            &mut self.remote_rtp
        };
        match slot {
            Some(known) => *known == source,
            None if self.opts.comedia => {
                *slot = Some(source);
                let event = if rtcp_socket {
                    TransportEvent::RtcpTupleLearned(self.rtcp_tuple().expect("has an RTCP socket"))
                } else {
                    TransportEvent::TupleLearned(self.tuple())
                };
                out.events.push(event);
                self.on_peer_known(out);
                true
            }
            None => false,
        }
    }

    fn on_rtp(&mut self, now: Instant, buf: &[u8], out: &mut TransportOutput) {
        let Some(rtp) = wire::parse_rtp(buf) else {
            self.stats.malformed_packets_dropped += 1;
            return;
        };
        // RTX (pipes with enableRtx): the original number and payload inside.
        let rtx = if self.rx_ssrcs.contains_key(&rtp.ssrc) {
            None
        } else {
            self.rtx_stream(rtp.ssrc)
        };
        let (idx, enc, seq, payload_type, payload) = match rtx {
            Some((idx, enc)) => {
                let p = &self.producers[idx];
                let media_pt = p
                    .rtx_payload_types
                    .iter()
                    .find(|(_, r)| *r == rtp.payload_type)
                    .map(|(m, _)| *m);
                let (Some(media_pt), Some((osn, inner))) = (media_pt, unwrap_rtx(rtp.payload))
                else {
                    self.stats.malformed_packets_dropped += 1;
                    return;
                };
                // Counted as it arrives, duplicates too (they were sent).
                self.stats.rtx_bytes_received += buf.len() as u64;
                (idx, enc, osn, media_pt, inner)
            }
            None => {
                let Some((idx, enc)) = self.locate(&rtp) else {
                    return;
                };
                (idx, enc, rtp.sequence_number, rtp.payload_type, rtp.payload)
            }
        };
        let p = &mut self.producers[idx];
        let mut seq_no = extend_seq(p.last_seq[enc], seq);
        if let Some(last) = p.last_seq[enc]
            && rtx.is_none()
            && seq_no + RESTART_BEHIND < last
        {
            // A source that restarted its numbering (or jumped ahead by half
            // the number space): numbered on from the highest, its gaps
            // forgotten, rather than dropped or NACKed as very late.
            seq_no = following(last, seq);
            p.nacks[enc] = NackTracker::default();
            p.receptions[enc].restart(seq_no);
        }
        let behind = p.last_seq[enc].is_some_and(|last| seq_no <= last);
        // With RTX on, gaps are known: a resent packet, or an old original,
        // that is not awaited is a duplicate (its copy went through).
        let recovering = rtx.is_some() || (p.rtx_ssrcs[enc].is_some() && behind);
        if rtx.is_some() {
            p.stats[enc].retransmitted += 1;
        }
        if recovering && !p.nacks[enc].awaits(seq_no) {
            return;
        }
        if rtx.is_some() {
            p.stats[enc].repaired += 1;
        }
        if p.last_seq[enc].is_none_or(|last| seq_no > last) {
            p.last_seq[enc] = Some(seq_no);
        }
        let lost = if p.rtx_ssrcs[enc].is_some() {
            p.nacks[enc].on_packet(seq_no, now)
        } else {
            Vec::new()
        };
        let media_ssrc = p.ssrcs[enc].unwrap_or(rtp.ssrc);
        p.receptions[enc].on_packet(seq_no, rtp.timestamp, now, rtx.is_some());
        let s = &mut p.stats[enc];
        s.packets += 1;
        s.bytes += buf.len() as u64;
        if rtx.is_none() {
            self.stats.rtp_packets_received += 1;
            self.stats.rtp_bytes_received += buf.len() as u64;
        }
        let packet = ReceivedRtp {
            ssrc: media_ssrc,
            seq_no,
            timestamp: rtp.timestamp,
            payload_type,
            marker: rtp.marker,
            payload: Arc::from(payload),
            ext_vals: rtp.extension_values(&p.extension_ids),
            arrival: now,
        };
        out.events.push(TransportEvent::ProducerPacket {
            producer_id: p.id.clone(),
            encoding: enc,
            packet,
        });
        if !lost.is_empty() {
            self.send_nack(idx, enc, &lost, out);
        }
    }

    /// The producer encoding whose RTX stream this SSRC is.
    fn rtx_stream(&self, ssrc: u32) -> Option<(usize, usize)> {
        self.producers.iter().enumerate().find_map(|(i, p)| {
            p.rtx_ssrcs
                .iter()
                .position(|r| *r == Some(ssrc))
                .map(|e| (i, e))
        })
    }

    /// A NACK to the peer for `lost` of a producer encoding.
    fn send_nack(&mut self, idx: usize, enc: usize, lost: &[u16], out: &mut TransportOutput) {
        let Some(ssrc) = self.producers[idx].ssrcs[enc] else {
            return;
        };
        // Chunks keep each NACK well inside one datagram.
        for chunk in lost.chunks(128) {
            let mut buf = Vec::new();
            wire::write_nack(&mut buf, LOCAL_RTCP_SSRC, ssrc, chunk);
            if self.send_rtcp(buf, out) {
                let p = &mut self.producers[idx];
                p.stats[enc].nacks += 1;
                p.stats[enc].nack_packets += chunk.len() as u64;
                out.events.push(TransportEvent::ProducerNack {
                    producer_id: p.id.clone(),
                    count: 1,
                });
            }
        }
    }

    /// NACKs asked again for packets still missing.
    fn send_due_nacks(&mut self, now: Instant, out: &mut TransportOutput) {
        for idx in 0..self.producers.len() {
            for enc in 0..self.producers[idx].nacks.len() {
                let again = self.producers[idx].nacks[enc].due(now);
                if !again.is_empty() {
                    self.send_nack(idx, enc, &again, out);
                }
            }
        }
    }

    /// The producer encoding a packet belongs to: by SSRC, then by RID, then
    /// the one encoding that names neither (its SSRC is learned).
    fn locate(&mut self, rtp: &wire::RtpView<'_>) -> Option<(usize, usize)> {
        if let Some(found) = self.rx_ssrcs.get(&rtp.ssrc) {
            return Some(*found);
        }
        let mut found = None;
        for (i, p) in self.producers.iter().enumerate() {
            if let Some(enc) = p.ssrcs.iter().position(|s| *s == Some(rtp.ssrc)) {
                found = Some((i, enc));
                break;
            }
            let rid = rtp.extension_values(&p.extension_ids).rid;
            if let Some(rid) = rid
                && let Some(enc) = p.rids.iter().position(|r| r.as_deref() == Some(&*rid))
            {
                found = Some((i, enc));
                break;
            }
        }
        if found.is_none() {
            let mut open = self.producers.iter().enumerate().flat_map(|(i, p)| {
                (0..p.ssrcs.len())
                    .filter(move |e| p.ssrcs[*e].is_none() && p.rids[*e].is_none())
                    .map(move |e| (i, e))
            });
            if let (Some(only), None) = (open.next(), open.next()) {
                found = Some(only);
            }
        }
        let (i, enc) = found?;
        self.producers[i].ssrcs[enc].get_or_insert(rtp.ssrc);
        self.producers[i].stats[enc].ssrc = Some(rtp.ssrc);
        self.rx_ssrcs.insert(rtp.ssrc, (i, enc));
        Some((i, enc))
    }

    fn on_rtcp(&mut self, now: Instant, buf: &[u8], out: &mut TransportOutput) {
        let mut items = Vec::new();
        wire::parse_rtcp(buf, |item| items.push(item));
        for item in items {
            match item {
                RtcpItem::SenderReport(sr) => {
                    let Some(&(idx, enc)) = self.rx_ssrcs.get(&sr.ssrc) else {
                        continue;
                    };
                    self.producers[idx].receptions[enc].on_sender_report(
                        sr.ntp_sec,
                        sr.ntp_frac,
                        now,
                    );
                    out.events.push(TransportEvent::ProducerSenderReport {
                        producer_id: self.producers[idx].id.clone(),
                        report: SenderReport {
                            ssrc: sr.ssrc,
                            ntp_sec: sr.ntp_sec,
                            ntp_frac: sr.ntp_frac,
                            rtp_ts: sr.rtp_ts,
                            packet_count: sr.packet_count,
                            octet_count: sr.octet_count,
                        },
                    });
                }
                item => {
                    if let RtcpAction::Nack { ssrc, pid, blp } =
                        self.consumers.on_rtcp(now, &item, &mut out.events)
                        && self.has_peer()
                    {
                        self.answer_nack(now, (ssrc, pid, blp), out);
                    }
                }
            }
        }
    }

    /// Resends as RTX what a NACK entry asks for, if the stream keeps it.
    fn answer_nack(&mut self, now: Instant, nack: (u32, u16, u16), out: &mut TransportOutput) {
        let mut resends = Vec::new();
        self.consumers.resend(
            now,
            nack,
            |_| SendExtensions::default(),
            |consumer, buf, rtx_seq| resends.push((consumer, buf, rtx_seq)),
        );
        for (consumer, mut buf, rtx_seq) in resends {
            if let Some(srtp) = self.srtp.as_mut()
                && !srtp.tx.protect_rtp(&mut buf, rtx_seq)
            {
                continue;
            }
            // Counted apart from the media, as mediasoup counts them.
            self.stats.rtx_bytes_sent += buf.len() as u64;
            self.send_rtp(consumer, buf, out);
        }
    }

    /// One RTP packet of a consumer to the peer: over UDP, or to Node as the
    /// consumer's `rtp` event on a DirectTransport. Dropped while the peer
    /// is not known.
    fn send_rtp(&mut self, consumer: SlotKey, buf: Vec<u8>, out: &mut TransportOutput) {
        if self.opts.direct {
            let Some(consumer_id) = self.consumers.id_at(consumer).cloned() else {
                return out.recycle(buf);
            };
            self.stats.bytes_sent += buf.len() as u64;
            out.events.push(TransportEvent::DirectRtp {
                consumer_id,
                packet: buf,
            });
        } else if let Some(destination) = self.remote_rtp {
            self.transmit(destination, false, buf, out);
        }
    }

    /// Sender reports for every consumer stream that has sent something.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut TransportOutput) {
        if self.dead {
            return;
        }
        self.send_due_nacks(now, out);
        if now < self.next_rtcp {
            return;
        }
        // Moved on even when nothing is sent: a deadline left in the past
        // would be due again at once, forever.
        self.next_rtcp = now + RTCP_INTERVAL;
        if !self.rtcp_peer_known() {
            return;
        }
        let mut compounds = Vec::new();
        self.consumers
            .sender_reports(now, |buf| compounds.push(buf));
        // Receiver reports about the producers' streams, as mediasoup's
        // transports send them (a DirectTransport's go to Node, on `rtcp`).
        let blocks: Vec<_> = self
            .producers
            .iter_mut()
            .flat_map(|p| p.ssrcs.iter().zip(&mut p.receptions))
            .filter_map(|(ssrc, r)| r.report((*ssrc)?, now))
            .collect();
        if !blocks.is_empty() {
            let mut buf = Vec::new();
            wire::write_receiver_report(&mut buf, LOCAL_RTCP_SSRC, &blocks);
            // RFC 3550 §6.1: every compound packet names its source.
            wire::write_sdes_cname(&mut buf, [LOCAL_RTCP_SSRC].into_iter(), LOCAL_CNAME);
            compounds.push(buf);
        }
        for buf in compounds {
            self.send_rtcp(buf, out);
        }
    }

    /// One RTCP compound packet to the peer: over UDP, or to Node as the
    /// DirectTransport's `rtcp` event. False while the peer is not known.
    fn send_rtcp(&mut self, buf: Vec<u8>, out: &mut TransportOutput) -> bool {
        if self.opts.direct {
            self.stats.bytes_sent += buf.len() as u64;
            out.events.push(TransportEvent::DirectRtcp { packet: buf });
            return true;
        }
        let Some(destination) = self.rtcp_destination() else {
            return false;
        };
        self.transmit(destination, true, buf, out);
        true
    }

    /// Whether RTCP has somewhere to go (Node, for a DirectTransport).
    fn rtcp_peer_known(&self) -> bool {
        self.opts.direct || self.rtcp_destination().is_some()
    }

    /// Where RTCP goes: the peer's RTCP port, or its RTP port with RTCP mux.
    fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.opts.rtcp.is_some() {
            self.remote_rtcp
        } else {
            self.remote_rtp
        }
    }

    fn transmit(
        &mut self,
        destination: SocketAddr,
        rtcp: bool,
        contents: Vec<u8>,
        out: &mut TransportOutput,
    ) {
        let source = match (rtcp, self.opts.rtcp) {
            (true, Some(rtcp_socket)) => rtcp_socket,
            _ => self.opts.rtp,
        };
        let mut contents = contents;
        if let (true, Some(srtp)) = (rtcp, self.srtp.as_mut())
            && !srtp.tx.protect_rtcp(&mut contents)
        {
            return;
        }
        self.stats.bytes_sent += contents.len() as u64;
        out.transmits.push(Transmit {
            proto: Protocol::Udp,
            source,
            destination,
            contents: contents.into(),
        });
    }

    // -- producers ----------------------------------------------------------

    pub fn add_producer(&mut self, id: Id, params: &RtpParameters) -> CoreResult<()> {
        if self.dead {
            return Err(CoreError::invalid_state("transport closed"));
        }
        let ssrcs: Vec<Option<u32>> = params.encodings.iter().map(|e| e.ssrc).collect();
        // The jitter in the receiver reports is in the media codec's units.
        let clock_rate = params
            .codecs
            .iter()
            .find(|c| !crate::transport::webrtc::capabilities::is_rtx(&c.mime_type))
            .map_or(90_000, |c| c.clock_rate);
        let rtx = params.encodings.iter().filter_map(|e| e.rtx.as_ref());
        // Media and RTX SSRCs alike: an RTX SSRC taken for media (or the
        // reverse) would lose that stream.
        let all: Vec<u32> = ssrcs
            .iter()
            .flatten()
            .copied()
            .chain(rtx.map(|r| r.ssrc))
            .collect();
        for (i, ssrc) in all.iter().enumerate() {
            if all[..i].contains(ssrc)
                || self.rx_ssrcs.contains_key(ssrc)
                || self
                    .producers
                    .iter()
                    .any(|p| p.ssrcs.contains(&Some(*ssrc)) || p.rtx_ssrcs.contains(&Some(*ssrc)))
            {
                return Err(CoreError::invalid_state(format!(
                    "ssrc {ssrc} already in use"
                )));
            }
        }
        let n = ssrcs.len();
        let rtx_types = rtx_payload_types(&params.codecs);
        self.producers.push(PlainProducer {
            id,
            rids: params.encodings.iter().map(|e| e.rid.clone()).collect(),
            extension_ids: ExtensionIds::from_uris(
                params
                    .header_extensions
                    .iter()
                    .map(|h| (h.uri.as_str(), h.id)),
            ),
            stats: (0..n)
                .map(|encoding| ProducerStats {
                    encoding,
                    ssrc: ssrcs[encoding],
                    rid: params.encodings[encoding].rid.clone(),
                    score: 10,
                    ..ProducerStats::default()
                })
                .collect(),
            ssrcs,
            last_seq: vec![None; n],
            // Only where RTX can come: a codec with NACK and an RTX payload
            // type (not audio; not a pipe without enableRtx).
            rtx_ssrcs: params
                .encodings
                .iter()
                .map(|e| {
                    e.rtx
                        .as_ref()
                        .map(|r| r.ssrc)
                        .filter(|_| !rtx_types.is_empty())
                })
                .collect(),
            nacks: (0..n).map(|_| NackTracker::default()).collect(),
            receptions: (0..n).map(|_| Reception::new(clock_rate)).collect(),
            rtx_payload_types: rtx_types,
        });
        if self.producers.last().is_some_and(PlainProducer::nacks) {
            self.nacking_producers += 1;
        }
        Ok(())
    }

    pub fn remove_producer(&mut self, producer_id: &str) {
        let Some(idx) = self.producers.iter().position(|p| &*p.id == producer_id) else {
            return;
        };
        if self.producers.remove(idx).nacks() {
            self.nacking_producers -= 1;
        }
        self.pending_keyframes
            .retain(|(id, _)| &**id != producer_id);
        // Indices after it moved down by one.
        self.rx_ssrcs.retain(|_, (i, _)| *i != idx);
        for (i, _) in self.rx_ssrcs.values_mut() {
            if *i > idx {
                *i -= 1;
            }
        }
    }

    pub fn producer_stats(&self, producer_id: &str) -> Vec<ProducerStats> {
        self.producers
            .iter()
            .find(|p| &*p.id == producer_id)
            .map(|p| p.stats.clone())
            .unwrap_or_default()
    }

    /// A PLI to the peer for one encoding of a producer (or all).
    pub fn request_keyframe(
        &mut self,
        producer_id: &str,
        encoding: Option<usize>,
        out: &mut TransportOutput,
    ) {
        if !self.rtcp_peer_known() {
            // Sent once comedia learns the peer.
            let known = self.producers.iter().find(|p| &*p.id == producer_id);
            let queued = self
                .pending_keyframes
                .iter()
                .any(|(id, e)| &**id == producer_id && *e == encoding);
            if let (Some(p), false) = (known, queued) {
                self.pending_keyframes.push((p.id.clone(), encoding));
            }
            return;
        };
        let Some(p) = self.producers.iter_mut().find(|p| &*p.id == producer_id) else {
            return;
        };
        let mut buf = Vec::new();
        for (i, ssrc) in p.ssrcs.iter().enumerate() {
            if encoding.is_some_and(|e| e != i) {
                continue;
            }
            if let Some(ssrc) = ssrc {
                p.stats[i].plis += 1;
                wire::write_pli(&mut buf, LOCAL_RTCP_SSRC, *ssrc);
            }
        }
        if !buf.is_empty() {
            self.send_rtcp(buf, out);
        }
    }

    // -- consumers ----------------------------------------------------------

    pub fn add_consumer(
        &mut self,
        id: Id,
        kind: MediaKind,
        params: &RtpParameters,
    ) -> CoreResult<SlotKey> {
        if self.dead {
            return Err(CoreError::invalid_state("transport closed"));
        }
        self.consumers.add(id, kind, params)
    }

    pub fn consumer_id(&self, consumer: SlotKey) -> Option<&Id> {
        self.consumers.id_at(consumer)
    }

    pub fn remove_consumer(&mut self, consumer_id: &str) {
        let srtp = &mut self.srtp;
        self.consumers.remove(consumer_id, |ssrc| {
            if let Some(srtp) = srtp.as_mut() {
                srtp.tx.forget(ssrc);
            }
        });
    }

    pub fn consumer_stats(&self, consumer_id: &str) -> Option<ConsumerStats> {
        self.consumers.stats(consumer_id)
    }

    /// One packet to the peer. Dropped until the peer is known.
    pub fn write_rtp(
        &mut self,
        consumer: SlotKey,
        pkt: &ForwardedRtp,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        if self.dead {
            return Err(CoreError::invalid_state("transport closed"));
        }
        if self.remote_rtp.is_none() && !self.opts.direct {
            return Ok(());
        }
        let mut buf = out.buffer();
        let srtp = &mut self.srtp;
        let sent = self.consumers.send(
            consumer,
            pkt,
            |_| SendExtensions::default(),
            &mut buf,
            // Refused: from before the stream's first packet (the peer's
            // rollover count cannot go back), or a number already sent.
            |buf, seq_no, stream| {
                srtp.as_ref()
                    .is_none_or(|s| s.tx.protect_rtp_on(stream, buf, seq_no))
            },
        )?;
        if sent {
            self.stats.rtp_packets_sent += 1;
            self.stats.rtp_bytes_sent += buf.len() as u64;
            self.send_rtp(consumer, buf, out);
        } else {
            out.recycle(buf);
        }
        Ok(())
    }

    /// `directTransport.sendRtcp()`: an RTCP compound packet from Node
    /// (receiver reports, keyframe requests for its consumers, sender
    /// reports for its producers).
    pub fn receive_direct_rtcp(&mut self, now: Instant, buf: &[u8], out: &mut TransportOutput) {
        if self.dead || !self.opts.direct {
            return;
        }
        self.stats.bytes_received += buf.len() as u64;
        if wire::is_rtcp(buf) {
            self.on_rtcp(now, buf, out);
        } else {
            self.stats.malformed_packets_dropped += 1;
        }
    }

    /// `producer.send()` on a DirectTransport: a packet from Node.
    pub fn receive_direct(&mut self, now: Instant, buf: &[u8], out: &mut TransportOutput) {
        if self.dead || !self.opts.direct {
            return;
        }
        self.stats.bytes_received += buf.len() as u64;
        self.on_rtp(now, buf, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::wire::RtpHeaderFields;

    /// A VP8 packet to forward: `len` bytes of `seq`, a cycle up.
    fn vp8(seq: u64, len: usize, now: Instant) -> ForwardedRtp {
        ForwardedRtp {
            payload_type: 101,
            seq_no: 65_536 + seq,
            timestamp: seq as u32 * 3000,
            marker: false,
            payload: Arc::from(vec![seq as u8; len]),
            ext_vals: Default::default(),
            wallclock: now,
            stream: 0,
        }
    }

    fn pipe(local: u16, srtp: Option<CryptoSuite>, now: Instant) -> PlainTransport {
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        PlainTransport::new(
            PlainTransportOptions {
                rtp: addr(local),
                rtcp: None,
                comedia: false,
                pipe: true,
                srtp,
                direct: false,
                rtx: true,
            },
            now,
        )
    }

    /// A sender on port 1000 and a receiver on port 2000, connected to
    /// each other (each decrypting with the other's key, with SRTP): the
    /// sender's consumer "c" (its key) sends what the receiver's producer
    /// "p" takes, both on `params`.
    fn connected_pair(
        srtp: Option<CryptoSuite>,
        params: &RtpParameters,
        now: Instant,
    ) -> (PlainTransport, PlainTransport, SlotKey) {
        let (mut sender, mut receiver) = (pipe(1000, srtp, now), pipe(2000, srtp, now));
        let key = |t: &PlainTransport| t.srtp_parameters().cloned();
        let (sk, rk) = (key(&sender), key(&receiver));
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let mut out = TransportOutput::default();
        sender
            .connect(Some(addr(2000)), None, rk, &mut out)
            .unwrap();
        receiver
            .connect(Some(addr(1000)), None, sk, &mut out)
            .unwrap();
        let c = sender
            .add_consumer(Id::from("c"), MediaKind::Video, params)
            .unwrap();
        receiver.add_producer(Id::from("p"), params).unwrap();
        (sender, receiver, c)
    }

    #[test]
    fn a_lost_packet_is_nacked_and_comes_back_as_rtx_over_srtp() {
        let t0 = Instant::now();
        let params: RtpParameters = crate::ortc::from_json_value(serde_json::json!({
            "codecs": [
                { "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000,
                  "rtcpFeedback": [{ "type": "nack" }, { "type": "nack", "parameter": "pli" }] },
                { "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000, "parameters": { "apt": 101 } }
            ],
            "encodings": [{ "ssrc": 1111, "rtx": { "ssrc": 2222 } }],
            "rtcp": { "cname": "x" }
        }))
        .unwrap();
        let (mut sender, mut receiver, c) =
            connected_pair(Some(CryptoSuite::AeadAes256Gcm), &params, t0);
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));

        let mut delivered = Vec::new();
        let mut producer_nacks = 0;
        let mut deliver =
            |to: &mut PlainTransport, from: u16, local: u16, out: &mut TransportOutput| {
                let mut back = TransportOutput::default();
                for t in out.transmits.drain(..) {
                    to.handle_receive(t0, addr(from), addr(local), &t.contents, &mut back);
                }
                for e in back.events.drain(..) {
                    if let TransportEvent::ProducerNack { count, .. } = e {
                        producer_nacks += count;
                    }
                    if let TransportEvent::ProducerPacket { packet, .. } = e {
                        delivered.push((
                            packet.seq_no as u16,
                            packet.payload.to_vec(),
                            packet.ssrc,
                            packet.payload_type,
                        ));
                    }
                }
                back
            };
        let mut consumer_nacks = 0;
        for seq in 100..106u64 {
            let mut out = TransportOutput::default();
            sender.write_rtp(c, &vp8(seq, 50, t0), &mut out).unwrap();
            if seq == 102 {
                continue; // lost on the way
            }
            let mut nacks = deliver(&mut receiver, 1000, 2000, &mut out);
            // The receiver's NACK goes back to the sender, whose RTX comes back.
            let mut rtx = TransportOutput::default();
            for t in nacks.transmits.drain(..) {
                sender.handle_receive(t0, addr(2000), addr(1000), &t.contents, &mut rtx);
            }
            consumer_nacks += rtx
                .events
                .iter()
                .filter(|e| matches!(e, TransportEvent::ConsumerNack { consumer_id } if &**consumer_id == "c"))
                .count();
            deliver(&mut receiver, 1000, 2000, &mut rtx);
        }
        let seqs: Vec<u16> = delivered.iter().map(|d| d.0).collect();
        assert_eq!(seqs, [100, 101, 103, 102, 104, 105]);
        // The resend is counted as RTX on both sides, not as RTP.
        let (sent, received) = (sender.stats(), receiver.stats());
        assert_eq!(sent.rtp_packets_sent, 6);
        assert!(sent.rtx_bytes_sent > 50, "{}", sent.rtx_bytes_sent);
        assert_eq!(received.rtp_packets_received, 5);
        assert!(received.rtx_bytes_received > 50);
        let recovered = &delivered[3];
        assert_eq!(recovered.1, vec![102u8; 50], "the original payload");
        assert_eq!(
            (recovered.2, recovered.3),
            (1111, 101),
            "as the media stream"
        );
        assert_eq!(receiver.producer_stats("p")[0].nacks, 1);
        let ps = &receiver.producer_stats("p")[0];
        assert_eq!(
            (ps.retransmitted, ps.repaired),
            (1, 1),
            "the resend filled the gap"
        );
        assert_eq!(sender.consumer_stats("c").unwrap().nacks, 1);
        // The events behind the `nack` traces: one per NACK packet.
        assert_eq!((producer_nacks, consumer_nacks), (1, 1));

        // The sender's report, then the receiver's report about the stream
        // 50 ms later, back at the sender 70 ms after its report: a 20 ms
        // round trip, and nothing lost (102 came back as RTX).
        let t1 = t0 + Duration::from_millis(1_100);
        let mut sr = TransportOutput::default();
        sender.handle_timeout(t1, &mut sr);
        let mut ignored = TransportOutput::default();
        for t in sr.transmits.drain(..) {
            receiver.handle_receive(t1, addr(1000), addr(2000), &t.contents, &mut ignored);
        }
        let mut rr = TransportOutput::default();
        receiver.handle_timeout(t1 + Duration::from_millis(50), &mut rr);
        assert!(!rr.transmits.is_empty(), "a receiver report goes out");
        let mut back = TransportOutput::default();
        for t in rr.transmits.drain(..) {
            sender.handle_receive(
                t1 + Duration::from_millis(70),
                addr(2000),
                addr(1000),
                &t.contents,
                &mut back,
            );
        }
        let stats = sender.consumer_stats("c").unwrap();
        let rtt = stats.rtt.expect("a round trip from the receiver report");
        assert!(
            rtt >= Duration::from_millis(19) && rtt <= Duration::from_millis(21),
            "{rtt:?}"
        );
        assert_eq!((stats.loss, stats.packets_lost), (Some(0.0), Some(0)));
    }

    #[test]
    fn a_receiver_report_goes_in_a_compound_that_names_its_source() {
        let t0 = Instant::now();
        let params: RtpParameters = crate::ortc::from_json_value(serde_json::json!({
            "codecs": [{ "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000 }],
            "encodings": [{ "ssrc": 1111 }]
        }))
        .unwrap();
        let (mut sender, mut receiver, c) = connected_pair(None, &params, t0);
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let mut out = TransportOutput::default();
        for seq in 0..3 {
            sender.write_rtp(c, &vp8(seq, 50, t0), &mut out).unwrap();
        }
        let mut ignored = TransportOutput::default();
        for t in out.transmits.drain(..) {
            receiver.handle_receive(t0, addr(1000), addr(2000), &t.contents, &mut ignored);
        }
        let mut rr = TransportOutput::default();
        receiver.handle_timeout(t0 + Duration::from_millis(1_100), &mut rr);
        assert_eq!(rr.transmits.len(), 1);
        let compound = &rr.transmits[0].contents;
        // Its packets' types, walking the compound by their lengths.
        let (mut types, mut starts) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at + 4 <= compound.len() {
            types.push(compound[at + 1]);
            starts.push(at);
            at += 4 * (1 + usize::from(u16::from_be_bytes([compound[at + 2], compound[at + 3]])));
        }
        assert_eq!(at, compound.len());
        assert_eq!(types, [201, 202], "RR, then SDES");
        let sdes = &compound[starts[1]..];
        assert_eq!(&sdes[4..8], &LOCAL_RTCP_SSRC.to_be_bytes());
        assert_eq!((sdes[8], usize::from(sdes[9])), (1, LOCAL_CNAME.len()));
        assert_eq!(&sdes[10..10 + LOCAL_CNAME.len()], LOCAL_CNAME.as_bytes());
    }

    #[test]
    fn a_late_rtx_still_counts_a_duplicate_does_not_and_the_timer_moves_on() {
        let t0 = Instant::now();
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let params: RtpParameters = crate::ortc::from_json_value(serde_json::json!({
            "codecs": [
                { "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000, "rtcpFeedback": [{ "type": "nack" }] },
                { "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000, "parameters": { "apt": 101 } }
            ],
            "encodings": [{ "ssrc": 1111, "rtx": { "ssrc": 2222 } }]
        }))
        .unwrap();
        let (mut sender, mut receiver, c) = connected_pair(None, &params, t0);
        let send = |sender: &mut PlainTransport, seq: u64| {
            let mut out = TransportOutput::default();
            sender.write_rtp(c, &vp8(seq, 10, t0), &mut out).unwrap();
            out.transmits.pop().unwrap().contents.to_vec()
        };
        let receive = |receiver: &mut PlainTransport, at: Instant, buf: &[u8]| {
            let mut out = TransportOutput::default();
            receiver.handle_receive(at, addr(1000), addr(2000), buf, &mut out);
            let got = out
                .events
                .iter()
                .filter(|e| matches!(e, TransportEvent::ProducerPacket { .. }))
                .count();
            (
                got,
                out.transmits
                    .into_iter()
                    .map(|t| t.contents.to_vec())
                    .collect::<Vec<_>>(),
            )
        };
        let (p100, p101, p102) = (
            send(&mut sender, 100),
            send(&mut sender, 101),
            send(&mut sender, 102),
        );
        assert_eq!(receive(&mut receiver, t0, &p100).0, 1);
        let (got, nacks) = receive(&mut receiver, t0, &p102);
        assert_eq!((got, nacks.len()), (1, 1));
        // Asked again while nothing comes; the timer always moves past now.
        let mut at = t0;
        for _ in 0..2 {
            at = receiver.poll_timeout();
            let mut out = TransportOutput::default();
            receiver.handle_timeout(at, &mut out);
            assert!(
                receiver.poll_timeout() > at,
                "a deadline left due would spin"
            );
        }
        // The RTX answering the first NACK arrives late (after three asks): still taken.
        let mut rtx = TransportOutput::default();
        sender.handle_receive(t0, addr(2000), addr(1000), &nacks[0], &mut rtx);
        let resent = rtx.transmits.pop().unwrap().contents.to_vec();
        // Asked three times by now (t0, +100, +200 ms); it waits until +1 s.
        assert_eq!(receiver.poll_timeout(), t0 + Duration::from_secs(1));
        let at = at + Duration::from_millis(150);
        assert_eq!(receive(&mut receiver, at, &resent).0, 1);
        // The late original, or the RTX again, are duplicates now.
        assert_eq!(receive(&mut receiver, at, &p101).0, 0);
        assert_eq!(receive(&mut receiver, at, &resent).0, 0);
    }

    #[test]
    fn a_direct_transport_keeps_its_timer_moving() {
        let t0 = Instant::now();
        let mut t = PlainTransport::direct(t0);
        let mut out = TransportOutput::default();
        let later = t0 + Duration::from_secs(2);
        t.handle_timeout(later, &mut out);
        // Due again at once would spin the worker's timer loop.
        assert!(t.poll_timeout() > later);
        assert!(out.transmits.is_empty());
    }

    #[test]
    fn a_source_restarting_its_numbering_goes_on_and_a_direct_transport_nacks_to_node() {
        let t0 = Instant::now();
        let params: RtpParameters = crate::ortc::from_json_value(serde_json::json!({
            "codecs": [
                { "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000,
                  "rtcpFeedback": [{ "type": "nack" }] },
                { "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000, "parameters": { "apt": 101 } }
            ],
            "encodings": [{ "ssrc": 1111, "rtx": { "ssrc": 2222 } }],
            "rtcp": { "cname": "x" }
        }))
        .unwrap();
        // Node feeds a producer with RTX (a DirectTransport has NACK too).
        let mut t = PlainTransport::direct(t0);
        t.add_producer(Id::from("p"), &params).unwrap();
        let packet = |seq: u16| {
            let mut b = Vec::new();
            wire::write_rtp(
                &mut b,
                &RtpHeaderFields {
                    payload_type: 101,
                    marker: false,
                    sequence_number: seq,
                    timestamp: u32::from(seq),
                    ssrc: 1111,
                },
                &ExtensionIds::default(),
                &Default::default(),
                SendExtensions::default(),
                &[1, 2, 3],
            );
            b
        };
        let mut out = TransportOutput::default();
        let mut numbers = Vec::new();
        for seq in [5000, 5001, 5002, 10, 11, 13] {
            t.receive_direct(t0, &packet(seq), &mut out);
        }
        for e in out.events.drain(..) {
            match e {
                TransportEvent::ProducerPacket { packet, .. } => numbers.push(packet.seq_no),
                TransportEvent::DirectRtcp { packet } => numbers.push(u64::from(packet[1])),
                _ => {}
            }
        }
        // Every packet through, numbered on upwards; one NACK (for 12, to
        // Node, after 13), none for the thousands "missing" between 5002
        // and 10.
        let base = 65_536 + 5000;
        let restarted = 65_536 * 2 + 10;
        assert_eq!(
            numbers,
            vec![
                base,
                base + 1,
                base + 2,
                restarted,
                restarted + 1,
                restarted + 3,
                205
            ]
        );
    }

    #[test]
    fn sequence_numbers_extend_across_wraps_and_reordering() {
        let first = extend_seq(None, 65_535);
        assert_eq!(first, 65_536 + 65_535);
        let wrapped = extend_seq(Some(first), 0);
        assert_eq!(wrapped, first + 1);
        // A late packet from before the wrap goes back, not a cycle ahead.
        assert_eq!(extend_seq(Some(wrapped), 65_534), first - 1);
        assert_eq!(following(70_000, 70_000u64 as u16), 70_000 + 65_536);
        assert_eq!(following(70_000, 70_001u64 as u16), 70_001);
    }
}
