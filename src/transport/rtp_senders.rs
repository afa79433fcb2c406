//! The consumers of a transport that writes its own RTP: plain, pipe and
//! direct transports, and WebRTC transports once their SRTP keys are known
//! (see `webrtc::egress`). Each consumer sends on one stream (one per
//! producer encoding for a pipe consumer); this keeps what each stream sent
//! (for RTX and its sender reports) and the consumer's stats, and turns the
//! peer's RTCP about them into events and retransmissions.
//!
//! Sans-IO and transport-agnostic: packets are built into a caller's buffer
//! and handed to a `protect` step (SRTP, or nothing) and back to the caller to
//! send; how and where they go is the transport's business.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use str0m::media::KeyframeRequestKind;

use super::webrtc::{ConsumerStats, ForwardedRtp, Id, TransportEvent, score_from_loss};
use crate::error::{CoreError, CoreResult};
use crate::id_map::{SlotKey, SlotMap};
use crate::ortc::types::{MediaKind, RtpParameters};
use crate::prefetch;
use crate::rtp::retransmission::{RtxSender, SentPacket, rtx_payload, rtx_payload_types};
use crate::rtp::srtp::TxStream;
use crate::rtp::wire::{
    self, ExtensionIds, ReportBlock, RtcpItem, RtpHeaderFields, SendExtensions, SenderInfo,
};

/// One SSRC a consumer sends on. Laid out in declaration order, what each
/// packet reads and writes first (see [`Sender`]).
#[repr(C)]
struct Stream {
    ssrc: u32,
    packets: u64,
    /// Payload bytes sent (a sender report counts payload only).
    payload_octets: u64,
    /// The last packet's RTP timestamp and when its source arrived, for the
    /// sender report's RTP ↔ NTP mapping.
    last: Option<(u32, Instant)>,
    /// With RTX on: what it sent lately, to resend on a NACK.
    rtx: Option<RtxSender>,
    /// Its SRTP state, where the transport encrypts (all of this SSRC's
    /// packets go through `send`).
    srtp: TxStream,
    /// Our last sender reports: their NTP times' middle 32 bits (what a
    /// receiver report echoes as LSR) and when they went out. A few, since
    /// a receiver report may name the one before the latest.
    reports: [Option<(u32, Instant)>; 4],
}

/// A fan-out touches each consumer's sender once per packet, a cache miss
/// per line that is not in cache any more by the next packet: what a packet
/// needs comes first and together (in declaration order), the first stream
/// inline rather than behind a pointer.
#[repr(C)]
struct Sender {
    streams: Streams,
    /// The header extensions its parameters list (what it writes).
    extension_ids: ExtensionIds,
    /// Its `mid`, written in the mid extension where its parameters have one.
    mid: Option<String>,
    clock_rate: u32,
    /// Sent with its sender reports (receivers group streams by it).
    cname: String,
    /// Over all its streams.
    stats: ConsumerStats,
    /// (media PT, RTX PT) of its codecs.
    rtx_payload_types: Vec<(u8, u8)>,
}

/// A consumer's streams: the first inline (most consumers have only that
/// one), a pipe consumer's further encodings behind.
struct Streams {
    first: Stream,
    more: Vec<Stream>,
}

impl Streams {
    fn get(&self, index: usize) -> Option<&Stream> {
        match index {
            0 => Some(&self.first),
            i => self.more.get(i - 1),
        }
    }

    fn get_mut(&mut self, index: usize) -> Option<&mut Stream> {
        match index {
            0 => Some(&mut self.first),
            i => self.more.get_mut(i - 1),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Stream> {
        std::iter::once(&self.first).chain(&self.more)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        std::iter::once(&mut self.first).chain(&mut self.more)
    }
}

/// Now as NTP time (seconds since 1900 and the fraction in 1/2^32 s).
fn ntp_now() -> (u32, u32) {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // NTP counts from 1900, Unix time from 1970.
    let sec = (wall.as_secs() + 2_208_988_800) as u32;
    let frac = ((u64::from(wall.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    (sec, frac)
}

/// RFC 3550 §6.4.1: the time since the sender report the receiver names
/// (LSR), less the delay it says it held it (DLSR, in 1/65536 s). Timed with
/// the caller's clock from when that report went out, so that a clock step
/// cannot fake a round trip.
fn round_trip(
    block: &ReportBlock,
    reports: &[Option<(u32, Instant)>],
    now: Instant,
) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let (_, sent_at) = reports.iter().flatten().find(|(m, _)| *m == block.lsr)?;
    let held = Duration::from_micros(u64::from(block.dlsr) * 1_000_000 / 65_536);
    now.saturating_duration_since(*sent_at).checked_sub(held)
}

#[derive(Default)]
pub struct RtpSenders {
    consumers: SlotMap<Sender>,
    /// Each consumer SSRC's consumer (its key) and stream (peers' RTCP
    /// names them: std's hasher).
    by_ssrc: HashMap<u32, (SlotKey, usize)>,
}

/// What a transport must do with an RTCP item about its consumers.
pub enum RtcpAction {
    /// Nothing (handled here, or not about a consumer).
    None,
    /// Resend what this NACK entry asks for ([`RtpSenders::resend`]).
    Nack { ssrc: u32, pid: u16, blp: u16 },
}

impl RtpSenders {
    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    pub fn contains(&self, consumer_id: &str) -> bool {
        self.consumers.contains_key(consumer_id)
    }

    /// Whether `consumer` (a key from [`Self::add`]) is still here, and its id.
    pub fn id_at(&self, consumer: SlotKey) -> Option<&Id> {
        self.consumers.at(consumer).map(|(id, _)| id)
    }

    /// A consumer sending on its parameters' encodings (each with an SSRC);
    /// RTX where an encoding has an RTX SSRC and a codec NACK and RTX.
    /// Returns the key [`Self::send`] takes.
    pub fn add(&mut self, id: Id, kind: MediaKind, params: &RtpParameters) -> CoreResult<SlotKey> {
        if self.consumers.contains_key(&id) {
            return Err(CoreError::invalid_state("consumer already exists"));
        }
        let ssrcs: Vec<u32> = params.encodings.iter().filter_map(|e| e.ssrc).collect();
        if ssrcs.is_empty() || ssrcs.len() != params.encodings.len() {
            return Err(CoreError::other("consumer rtpParameters without ssrc"));
        }
        let clock_rate =
            params
                .codecs
                .first()
                .map(|c| c.clock_rate)
                .unwrap_or(if kind == MediaKind::Audio {
                    48_000
                } else {
                    90_000
                });
        let rtx_types = rtx_payload_types(&params.codecs);
        let mut streams = ssrcs
            .iter()
            .zip(&params.encodings)
            .map(|(&ssrc, encoding)| Stream {
                ssrc,
                packets: 0,
                payload_octets: 0,
                last: None,
                reports: [None; 4],
                rtx: encoding
                    .rtx
                    .as_ref()
                    .filter(|_| !rtx_types.is_empty())
                    .map(|r| RtxSender::new(r.ssrc, (r.ssrc & 0x7fff) as u16)),
                srtp: TxStream::default(),
            });
        let first = streams.next().expect("an encoding checked above");
        let streams = Streams {
            first,
            more: streams.collect(),
        };
        let key = self.consumers.insert(
            id,
            Sender {
                extension_ids: ExtensionIds::from_uris(
                    params
                        .header_extensions
                        .iter()
                        .map(|h| (h.uri.as_str(), h.id)),
                ),
                mid: params.mid.clone(),
                clock_rate,
                cname: params
                    .rtcp
                    .cname
                    .clone()
                    .unwrap_or_else(|| "opencall".to_owned()),
                stats: ConsumerStats {
                    ssrc: ssrcs[0],
                    rtx_ssrc: streams.first.rtx.as_ref().map(|r| r.ssrc),
                    score: 10,
                    ..ConsumerStats::default()
                },
                streams,
                rtx_payload_types: rtx_types,
            },
        );
        for (stream, ssrc) in ssrcs.iter().enumerate() {
            self.by_ssrc.insert(*ssrc, (key, stream));
        }
        Ok(key)
    }

    /// Removes a consumer; `forget` gets each SSRC it sent on (RTX ones too).
    pub fn remove(&mut self, consumer_id: &str, mut forget: impl FnMut(u32)) {
        let Some(c) = self.consumers.remove(consumer_id) else {
            return;
        };
        for s in c.streams.iter() {
            self.by_ssrc.remove(&s.ssrc);
            forget(s.ssrc);
            if let Some(rtx) = &s.rtx {
                forget(rtx.ssrc);
            }
        }
    }

    /// Forgets every stream's SRTP state: the transport's key changed.
    pub fn reset_srtp(&mut self) {
        for c in self.consumers.values_mut() {
            for s in c.streams.iter_mut() {
                s.srtp = TxStream::default();
            }
        }
    }

    pub fn stats(&self, consumer_id: &str) -> Option<ConsumerStats> {
        self.consumers.get(consumer_id).map(|c| c.stats.clone())
    }

    /// Asks for a consumer's sender: its slot, whole (about 11 lines; at
    /// most 16 asked for).
    pub fn prefetch_sender(&self, consumer: SlotKey) {
        self.consumers.prefetch(consumer, 16);
    }

    /// Asks for what a consumer's sender points to and a packet touches:
    /// its mid's bytes, its retransmission history's next entry.
    pub fn prefetch_history(&self, consumer: SlotKey) {
        let Some((_, c)) = self.consumers.at(consumer) else {
            return;
        };
        if let Some(mid) = &c.mid {
            prefetch::line(mid.as_ptr());
        }
        if let Some(rtx) = &c.streams.first.rtx {
            rtx.prefetch_next();
        }
    }

    /// Writes one packet of a consumer into `buf` and hands it to `protect`
    /// with the stream's SRTP state (false: it cannot go out, e.g. SRTP
    /// refuses a number already used);
    /// only a packet that goes out is counted and kept for a NACK. `Ok(false)`:
    /// not sent (unknown stream, or refused). `ext` gives the sender's own
    /// extension values, told whether this consumer writes a transport-wide
    /// sequence number (only then is one to be taken: a number sent on no
    /// packet reads as a loss in the peer's feedback).
    pub fn send(
        &mut self,
        consumer: SlotKey,
        pkt: &ForwardedRtp,
        ext: impl FnOnce(bool) -> SendExtensions<'static>,
        buf: &mut Vec<u8>,
        protect: impl FnOnce(&mut Vec<u8>, u64, &mut TxStream) -> bool,
    ) -> CoreResult<bool> {
        let Some((_, c)) = self.consumers.at_mut(consumer) else {
            return Err(CoreError::invalid_state("no such consumer"));
        };
        let Some(stream) = c.streams.get_mut(pkt.stream) else {
            return Ok(false);
        };
        let ext = SendExtensions {
            mid: c.mid.as_deref(),
            ..ext(c.extension_ids.transport_cc.is_some())
        };
        wire::write_rtp(
            buf,
            &RtpHeaderFields {
                payload_type: pkt.payload_type,
                marker: pkt.marker,
                sequence_number: pkt.seq_no as u16,
                timestamp: pkt.timestamp,
                ssrc: stream.ssrc,
            },
            &c.extension_ids,
            &pkt.ext_vals,
            ext,
            &pkt.payload,
        );
        // Counted as mediasoup counts it: the RTP packet, not the SRTP tag.
        let size = buf.len();
        if !protect(buf, pkt.seq_no, &mut stream.srtp) {
            return Ok(false);
        }
        if let Some(rtx) = stream.rtx.as_mut() {
            rtx.remember(SentPacket {
                seq_no: pkt.seq_no,
                payload_type: pkt.payload_type,
                marker: pkt.marker,
                timestamp: pkt.timestamp,
                payload: pkt.payload.clone(),
                ext_vals: pkt.ext_vals,
                sent_at: pkt.wallclock,
                resent_at: None,
            });
        }
        stream.packets += 1;
        stream.payload_octets += pkt.payload.len() as u64;
        stream.last = Some((pkt.timestamp, pkt.wallclock));
        c.stats.packets += 1;
        c.stats.bytes += size as u64;
        // Nothing of the consumer is handed back: cloning its id here (an
        // atomic increment on a line no other copy touches) was a tenth of
        // a fan-out's per-copy time at 1→200.
        Ok(true)
    }

    /// Handles one item of the peer's RTCP: keyframe requests and receiver
    /// reports about our streams become events; NACKs are for the caller to
    /// answer with [`Self::resend`] (it knows whether the peer is reachable).
    pub fn on_rtcp(
        &mut self,
        now: Instant,
        item: &RtcpItem,
        events: &mut Vec<TransportEvent>,
    ) -> RtcpAction {
        match *item {
            RtcpItem::KeyframeRequest { ssrc, fir } => {
                let Some(&(key, stream)) = self.by_ssrc.get(&ssrc) else {
                    return RtcpAction::None;
                };
                let (id, c) = self.consumers.at_mut(key).expect("indexed consumer");
                let kind = if fir {
                    c.stats.firs += 1;
                    KeyframeRequestKind::Fir
                } else {
                    c.stats.plis += 1;
                    KeyframeRequestKind::Pli
                };
                events.push(TransportEvent::KeyframeRequest {
                    consumer_id: id.clone(),
                    kind,
                    stream: Some(stream),
                });
            }
            RtcpItem::ReceiverReport(block) => {
                let Some(&(key, stream)) = self.by_ssrc.get(&block.ssrc) else {
                    return RtcpAction::None;
                };
                let (id, c) = self.consumers.at_mut(key).expect("indexed consumer");
                let Some(&Stream { reports, .. }) = c.streams.get(stream) else {
                    return RtcpAction::None;
                };
                let loss = f32::from(block.fraction_lost) / 256.0;
                c.stats.loss = Some(loss);
                c.stats.jitter = Some(block.jitter);
                c.stats.packets_lost = Some(block.packets_lost.max(0) as u64);
                if let Some(rtt) = round_trip(&block, &reports, now) {
                    c.stats.rtt = Some(rtt);
                    if let Some(rtx) = c.streams.get_mut(stream).and_then(|s| s.rtx.as_mut()) {
                        rtx.set_rtt(rtt);
                    }
                }
                let score = score_from_loss(Some(loss));
                if score != c.stats.score {
                    c.stats.score = score;
                    events.push(TransportEvent::ConsumerScore {
                        consumer_id: id.clone(),
                        score,
                    });
                }
            }
            RtcpItem::Nack {
                ssrc,
                pid,
                blp,
                first,
            } => {
                let Some(&(key, _)) = self.by_ssrc.get(&ssrc) else {
                    return RtcpAction::None;
                };
                if let Some((id, c)) = self.consumers.at_mut(key) {
                    c.stats.nacks += u64::from(first);
                    c.stats.nack_packets += 1 + u64::from(blp.count_ones());
                    if first {
                        events.push(TransportEvent::ConsumerNack {
                            consumer_id: id.clone(),
                        });
                    }
                }
                return RtcpAction::Nack { ssrc, pid, blp };
            }
            RtcpItem::SenderReport(_) => {}
        }
        RtcpAction::None
    }

    /// Resends as RTX what a NACK entry asks for, if the stream keeps it:
    /// each packet is written with `ext` (asked per packet, as for `send`)
    /// and handed to `emit` with its
    /// consumer's key and extended RTX sequence number.
    pub fn resend(
        &mut self,
        now: Instant,
        (ssrc, pid, blp): (u32, u16, u16),
        mut ext: impl FnMut(bool) -> SendExtensions<'static>,
        mut emit: impl FnMut(SlotKey, Vec<u8>, u64),
    ) {
        let Some(&(key, stream)) = self.by_ssrc.get(&ssrc) else {
            return;
        };
        let Some((_, c)) = self.consumers.at_mut(key) else {
            return;
        };
        let Sender {
            streams,
            extension_ids,
            rtx_payload_types,
            mid,
            stats,
            ..
        } = c;
        let Some(rtx) = streams.get_mut(stream).and_then(|s| s.rtx.as_mut()) else {
            return;
        };
        let rtx_pt_of = |pt: u8| {
            rtx_payload_types
                .iter()
                .find(|(media, _)| *media == pt)
                .map(|(_, rtx)| *rtx)
        };
        for seq in RtcpItem::nacked(pid, blp) {
            let rtx_ssrc = rtx.ssrc;
            let Some((packet, rtx_seq, first)) =
                rtx.resend(seq, now, |p| rtx_pt_of(p.payload_type).is_some())
            else {
                continue;
            };
            let Some(rtx_pt) = rtx_pt_of(packet.payload_type) else {
                continue;
            };
            let mut buf = Vec::with_capacity(64 + packet.payload.len());
            wire::write_rtp(
                &mut buf,
                &RtpHeaderFields {
                    payload_type: rtx_pt,
                    marker: packet.marker,
                    sequence_number: rtx_seq as u16,
                    timestamp: packet.timestamp,
                    ssrc: rtx_ssrc,
                },
                extension_ids,
                &packet.ext_vals,
                SendExtensions {
                    mid: mid.as_deref(),
                    ..ext(extension_ids.transport_cc.is_some())
                },
                &rtx_payload(seq, &packet.payload),
            );
            stats.retransmitted += 1;
            stats.repaired += u64::from(first);
            emit(key, buf, rtx_seq);
        }
    }

    /// The round trip the latest receiver reports give, over all consumers.
    pub fn rtt(&self) -> Option<Duration> {
        self.consumers.values().filter_map(|c| c.stats.rtt).max()
    }

    /// Sender reports (with the SDES naming their sources) for every
    /// consumer stream that has sent something, handed to `emit` in
    /// compound packets that stay within a datagram.
    pub fn sender_reports(&mut self, now: Instant, mut emit: impl FnMut(Vec<u8>)) {
        /// A compound packet is closed once past this, one consumer's worth
        /// (an SR and an SDES per stream) below a 1,200-byte MTU.
        const COMPOUND_LIMIT: usize = 800;
        let (ntp_sec, ntp_frac) = ntp_now();
        let mut buf = Vec::new();
        for c in self.consumers.values_mut() {
            let start = buf.len();
            for s in c.streams.iter_mut() {
                let Some((ts, at)) = s.last else {
                    continue;
                };
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                let rtp_ts = ts.wrapping_add((elapsed * f64::from(c.clock_rate)) as u32);
                s.reports.rotate_right(1);
                s.reports[0] = Some(((ntp_sec << 16) | (ntp_frac >> 16), now));
                wire::write_sender_report(
                    &mut buf,
                    &SenderInfo {
                        ssrc: s.ssrc,
                        ntp_sec,
                        ntp_frac,
                        rtp_ts,
                        packet_count: s.packets as u32,
                        octet_count: s.payload_octets as u32,
                    },
                );
            }
            if buf.len() > start {
                // RFC 3550: a compound packet names its sources.
                let ssrcs = c
                    .streams
                    .iter()
                    .filter(|s| s.last.is_some())
                    .map(|s| s.ssrc);
                wire::write_sdes_cname(&mut buf, ssrcs, &c.cname);
            }
            if buf.len() >= COMPOUND_LIMIT {
                emit(std::mem::take(&mut buf));
            }
        }
        if !buf.is_empty() {
            emit(buf);
        }
    }
}
