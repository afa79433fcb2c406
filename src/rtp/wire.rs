//! RTP and RTCP on the wire, for the transports that do not run a WebRTC
//! stack (PlainTransport): parse an RTP header with its extensions, write a
//! plain RTP header, and the few RTCP packets such a transport exchanges
//! (sender and receiver reports, PLI and FIR).

use str0m::media::{Mid, Rid};
use str0m::rtp::{ExtensionValues, VideoOrientation};

/// An RTP packet borrowed from a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpView<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// The header extension block (without its 4-byte preamble) and its profile.
    extensions: Option<(u16, &'a [u8])>,
    pub payload: &'a [u8],
}

/// Whether a datagram on a muxed port is RTCP (RFC 5761: PT 64..=95 after
/// the marker bit, i.e. RTCP packet types 192..=223).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Parses an RTP packet; `None` if it is not one (malformed, or too short
/// for what its header says).
pub fn parse_rtp(buf: &[u8]) -> Option<RtpView<'_>> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let padding = buf[0] & 0x20 != 0;
    let has_ext = buf[0] & 0x10 != 0;
    let csrcs = usize::from(buf[0] & 0x0f);
    let mut at = 12 + 4 * csrcs;
    let mut extensions = None;
    if has_ext {
        let head = buf.get(at..at + 4)?;
        let profile = u16::from_be_bytes([head[0], head[1]]);
        let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let block = buf.get(at + 4..at + 4 + 4 * words)?;
        extensions = Some((profile, block));
        at += 4 + 4 * words;
    }
    let mut end = buf.len();
    if padding {
        let pad = usize::from(*buf.last()?);
        if pad == 0 || at + pad > end {
            return None;
        }
        end -= pad;
    }
    Some(RtpView {
        payload_type: buf[1] & 0x7f,
        marker: buf[1] & 0x80 != 0,
        sequence_number: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        extensions,
        payload: buf.get(at..end)?,
    })
}

/// Header extension ids a producer's parameters negotiated, for the values
/// the router reads or forwards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtensionIds {
    pub mid: Option<u8>,
    pub rid: Option<u8>,
    pub repaired_rid: Option<u8>,
    pub audio_level: Option<u8>,
    pub video_orientation: Option<u8>,
    pub abs_send_time: Option<u8>,
    pub transport_cc: Option<u8>,
}

/// The header extension values a forwarded packet carries on to its
/// consumers (the others are the sender's own, or the producer's only).
/// Small and `Copy`: it is copied once per consumer per packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardedExtensions {
    pub audio_level: Option<i8>,
    pub voice_activity: Option<bool>,
    pub video_orientation: Option<VideoOrientation>,
}

impl From<&ExtensionValues> for ForwardedExtensions {
    fn from(v: &ExtensionValues) -> Self {
        Self {
            audio_level: v.audio_level,
            voice_activity: v.voice_activity,
            video_orientation: v.video_orientation,
        }
    }
}

/// What a sender writes per packet besides the forwarded values: the
/// stream's mid, and the send time and transport-wide sequence number the
/// peer's congestion feedback refers to (WebRTC transports only).
#[derive(Debug, Clone, Copy, Default)]
pub struct SendExtensions<'a> {
    pub mid: Option<&'a str>,
    /// 6.18 fixed-point seconds, 24 bits (abs-send-time).
    pub abs_send_time: Option<u32>,
    pub transport_cc: Option<u16>,
}

impl ExtensionIds {
    /// From `(uri, id)` pairs of an `rtpParameters.headerExtensions` list.
    pub fn from_uris<'a>(pairs: impl IntoIterator<Item = (&'a str, u8)>) -> Self {
        let mut ids = Self::default();
        for (uri, id) in pairs {
            let slot = match uri {
                "urn:ietf:params:rtp-hdrext:sdes:mid" => &mut ids.mid,
                "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" => &mut ids.rid,
                "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id" => &mut ids.repaired_rid,
                "urn:ietf:params:rtp-hdrext:ssrc-audio-level" => &mut ids.audio_level,
                "urn:3gpp:video-orientation" => &mut ids.video_orientation,
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time" => {
                    &mut ids.abs_send_time
                }
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01" => {
                    &mut ids.transport_cc
                }
                _ => continue,
            };
            *slot = Some(id);
        }
        ids
    }
}

impl RtpView<'_> {
    /// The extension values the router uses, read with `ids`.
    pub fn extension_values(&self, ids: &ExtensionIds) -> ExtensionValues {
        let mut values = ExtensionValues::default();
        let Some((profile, block)) = self.extensions else {
            return values;
        };
        for_each_element(profile, block, |id, data| {
            let text = || std::str::from_utf8(data).ok().filter(|s| !s.is_empty());
            if Some(id) == ids.audio_level {
                if let Some(&b) = data.first() {
                    values.audio_level = Some(-((b & 0x7f) as i8));
                    values.voice_activity = Some(b & 0x80 != 0);
                }
            } else if Some(id) == ids.video_orientation {
                if let Some(&b) = data.first() {
                    values.video_orientation = Some(VideoOrientation::from(b & 0x03));
                }
            } else if Some(id) == ids.mid {
                values.mid = text().map(Mid::from);
            } else if Some(id) == ids.rid {
                values.rid = text().map(Rid::from);
            } else if Some(id) == ids.repaired_rid {
                values.rid_repair = text().map(Rid::from);
            }
        });
        values
    }
}

/// Calls `f(id, data)` for each element of a one-byte (0xBEDE) or two-byte
/// (0x100x) header extension block; stops at the first malformed element.
fn for_each_element(profile: u16, block: &[u8], mut f: impl FnMut(u8, &[u8])) {
    let two_byte = profile & 0xfff0 == 0x1000;
    if profile != 0xBEDE && !two_byte {
        return;
    }
    let mut i = 0;
    while i < block.len() {
        let b = block[i];
        if b == 0 {
            // Padding between elements.
            i += 1;
            continue;
        }
        let (id, len, head) = if two_byte {
            let Some(&len) = block.get(i + 1) else {
                return;
            };
            (b, usize::from(len), 2)
        } else {
            if b >> 4 == 15 {
                // Id 15 ends a one-byte block (RFC 8285).
                return;
            }
            (b >> 4, usize::from(b & 0x0f) + 1, 1)
        };
        let Some(data) = block.get(i + head..i + head + len) else {
            return;
        };
        f(id, data);
        i += head + len;
    }
}

/// The fields of an RTP header a plain transport writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeaderFields {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Writes an RTP header (no CSRCs), the extensions `ids` has and
/// `values` / `ext` carry (one-byte form, RFC 8285: ids 1 to 14, values of
/// 1 to 16 bytes; others are left out), and the payload.
pub fn write_rtp(
    buf: &mut Vec<u8>,
    h: &RtpHeaderFields,
    ids: &ExtensionIds,
    values: &ForwardedExtensions,
    ext: SendExtensions<'_>,
    payload: &[u8],
) {
    buf.clear();
    buf.push(0x80);
    buf.push((h.payload_type & 0x7f) | if h.marker { 0x80 } else { 0 });
    buf.extend_from_slice(&h.sequence_number.to_be_bytes());
    buf.extend_from_slice(&h.timestamp.to_be_bytes());
    buf.extend_from_slice(&h.ssrc.to_be_bytes());
    let block = buf.len();
    buf.extend_from_slice(&[0xBE, 0xDE, 0, 0]);
    let element = |buf: &mut Vec<u8>, id: Option<u8>, data: &[u8]| {
        if let Some(id) = id.filter(|id| (1..=14).contains(id))
            && (1..=16).contains(&data.len())
        {
            buf.push(id << 4 | (data.len() - 1) as u8);
            buf.extend_from_slice(data);
        }
    };
    if let Some(mid) = ext.mid {
        element(buf, ids.mid, mid.as_bytes());
    }
    if let Some(t) = ext.abs_send_time {
        element(buf, ids.abs_send_time, &t.to_be_bytes()[1..]);
    }
    if let Some(seq) = ext.transport_cc {
        element(buf, ids.transport_cc, &seq.to_be_bytes());
    }
    if let Some(level) = values.audio_level {
        let voice = if values.voice_activity == Some(true) {
            0x80
        } else {
            0
        };
        element(
            buf,
            ids.audio_level,
            &[voice | (level.unsigned_abs() & 0x7f)],
        );
    }
    if let Some(o) = values.video_orientation {
        element(buf, ids.video_orientation, &[o as u8]);
    }
    let written = buf.len() - block - 4;
    if written == 0 {
        buf.truncate(block);
    } else {
        let words = written.div_ceil(4);
        buf.resize(block + 4 + 4 * words, 0);
        buf[block + 2..block + 4].copy_from_slice(&(words as u16).to_be_bytes());
        buf[0] |= 0x10;
    }
    buf.extend_from_slice(payload);
}

/// One RTCP sender report without report blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    pub ssrc: u32,
    pub ntp_sec: u32,
    pub ntp_frac: u32,
    pub rtp_ts: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// Appends an RTCP SR (PT 200) to `buf`.
pub fn write_sender_report(buf: &mut Vec<u8>, sr: &SenderInfo) {
    buf.extend_from_slice(&[0x80, 200, 0, 6]);
    for word in [
        sr.ssrc,
        sr.ntp_sec,
        sr.ntp_frac,
        sr.rtp_ts,
        sr.packet_count,
        sr.octet_count,
    ] {
        buf.extend_from_slice(&word.to_be_bytes());
    }
}

/// Appends RTCP RRs (PT 201) from `sender_ssrc` with these report blocks,
/// 31 to a packet (the count field's limit).
pub fn write_receiver_report(buf: &mut Vec<u8>, sender_ssrc: u32, blocks: &[ReportBlock]) {
    for chunk in blocks.chunks(31) {
        let words = 1 + 6 * chunk.len();
        buf.extend_from_slice(&[0x80 | chunk.len() as u8, 201]);
        buf.extend_from_slice(&(words as u16).to_be_bytes());
        buf.extend_from_slice(&sender_ssrc.to_be_bytes());
        for b in chunk {
            let lost = (u32::from(b.fraction_lost) << 24) | (b.packets_lost as u32 & 0x00ff_ffff);
            for word in [b.ssrc, lost, b.highest_seq, b.jitter, b.lsr, b.dlsr] {
                buf.extend_from_slice(&word.to_be_bytes());
            }
        }
    }
}

/// Appends an RTCP SDES (PT 202) giving `cname` for each SSRC.
pub fn write_sdes_cname(buf: &mut Vec<u8>, ssrcs: impl Iterator<Item = u32>, cname: &str) {
    let start = buf.len();
    buf.extend_from_slice(&[0x80, 202, 0, 0]);
    let name = &cname.as_bytes()[..cname.len().min(255)];
    let mut count = 0u8;
    for ssrc in ssrcs.take(31) {
        count += 1;
        buf.extend_from_slice(&ssrc.to_be_bytes());
        buf.push(1); // CNAME
        buf.push(name.len() as u8);
        buf.extend_from_slice(name);
        // The item list ends with a null octet, then pads to 32 bits.
        buf.push(0);
        while !(buf.len() - start).is_multiple_of(4) {
            buf.push(0);
        }
    }
    buf[start] |= count;
    let words = ((buf.len() - start) / 4 - 1) as u16;
    buf[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

/// Appends an RTCP PLI (PT 206, FMT 1) asking `media_ssrc` for a keyframe.
pub fn write_pli(buf: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32) {
    buf.extend_from_slice(&[0x81, 206, 0, 2]);
    buf.extend_from_slice(&sender_ssrc.to_be_bytes());
    buf.extend_from_slice(&media_ssrc.to_be_bytes());
}

/// A generic NACK (RFC 4585 §6.2.1) for `lost` (ascending) of one stream:
/// one (PID, BLP) entry per run of up to 17 numbers.
pub fn write_nack(buf: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32, lost: &[u16]) {
    let mut entries: Vec<(u16, u16)> = Vec::new();
    for &seq in lost {
        match entries.last_mut() {
            Some((pid, blp)) if seq.wrapping_sub(*pid).wrapping_sub(1) < 16 && seq != *pid => {
                *blp |= 1 << seq.wrapping_sub(*pid).wrapping_sub(1);
            }
            _ => entries.push((seq, 0)),
        }
    }
    if entries.is_empty() {
        return;
    }
    buf.extend_from_slice(&[0x81, 205]);
    buf.extend_from_slice(&(2 + entries.len() as u16).to_be_bytes());
    buf.extend_from_slice(&sender_ssrc.to_be_bytes());
    buf.extend_from_slice(&media_ssrc.to_be_bytes());
    for (pid, blp) in entries {
        buf.extend_from_slice(&pid.to_be_bytes());
        buf.extend_from_slice(&blp.to_be_bytes());
    }
}

/// What a transport acts on in a compound RTCP packet from its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpItem {
    /// A report block about one of our streams.
    ReceiverReport(ReportBlock),
    /// PLI or FIR for one of our streams.
    KeyframeRequest { ssrc: u32, fir: bool },
    /// The peer's sender report for one of its streams.
    SenderReport(SenderInfo),
    /// A generic NACK entry: `pid`, and each bit i of `blp` for pid + i + 1;
    /// `first` for a NACK packet's first entry (mediasoup's `nackCount`
    /// counts packets, its `nackPacketCount` the numbers asked for).
    Nack {
        ssrc: u32,
        pid: u16,
        blp: u16,
        first: bool,
    },
}

impl RtcpItem {
    /// The sequence numbers a NACK entry asks for.
    pub fn nacked(pid: u16, blp: u16) -> impl Iterator<Item = u16> {
        std::iter::once(pid).chain(
            (0..16u16)
                .filter(move |i| blp & (1 << i) != 0)
                .map(move |i| pid.wrapping_add(i + 1)),
        )
    }
}

/// One report block (RFC 3550 §6.4.1) about one of our streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Loss since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24 bits, signed).
    pub packets_lost: i32,
    /// The extended highest sequence number received (cycles, then the
    /// 16-bit number).
    pub highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the NTP time of our last sender report (0:
    /// none yet), and the delay since, in 1/65536 s: the round trip.
    pub lsr: u32,
    pub dlsr: u32,
}

/// Calls `f` with each transport-wide congestion control feedback's FCI
/// (RTPFB FMT 15: from its base sequence number on) in a compound packet.
pub fn for_each_transport_feedback(buf: &[u8], mut f: impl FnMut(&[u8])) {
    let mut at = 0;
    while at + 4 <= buf.len() {
        let head = &buf[at..];
        if head[0] >> 6 != 2 {
            return;
        }
        let len = 4 * (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1);
        let Some(packet) = buf.get(at..at + len) else {
            return;
        };
        if packet[1] == 205 && packet[0] & 0x1f == 15 && packet.len() > 12 {
            f(&packet[12..]);
        }
        at += len;
    }
}

/// Calls `f` for each report block, sender report and keyframe request in
/// a compound RTCP packet; stops at the first malformed packet.
pub fn parse_rtcp(buf: &[u8], mut f: impl FnMut(RtcpItem)) {
    let mut at = 0;
    while at + 4 <= buf.len() {
        let head = &buf[at..];
        if head[0] >> 6 != 2 {
            return;
        }
        let count = usize::from(head[0] & 0x1f);
        let pt = head[1];
        let len = 4 * (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1);
        let Some(packet) = buf.get(at..at + len) else {
            return;
        };
        let word = |i: usize| -> Option<u32> {
            packet
                .get(i..i + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        match pt {
            200 | 201 => {
                // SR: 24 bytes of sender info after the SSRC; RR: none.
                let blocks_at = if pt == 200 { 28 } else { 8 };
                if pt == 200
                    && let (
                        Some(ssrc),
                        Some(ntp_sec),
                        Some(ntp_frac),
                        Some(rtp_ts),
                        Some(pc),
                        Some(oc),
                    ) = (word(4), word(8), word(12), word(16), word(20), word(24))
                {
                    f(RtcpItem::SenderReport(SenderInfo {
                        ssrc,
                        ntp_sec,
                        ntp_frac,
                        rtp_ts,
                        packet_count: pc,
                        octet_count: oc,
                    }));
                }
                for block in 0..count {
                    let base = blocks_at + 24 * block;
                    let (
                        Some(ssrc),
                        Some(lost),
                        Some(highest_seq),
                        Some(jitter),
                        Some(lsr),
                        Some(dlsr),
                    ) = (
                        word(base),
                        word(base + 4),
                        word(base + 8),
                        word(base + 12),
                        word(base + 16),
                        word(base + 20),
                    )
                    else {
                        break;
                    };
                    f(RtcpItem::ReceiverReport(ReportBlock {
                        ssrc,
                        fraction_lost: (lost >> 24) as u8,
                        // 24-bit two's complement, sign-extended.
                        packets_lost: ((lost << 8) as i32) >> 8,
                        highest_seq,
                        jitter,
                        lsr,
                        dlsr,
                    }));
                }
            }
            206 if count == 1 => {
                if let Some(ssrc) = word(8) {
                    f(RtcpItem::KeyframeRequest { ssrc, fir: false });
                }
            }
            205 if count == 1 => {
                // Generic NACK: (PID, BLP) entries after the media SSRC.
                if let Some(ssrc) = word(8) {
                    let mut i = 12;
                    while let Some(entry) = word(i) {
                        f(RtcpItem::Nack {
                            ssrc,
                            pid: (entry >> 16) as u16,
                            blp: entry as u16,
                            first: i == 12,
                        });
                        i += 4;
                    }
                }
            }
            206 if count == 4 => {
                // FIR: entries of (SSRC, seq nr + reserved) after the header.
                let mut i = 12;
                while let Some(ssrc) = word(i) {
                    f(RtcpItem::KeyframeRequest { ssrc, fir: true });
                    i += 8;
                }
            }
            _ => {}
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_reports_parse_back_31_blocks_to_a_packet() {
        let blocks: Vec<ReportBlock> = (0..33u32)
            .map(|i| ReportBlock {
                ssrc: 100 + i,
                fraction_lost: i as u8,
                packets_lost: i as i32 - 5,
                highest_seq: 70_000 + i,
                jitter: 3 * i,
                lsr: 0x0102_0304,
                dlsr: 65_536 + i,
            })
            .collect();
        let mut buf = Vec::new();
        write_receiver_report(&mut buf, 1, &blocks);
        assert_eq!(buf.len(), 2 * 8 + 33 * 24, "two RRs: 31 blocks, then 2");
        let mut back = Vec::new();
        parse_rtcp(&buf, |item| {
            if let RtcpItem::ReceiverReport(b) = item {
                back.push(b);
            }
        });
        assert_eq!(back, blocks);
    }

    #[test]
    fn nacks_group_runs_of_17_and_parse_back() {
        let lost = [65_534, 65_535, 0, 5, 16, 17, 40];
        let mut buf = Vec::new();
        write_nack(&mut buf, 1, 0xabcd, &lost);
        let mut back = Vec::new();
        let mut firsts = Vec::new();
        parse_rtcp(&buf, |item| {
            if let RtcpItem::Nack {
                ssrc,
                pid,
                blp,
                first,
            } = item
            {
                assert_eq!(ssrc, 0xabcd);
                back.extend(RtcpItem::nacked(pid, blp));
                firsts.push(first);
            }
        });
        assert_eq!(back, lost);
        assert_eq!(firsts, vec![true, false, false], "one NACK packet");
        // 65534 covers up to 65534 + 16 = 14: 16 and 17 need a second entry, 40 a third.
        assert_eq!(buf.len(), 12 + 3 * 4);
        // A second NACK packet in the same compound starts a new count.
        write_nack(&mut buf, 1, 0xabcd, &[100, 200]);
        let mut firsts = Vec::new();
        parse_rtcp(&buf, |item| {
            if let RtcpItem::Nack { first, .. } = item {
                firsts.push(first);
            }
        });
        assert_eq!(firsts, vec![true, false, false, true, false]);
    }

    fn packet_with_extensions() -> Vec<u8> {
        let mut buf = vec![
            0x90,
            0x80 | 111,
            0x12,
            0x34,
            0,
            0,
            0x10,
            0,
            0xde,
            0xad,
            0xbe,
            0xef,
        ];
        // One-byte block: audio level (id 1, 1 byte, voice + -42), mid (id 3, "a1"), padding.
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 2, 0x10, 0x80 | 42, 0x31, b'a', b'1', 0, 0, 0]);
        buf.extend_from_slice(b"opus");
        buf
    }

    fn header(p: &RtpView<'_>) -> (u8, bool, u16, u32, u32) {
        (
            p.payload_type,
            p.marker,
            p.sequence_number,
            p.timestamp,
            p.ssrc,
        )
    }

    #[test]
    fn parses_header_extensions_and_payload() {
        let buf = packet_with_extensions();
        let p = parse_rtp(&buf).expect("valid RTP");
        assert_eq!(header(&p), (111, true, 0x1234, 0x1000, 0xdeadbeef));
        assert_eq!(p.payload, b"opus");
        let ids = ExtensionIds::from_uris([
            ("urn:ietf:params:rtp-hdrext:ssrc-audio-level", 1),
            ("urn:ietf:params:rtp-hdrext:sdes:mid", 3),
        ]);
        let ev = p.extension_values(&ids);
        assert_eq!(ev.audio_level, Some(-42));
        assert_eq!(ev.voice_activity, Some(true));
        assert_eq!(ev.mid, Some(Mid::from("a1")));
        // Unknown ids are skipped.
        assert_eq!(
            p.extension_values(&ExtensionIds::default()).audio_level,
            None
        );
    }

    #[test]
    fn rejects_what_is_not_rtp() {
        assert!(parse_rtp(&[0x80; 11]).is_none());
        let mut truncated = packet_with_extensions();
        truncated.truncate(18);
        assert!(parse_rtp(&truncated).is_none());
        let mut bad_padding = vec![0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 9];
        assert!(parse_rtp(&bad_padding).is_none());
        bad_padding[14] = 2;
        assert_eq!(parse_rtp(&bad_padding).map(|p| p.payload.len()), Some(1));
        assert!(!is_rtcp(&[0x80, 96, 0, 0, 0, 0, 0, 0]));
        assert!(is_rtcp(&[0x81, 206, 0, 2, 0, 0, 0, 0]));
    }

    #[test]
    fn rtp_round_trips() {
        let fields = RtpHeaderFields {
            payload_type: 96,
            marker: true,
            sequence_number: 65535,
            timestamp: 90_000,
            ssrc: 42,
        };
        let ids = ExtensionIds::from_uris([
            ("urn:ietf:params:rtp-hdrext:ssrc-audio-level", 1),
            ("urn:3gpp:video-orientation", 4),
        ]);
        let mut buf = Vec::new();
        write_rtp(
            &mut buf,
            &fields,
            &ids,
            &ForwardedExtensions::default(),
            SendExtensions::default(),
            b"frame",
        );
        assert_eq!(buf.len(), 12 + 5);
        let p = parse_rtp(&buf).expect("valid RTP");
        assert_eq!(header(&p), (96, true, 65535, 90_000, 42));
        assert_eq!(p.payload, b"frame");

        let mut values = ForwardedExtensions {
            audio_level: Some(-30),
            voice_activity: Some(true),
            video_orientation: Some(VideoOrientation::Deg90),
        };
        let forward = |buf: &mut Vec<u8>, values: &ForwardedExtensions| {
            write_rtp(
                buf,
                &fields,
                &ids,
                values,
                SendExtensions::default(),
                b"frame",
            )
        };
        forward(&mut buf, &values);
        let p = parse_rtp(&buf).expect("valid RTP");
        assert_eq!(p.payload, b"frame");
        let read = p.extension_values(&ids);
        assert_eq!(read.audio_level, Some(-30));
        assert_eq!(read.voice_activity, Some(true));
        assert_eq!(read.video_orientation, Some(VideoOrientation::Deg90));
        // One value only: padded to a whole word.
        values.video_orientation = None;
        forward(&mut buf, &values);
        assert_eq!(buf.len(), 12 + 4 + 4 + 5);
        assert_eq!(parse_rtp(&buf).map(|p| p.payload.len()), Some(5));

        // A WebRTC sender's own elements: mid, send time, transport-wide number.
        let ids = ExtensionIds::from_uris([
            ("urn:ietf:params:rtp-hdrext:sdes:mid", 1),
            (
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                2,
            ),
            (
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
                3,
            ),
        ]);
        let ext = SendExtensions {
            mid: Some("v12"),
            abs_send_time: Some(0x00AB_CDEF),
            transport_cc: Some(0x1234),
        };
        write_rtp(
            &mut buf,
            &fields,
            &ids,
            &ForwardedExtensions::default(),
            ext,
            b"frame",
        );
        // 4 + 4 + 3 = 11 bytes of elements, padded to 12.
        assert_eq!(buf.len(), 12 + 4 + 12 + 5);
        let p = parse_rtp(&buf).expect("valid RTP");
        assert_eq!(p.payload, b"frame");
        assert_eq!(p.extension_values(&ids).mid, Some(Mid::from("v12")));
        let (profile, block) = p.extensions.expect("an extension block");
        let mut seen = Vec::new();
        for_each_element(profile, block, |id, data| seen.push((id, data.to_vec())));
        assert_eq!(
            seen,
            vec![
                (1, b"v12".to_vec()),
                (2, vec![0xAB, 0xCD, 0xEF]),
                (3, vec![0x12, 0x34])
            ]
        );
    }

    #[test]
    fn rtcp_round_trips() {
        let sr = SenderInfo {
            ssrc: 7,
            ntp_sec: 1,
            ntp_frac: 2,
            rtp_ts: 3,
            packet_count: 4,
            octet_count: 5,
        };
        let mut buf = Vec::new();
        write_sender_report(&mut buf, &sr);
        // An SDES in the middle is skipped whole: what follows still parses.
        write_sdes_cname(&mut buf, [7, 8].into_iter(), "abc");
        assert_eq!(&buf[28..32], &[0x82, 202, 0, 6]);
        write_pli(&mut buf, 1, 99);
        // A receiver report with one block about SSRC 7, 25 % lost (and
        // two more packets than expected: a negative cumulative loss).
        buf.extend_from_slice(&[0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 7, 64]);
        buf.extend_from_slice(&[0xFF, 0xFF, 0xFE, 0, 0, 0, 0, 0, 0, 0, 9]);
        buf.extend_from_slice(&[1, 2, 3, 4, 0, 1, 0, 0]);
        // A FIR for SSRC 8.
        buf.extend_from_slice(&[
            0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0,
        ]);
        assert!(is_rtcp(&buf));
        let mut items = Vec::new();
        parse_rtcp(&buf, |i| items.push(i));
        assert_eq!(
            items,
            vec![
                RtcpItem::SenderReport(sr),
                RtcpItem::KeyframeRequest {
                    ssrc: 99,
                    fir: false
                },
                RtcpItem::ReceiverReport(ReportBlock {
                    ssrc: 7,
                    fraction_lost: 64,
                    packets_lost: -2,
                    highest_seq: 0,
                    jitter: 9,
                    lsr: 0x0102_0304,
                    dlsr: 65_536,
                }),
                RtcpItem::KeyframeRequest { ssrc: 8, fir: true },
            ]
        );
        // A transport feedback between them is for the other walker.
        let fb_at = buf.len();
        buf.extend_from_slice(&[0x8F, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 5, 0, 1]);
        buf.extend_from_slice(&[0, 0, 0, 0]);
        let mut fcis = Vec::new();
        for_each_transport_feedback(&buf, |fci| fcis.push(fci.to_vec()));
        assert_eq!(fcis, vec![vec![0, 5, 0, 1, 0, 0, 0, 0]]);
        let mut again = Vec::new();
        parse_rtcp(&buf, |i| again.push(i));
        assert_eq!(again, items);
        buf.truncate(fb_at);
        // Truncated input yields what came before, and no panic.
        let mut seen = 0;
        parse_rtcp(&buf[..buf.len() - 3], |_| seen += 1);
        assert_eq!(seen, 3);
    }
}
