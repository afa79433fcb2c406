//! The SDP offer synthesized from producers' rtpParameters.
//!
//! str0m freezes payload types and header-extension ids at build time in its
//! direct API, but mediasoup-client sends producer RTP with the browser's own
//! ids and PTs, known only at `produce()`. str0m's SDP API remaps both for
//! each new m-line of an accepted offer, so every `produce()` re-offers the
//! whole transport (all producers, in a stable order, closed ones as
//! inactive port-0 m-lines) as if the browser had sent it. ICE and DTLS stay
//! on the direct API: the offer repeats the credentials and fingerprint that
//! are already in force so that accepting it changes nothing there.

use std::fmt::Write;

use crate::ortc::types::{MediaKind, RtpParameters};

use super::capabilities::{apt, codec_name, fmtp_line, is_rtx, known_extension};

/// One m-line of the offer: a producer, open or closed.
#[derive(Debug, Clone)]
pub struct OfferedProducer {
    pub mid: String,
    pub kind: MediaKind,
    pub rtp_parameters: RtpParameters,
    pub closed: bool,
}

/// What the offer repeats of the transport's current ICE/DTLS state.
pub struct OfferContext<'a> {
    pub remote_ufrag: &'a str,
    pub remote_pwd: &'a str,
    /// `"sha-256 AB:CD:..."`.
    pub remote_fingerprint: &'a str,
    /// Keeps the header extensions str0m cannot place out of the offer.
    pub is_registered_uri: &'a dyn Fn(&str) -> bool,
}

pub fn synthesize(ctx: &OfferContext<'_>, producers: &[OfferedProducer]) -> String {
    let mut s = String::with_capacity(1024 * producers.len().max(1));
    s.push_str("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    s.push_str("a=group:BUNDLE");
    for p in producers.iter().filter(|p| !p.closed) {
        let _ = write!(s, " {}", p.mid);
    }
    s.push_str("\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n");
    for p in producers {
        media_section(&mut s, ctx, p);
    }
    s
}

fn media_section(s: &mut String, ctx: &OfferContext<'_>, p: &OfferedProducer) {
    let params = &p.rtp_parameters;
    let port = if p.closed { 0 } else { 9 };
    let _ = write!(s, "m={} {} UDP/TLS/RTP/SAVPF", p.kind.as_str(), port);
    for c in &params.codecs {
        let _ = write!(s, " {}", c.payload_type);
    }
    s.push_str("\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n");
    let _ = write!(
        s,
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:{}\r\na=setup:active\r\na=mid:{}\r\n",
        ctx.remote_ufrag, ctx.remote_pwd, ctx.remote_fingerprint, p.mid
    );
    for h in &params.header_extensions {
        if known_extension(&h.uri).is_some() || (ctx.is_registered_uri)(&h.uri) {
            let _ = write!(s, "a=extmap:{} {}\r\n", h.id, h.uri);
        }
    }
    s.push_str(if p.closed {
        "a=inactive\r\n"
    } else {
        "a=sendonly\r\n"
    });
    s.push_str("a=msid:- -\r\na=rtcp-mux\r\na=rtcp-rsize\r\n");
    for c in &params.codecs {
        let name = codec_name(&c.mime_type);
        let _ = write!(s, "a=rtpmap:{} {}/{}", c.payload_type, name, c.clock_rate);
        if let Some(ch) = c.channels.filter(|_| p.kind == MediaKind::Audio) {
            let _ = write!(s, "/{ch}");
        }
        s.push_str("\r\n");
        for fb in &c.rtcp_feedback {
            if fb.parameter.is_empty() {
                let _ = write!(s, "a=rtcp-fb:{} {}\r\n", c.payload_type, fb.r#type);
            } else {
                let _ = write!(
                    s,
                    "a=rtcp-fb:{} {} {}\r\n",
                    c.payload_type, fb.r#type, fb.parameter
                );
            }
        }
        if is_rtx(&c.mime_type) {
            if let Some(apt) = apt(&c.parameters) {
                let _ = write!(s, "a=fmtp:{} apt={}\r\n", c.payload_type, apt);
            }
        } else if !c.parameters.is_empty() {
            let _ = write!(
                s,
                "a=fmtp:{} {}\r\n",
                c.payload_type,
                fmtp_line(&c.parameters)
            );
        }
    }
    let rids: Vec<&str> = params
        .encodings
        .iter()
        .filter_map(|e| e.rid.as_deref())
        .collect();
    let signalled_ssrcs = params.encodings.iter().any(|e| e.ssrc.is_some());
    if !rids.is_empty() && !signalled_ssrcs {
        for rid in &rids {
            let _ = write!(s, "a=rid:{rid} send\r\n");
        }
        let _ = write!(s, "a=simulcast:send {}\r\n", rids.join(";"));
    } else {
        let cname = params.rtcp.cname.as_deref().unwrap_or("opencall");
        for e in &params.encodings {
            let (Some(ssrc), Some(rtx)) = (e.ssrc, e.rtx) else {
                continue;
            };
            let _ = write!(s, "a=ssrc-group:FID {} {}\r\n", ssrc, rtx.ssrc);
        }
        for e in &params.encodings {
            if let Some(ssrc) = e.ssrc {
                let _ = write!(s, "a=ssrc:{ssrc} cname:{cname}\r\n");
            }
            if let Some(rtx) = e.rtx {
                let _ = write!(s, "a=ssrc:{} cname:{cname}\r\n", rtx.ssrc);
            }
        }
    }
}

/// The (main PT, RTX PT) pairs a producer declares.
pub fn payload_pairs(params: &RtpParameters) -> Vec<(u8, Option<u8>)> {
    params
        .codecs
        .iter()
        .filter(|c| !is_rtx(&c.mime_type))
        .map(|c| {
            let rtx = params
                .codecs
                .iter()
                .filter(|r| is_rtx(&r.mime_type))
                .find(|r| apt(&r.parameters) == Some(c.payload_type))
                .map(|r| r.payload_type);
            (c.payload_type, rtx)
        })
        .collect()
}
