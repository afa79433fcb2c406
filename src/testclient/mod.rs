//! A WebRTC client on str0m that plays the browser against a
//! `WebRtcTransport`: ICE controlling, DTLS client, mediasoup-client-like
//! parameters. Sans-IO like everything else here: it returns datagrams and
//! takes datagrams, so tests wire it in memory and benchmarks to sockets.
//!
//! A *sender* client uses Chrome's payload types and extension ids (which
//! differ from the router's, as with a real browser); a *receiver* client is
//! built with the router's, as mediasoup-client's recv transports are.

pub mod capabilities;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, KeyframeRequestKind, MediaKind as StrMediaKind, Mid, Pt, Rid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionMap, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};

use crate::ortc::types::{
    MediaKind, RtcpFeedback, RtcpParameters, RtpCapabilities, RtpCodecParameters,
    RtpEncodingParameters, RtpHeaderExtensionParameters, RtpParameters, RtxParameters,
};
use crate::rtp::keyframe::vp8_payload;
use crate::transport::webrtc::capabilities as server_caps;
use crate::transport::{DtlsFingerprint, DtlsParameters, DtlsRole, IceCandidate, IceParameters};

/// Chrome's payload types for what the sender client produces.
pub const CLIENT_OPUS_PT: u8 = 111;
pub const CLIENT_VP8_PT: u8 = 96;
pub const CLIENT_VP8_RTX_PT: u8 = 97;

/// Marker at the start of every synthesized payload body.
const BODY_MAGIC: [u8; 4] = *b"OCtc";

/// One stream the client sends: a producer encoding.
#[derive(Debug, Clone)]
struct SendStream {
    mid: Mid,
    ssrc: Ssrc,
    pt: Pt,
    video: bool,
    seq: u64,
    ts: u32,
    counter: u32,
    tag: u8,
}

/// What the client received on one SSRC.
#[derive(Debug, Clone, Default)]
pub struct ReceivedStream {
    pub packets: u64,
    pub bytes: u64,
    /// Extended sequence numbers in arrival order.
    pub seqs: Vec<u64>,
    pub payload_types: Vec<u8>,
    pub timestamps: Vec<u32>,
    /// (stream tag, counter) decoded from each intact payload.
    pub bodies: Vec<(u8, u32)>,
    pub corrupt_payloads: u64,
    pub mids_seen_in_header: u64,
}

pub struct TestClient {
    rtc: Rtc,
    local: SocketAddr,
    next_timeout: Instant,
    connected: bool,
    failed: bool,
    ice_state: Option<IceConnectionState>,
    send: Vec<SendStream>,
    pub received: HashMap<u32, ReceivedStream>,
    /// Keyframe requests the server sent us: (mid, rid).
    pub keyframe_requests: Vec<(String, Option<String>)>,
    /// The last REMB (bps) the server sent us.
    pub remb: Option<u64>,
    ext_map: ExtensionMap,
    next_tag: u8,
}

/// The str0m configuration of a producing Chrome: its payload types
/// (`CLIENT_*_PT`) and header-extension ids. Shared with the benchmark's
/// load generator, which plays the same browser.
pub fn sender_config() -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .set_extension_map(ExtensionMap::standard());
    let codecs = config.codec_config();
    codecs.add_config(
        Pt::new_with_value(CLIENT_OPUS_PT),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams::parse_line("minptime=10;useinbandfec=1"),
    );
    codecs.add_config(
        Pt::new_with_value(CLIENT_VP8_PT),
        Some(Pt::new_with_value(CLIENT_VP8_RTX_PT)),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    config
}

/// The str0m configuration of a consuming browser, and its extension map:
/// the router's payload types and ids.
pub fn receiver_config(
    router: &RtpCapabilities,
) -> crate::error::CoreResult<(RtcConfig, ExtensionMap)> {
    let map = server_caps::extension_map(router);
    let mut config = RtcConfig::new()
        .set_rtp_mode(true)
        .set_extension_map(map.clone());
    server_caps::codec_config(router, config.codec_config())?;
    Ok((config, map))
}

impl TestClient {
    /// A producing browser: Chrome's PTs and header-extension ids.
    pub fn sender(local: SocketAddr, now: Instant) -> Self {
        Self::build(sender_config(), ExtensionMap::standard(), local, now)
    }

    /// A consuming browser: the router's PTs and ids (mediasoup-client
    /// answers consumers with the router's parameters).
    pub fn receiver(local: SocketAddr, router: &RtpCapabilities, now: Instant) -> Self {
        let (config, map) = receiver_config(router).expect("router capabilities usable by str0m");
        Self::build(config, map, local, now)
    }

    fn build(config: RtcConfig, ext_map: ExtensionMap, local: SocketAddr, now: Instant) -> Self {
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("host candidate"));
        let mut c = Self {
            rtc,
            local,
            next_timeout: now,
            connected: false,
            failed: false,
            ice_state: None,
            send: Vec::new(),
            received: HashMap::new(),
            keyframe_requests: Vec::new(),
            remb: None,
            ext_map,
            next_tag: 1,
        };
        c.drain(&mut Vec::new());
        c
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// True once str0m gave up (e.g. the server's fingerprint did not match).
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    pub fn ice_state(&self) -> Option<IceConnectionState> {
        self.ice_state
    }

    /// Starts ICE and DTLS toward the server's parameters; returns what
    /// mediasoup-client would pass to `transport.connect()`.
    pub fn connect(
        &mut self,
        ice: &IceParameters,
        candidates: &[IceCandidate],
        dtls: &DtlsParameters,
        out: &mut Vec<Transmit>,
    ) -> DtlsParameters {
        let own =
            connect_to_server(&mut self.rtc, ice, candidates, dtls).expect("server parameters");
        self.drain(out);
        own
    }

    /// Browser-side ICE restart: new local credentials and the server's
    /// new ones (from `transport.restartIce()`).
    pub fn restart_ice(&mut self, server: &IceParameters, out: &mut Vec<Transmit>) {
        let mut api = self.rtc.direct_api();
        api.set_local_ice_credentials(IceCreds::new());
        api.set_remote_ice_credentials(IceCreds {
            ufrag: server.username_fragment.clone(),
            pass: server.password.clone(),
        });
        self.drain(out);
    }

    fn declare_send(&mut self, mid: &str, kind: StrMediaKind, out: &mut Vec<Transmit>) -> Mid {
        let mid = Mid::from(mid);
        self.rtc.direct_api().declare_media(mid, kind);
        self.drain(out);
        mid
    }

    /// An opus producer with a signalled SSRC; returns its rtpParameters.
    pub fn add_audio_producer(
        &mut self,
        mid: &str,
        router: &RtpCapabilities,
        out: &mut Vec<Transmit>,
    ) -> RtpParameters {
        let m = self.declare_send(mid, StrMediaKind::Audio, out);
        let ssrc = self.rtc.direct_api().new_ssrc();
        self.rtc.direct_api().declare_stream_tx(ssrc, None, m, None);
        self.drain(out);
        let tag = self.take_tag();
        self.send.push(SendStream {
            mid: m,
            ssrc,
            pt: Pt::new_with_value(CLIENT_OPUS_PT),
            video: false,
            seq: 1,
            ts: 0,
            counter: 0,
            tag,
        });
        RtpParameters {
            mid: Some(mid.to_owned()),
            codecs: vec![RtpCodecParameters {
                mime_type: "audio/opus".into(),
                payload_type: CLIENT_OPUS_PT,
                clock_rate: 48_000,
                channels: Some(2),
                parameters: params(&[("minptime", "10"), ("useinbandfec", "1")]),
                rtcp_feedback: vec![RtcpFeedback::new("transport-cc", "")],
            }],
            header_extensions: header_extension_params(&self.ext_map, MediaKind::Audio, router),
            encodings: vec![RtpEncodingParameters {
                ssrc: Some(*ssrc),
                ..Default::default()
            }],
            rtcp: RtcpParameters {
                cname: Some("testclient".into()),
                reduced_size: Some(true),
            },
            msid: None,
        }
    }

    /// A VP8 producer: one SSRC-signalled encoding with RTX when `rids` is
    /// empty, else rid-simulcast with no SSRCs signalled (as Chrome does).
    pub fn add_video_producer(
        &mut self,
        mid: &str,
        rids: &[&str],
        router: &RtpCapabilities,
        out: &mut Vec<Transmit>,
    ) -> RtpParameters {
        let m = self.declare_send(mid, StrMediaKind::Video, out);
        let mut encodings = Vec::new();
        let layers: Vec<Option<Rid>> = if rids.is_empty() {
            vec![None]
        } else {
            rids.iter().map(|r| Some(Rid::from(*r))).collect()
        };
        for rid in layers {
            let (ssrc, rtx) = {
                let api = self.rtc.direct_api();
                (api.new_ssrc(), api.new_ssrc())
            };
            self.rtc
                .direct_api()
                .declare_stream_tx(ssrc, Some(rtx), m, rid);
            self.drain(out);
            let tag = self.take_tag();
            self.send.push(SendStream {
                mid: m,
                ssrc,
                pt: Pt::new_with_value(CLIENT_VP8_PT),
                video: true,
                seq: 1,
                ts: 0,
                counter: 0,
                tag,
            });
            encodings.push(match rid {
                None => RtpEncodingParameters {
                    ssrc: Some(*ssrc),
                    rtx: Some(RtxParameters { ssrc: *rtx }),
                    ..Default::default()
                },
                Some(r) => RtpEncodingParameters {
                    rid: Some(r.to_string()),
                    ..Default::default()
                },
            });
        }
        let fb = vec![
            RtcpFeedback::new("goog-remb", ""),
            RtcpFeedback::new("transport-cc", ""),
            RtcpFeedback::new("ccm", "fir"),
            RtcpFeedback::new("nack", ""),
            RtcpFeedback::new("nack", "pli"),
        ];
        RtpParameters {
            mid: Some(mid.to_owned()),
            codecs: vec![
                RtpCodecParameters {
                    mime_type: "video/VP8".into(),
                    payload_type: CLIENT_VP8_PT,
                    clock_rate: 90_000,
                    channels: None,
                    parameters: Default::default(),
                    rtcp_feedback: fb,
                },
                RtpCodecParameters {
                    mime_type: "video/rtx".into(),
                    payload_type: CLIENT_VP8_RTX_PT,
                    clock_rate: 90_000,
                    channels: None,
                    parameters: params(&[("apt", "96")]),
                    rtcp_feedback: vec![],
                },
            ],
            header_extensions: header_extension_params(&self.ext_map, MediaKind::Video, router),
            encodings,
            rtcp: RtcpParameters {
                cname: Some("testclient".into()),
                reduced_size: Some(true),
            },
            msid: None,
        }
    }

    fn take_tag(&mut self) -> u8 {
        let t = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        t
    }

    /// Sends one packet on every send stream of `mid` (every simulcast
    /// layer). Video frames alternate with a keyframe every `gop` packets.
    pub fn send_media(&mut self, mid: &str, now: Instant, keyframe: bool, out: &mut Vec<Transmit>) {
        let mid = Mid::from(mid);
        let idxs: Vec<usize> = (0..self.send.len())
            .filter(|i| self.send[*i].mid == mid)
            .collect();
        for i in idxs {
            let s = &mut self.send[i];
            let body = synth_body(s.tag, s.counter);
            let payload: Arc<[u8]> = if s.video {
                vp8_payload(keyframe, (s.counter & 0x7fff) as u16, &body).into()
            } else {
                body.into()
            };
            let write = RtpWrite::new(s.pt, SeqNo::from(s.seq), s.ts, now, payload)
                .marker(true)
                .nackable(true);
            s.seq += 1;
            s.ts = s.ts.wrapping_add(if s.video { 3000 } else { 960 });
            s.counter += 1;
            let ssrc = s.ssrc;
            if let Some(tx) = self.rtc.direct_api().stream_tx(&ssrc) {
                tx.write_rtp(write);
            }
            self.drain(out);
        }
        self.run_due(now, out);
    }

    /// The SSRCs of a producer's send streams (simulcast order).
    pub fn send_ssrcs(&self, mid: &str) -> Vec<u32> {
        let mid = Mid::from(mid);
        self.send
            .iter()
            .filter(|s| s.mid == mid)
            .map(|s| *s.ssrc)
            .collect()
    }

    /// Prepares to receive a consumer: mid, SSRC and RTX SSRC from its
    /// rtpParameters.
    pub fn expect_consumer(
        &mut self,
        kind: MediaKind,
        rtp: &RtpParameters,
        out: &mut Vec<Transmit>,
    ) {
        expect_consumer_stream(&mut self.rtc, kind, rtp).expect("consumer parameters");
        self.drain(out);
    }

    /// Sends a PLI for a consumer the client receives.
    pub fn request_keyframe(&mut self, ssrc: u32, out: &mut Vec<Transmit>) {
        if let Some(s) = self.rtc.direct_api().stream_rx(&Ssrc::from(ssrc)) {
            s.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.drain(out);
    }

    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        buf: &[u8],
        out: &mut Vec<Transmit>,
    ) {
        if self.failed {
            return;
        }
        if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, buf) {
            let _ = self.rtc.handle_input(Input::Receive(now, r));
            self.drain(out);
        }
        self.run_due(now, out);
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        if self.failed {
            return;
        }
        let _ = self.rtc.handle_input(Input::Timeout(now));
        self.drain(out);
        self.run_due(now, out);
    }

    pub fn poll_timeout(&self) -> Instant {
        self.next_timeout
    }

    fn run_due(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        let mut n = 0;
        while !self.failed && self.next_timeout <= now && n < 256 {
            let _ = self.rtc.handle_input(Input::Timeout(now));
            self.drain(out);
            n += 1;
        }
    }

    fn drain(&mut self, out: &mut Vec<Transmit>) {
        while !self.failed {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => out.push(t),
                Ok(Output::Event(e)) => self.on_event(e),
                Err(_) => {
                    self.failed = true;
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(s) => self.ice_state = Some(s),
            Event::EgressBitrateEstimate(str0m::bwe::BweKind::Remb { estimate, .. }) => {
                self.remb = Some(estimate.as_u64())
            }
            Event::KeyframeRequest(r) => self
                .keyframe_requests
                .push((r.mid.to_string(), r.rid.map(|x| x.to_string()))),
            Event::RtpPacket(p) => {
                let s = self.received.entry(*p.header.ssrc).or_default();
                s.packets += 1;
                s.bytes += p.payload.len() as u64;
                s.seqs.push(*p.seq_no);
                s.payload_types.push(*p.header.payload_type);
                s.timestamps.push(p.header.timestamp);
                if p.header.ext_vals.mid.is_some() {
                    s.mids_seen_in_header += 1;
                }
                match parse_body(&p.payload) {
                    Some(b) => s.bodies.push(b),
                    None => s.corrupt_payloads += 1,
                }
            }
            _ => {}
        }
    }
}

/// The browser side of `transport.connect()`: ICE controlling with the
/// server's credentials and candidates, DTLS client checking the server's
/// sha-256 fingerprint. Returns the client's DTLS parameters; the caller
/// drains the `Rtc`.
pub fn connect_to_server(
    rtc: &mut Rtc,
    ice: &IceParameters,
    candidates: &[IceCandidate],
    dtls: &DtlsParameters,
) -> Result<DtlsParameters, String> {
    let own = prepare_connection(rtc, ice, candidates, dtls)?;
    start_dtls_client(rtc)?;
    Ok(own)
}

/// [`connect_to_server`] without starting DTLS: ICE may connect, but no
/// ClientHello goes out until [`start_dtls_client`]. A browser starts DTLS
/// only once the server has the client's parameters (mediasoup-client
/// awaits the app's `connect` before applying the description); a
/// ClientHello that reaches a transport before `connect()` is dropped and
/// costs the client its first retransmission timeout (1 s).
pub fn prepare_connection(
    rtc: &mut Rtc,
    ice: &IceParameters,
    candidates: &[IceCandidate],
    dtls: &DtlsParameters,
) -> Result<DtlsParameters, String> {
    let fp = dtls
        .fingerprints
        .iter()
        .find(|f| f.algorithm == "sha-256")
        .ok_or("no sha-256 fingerprint")?;
    let bytes = fp
        .value
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| format!("fingerprint: {e}"))?;
    let mut api = rtc.direct_api();
    api.set_ice_controlling(true);
    api.set_remote_ice_credentials(IceCreds {
        ufrag: ice.username_fragment.clone(),
        pass: ice.password.clone(),
    });
    api.set_remote_fingerprint(str0m::config::Fingerprint {
        hash_func: fp.algorithm.clone(),
        bytes,
    });
    for c in candidates.iter().filter(|c| c.protocol == "udp") {
        let ip = c.ip.parse().map_err(|e| format!("candidate ip: {e}"))?;
        let cand =
            Candidate::host(SocketAddr::new(ip, c.port), "udp").map_err(|e| e.to_string())?;
        rtc.add_remote_candidate(cand);
    }
    let own = rtc.direct_api().local_dtls_fingerprint().clone();
    Ok(DtlsParameters {
        role: Some(DtlsRole::Client),
        fingerprints: vec![DtlsFingerprint {
            algorithm: own.hash_func.clone(),
            value: own
                .bytes
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        }],
    })
}

/// The DTLS client's first flight, once the server transport is connected.
pub fn start_dtls_client(rtc: &mut Rtc) -> Result<(), String> {
    rtc.direct_api().start_dtls(true).map_err(|e| e.to_string())
}

/// Like mediasoup-client: the browser's extension ids, for the extensions
/// the router also supports for this kind.
pub fn header_extension_params(
    ext_map: &ExtensionMap,
    kind: MediaKind,
    router: &RtpCapabilities,
) -> Vec<RtpHeaderExtensionParameters> {
    let audio = kind == MediaKind::Audio;
    ext_map
        .iter_by_media_type(audio)
        .filter(|(_, e)| {
            router
                .header_extensions
                .iter()
                .any(|h| h.kind == kind && h.uri == e.as_uri())
        })
        .map(|(id, e)| RtpHeaderExtensionParameters {
            uri: e.as_uri().to_owned(),
            id,
            encrypt: false,
            parameters: Default::default(),
        })
        .collect()
}

/// Declares the receive stream of a consumer (`consumer.rtpParameters`),
/// as mediasoup-client's recv transport does. NACKs only with RTX.
pub fn expect_consumer_stream(
    rtc: &mut Rtc,
    kind: MediaKind,
    rtp: &RtpParameters,
) -> Result<(), String> {
    let mid = Mid::from(rtp.mid.as_deref().ok_or("consumer without mid")?);
    let enc = rtp.encodings.first().ok_or("consumer without encodings")?;
    let ssrc = enc.ssrc.ok_or("consumer without ssrc")?;
    let str_kind = match kind {
        MediaKind::Audio => StrMediaKind::Audio,
        MediaKind::Video => StrMediaKind::Video,
    };
    let mut api = rtc.direct_api();
    // A browser reports arrivals (transport-wide CC feedback) when the
    // consumer's parameters carry the transport-wide sequence number.
    if rtp
        .header_extensions
        .iter()
        .any(|h| h.uri.ends_with("transport-wide-cc-extensions-01"))
    {
        api.enable_twcc_feedback();
    }
    api.declare_media(mid, str_kind);
    let s = api.expect_stream_rx(
        Ssrc::from(ssrc),
        enc.rtx.map(|r| Ssrc::from(r.ssrc)),
        mid,
        None,
    );
    if enc.rtx.is_none() {
        s.suppress_nack(true);
    }
    Ok(())
}

fn params(kv: &[(&str, &str)]) -> crate::ortc::types::Parameters {
    kv.iter()
        .map(|(k, v)| {
            let value = match v.parse::<u64>() {
                Ok(n) => serde_json::Value::from(n),
                Err(_) => serde_json::Value::from(*v),
            };
            ((*k).to_owned(), value)
        })
        .collect()
}

/// Payload body: magic, stream tag, counter, then bytes derived from both,
/// so that any corruption or mix-up is detected at the receiver.
fn synth_body(tag: u8, counter: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(200);
    b.extend_from_slice(&BODY_MAGIC);
    b.push(tag);
    b.extend_from_slice(&counter.to_be_bytes());
    let len = 100 + (counter % 64) as usize;
    for i in 0..len {
        b.push(
            (i as u32)
                .wrapping_mul(31)
                .wrapping_add(counter)
                .wrapping_add(u32::from(tag)) as u8,
        );
    }
    b
}

/// Finds and checks a synthesized body anywhere after a codec header.
pub fn parse_body(payload: &[u8]) -> Option<(u8, u32)> {
    let start = payload.windows(4).position(|w| w == BODY_MAGIC)?;
    let b = &payload[start..];
    if b.len() < 9 {
        return None;
    }
    let tag = b[4];
    let counter = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
    (synth_body(tag, counter) == b).then_some((tag, counter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_detect_corruption() {
        let b = synth_body(3, 77);
        let p = vp8_payload(false, 1, &b);
        assert_eq!(parse_body(&p), Some((3, 77)));
        let mut bad = p.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(parse_body(&bad), None);
    }
}
