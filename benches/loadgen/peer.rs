//! One simulated browser transport: a str0m `Rtc` on its own UDP socket.
//!
//! A *sender* produces VP8 + opus with Chrome's payload types; a *receiver*
//! consumes with the router's. Most receivers only count RTP datagrams and
//! never decrypt them: the generator shares the machine with the SFU, and
//! decrypting every forwarded packet would cost it as much CPU as the SFU
//! spends. A few *measured* receivers decrypt everything and record the
//! one-way delay stamped in each payload.

use opencall::ortc::types::{
    MediaKind, RtcpFeedback, RtcpParameters, RtpCapabilities, RtpCodecParameters,
    RtpEncodingParameters, RtpParameters, RtxParameters,
};
use opencall::rtp::keyframe::vp8_payload;
use opencall::testclient::{
    self, CLIENT_OPUS_PT as OPUS_PT, CLIENT_VP8_PT as VP8_PT, CLIENT_VP8_RTX_PT as VP8_RTX_PT,
};
use opencall::transport::{DtlsParameters, IceCandidate, IceParameters};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};

use str0m::media::Direction;
use str0m::media::{MediaKind as StrMediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionMap, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::{arrival, clock};

/// RTP payload sizes: a 1,200-byte video datagram (header, extensions and
/// SRTP tag included) and a typical 32 kbit/s opus frame.
pub const VIDEO_PAYLOAD: usize = 1_150;
pub const AUDIO_PAYLOAD: usize = 80;
/// A keyframe every this many video packets, besides those asked for.
const GOP_PACKETS: u64 = 200;

/// Marks the stamped body; found within the first bytes of the payload,
/// after the VP8 descriptor when there is one.
pub const STAMP_MAGIC: [u8; 4] = *b"OCbn";

struct SendStream {
    ssrc: Ssrc,
    pt: Pt,
    video: bool,
    seq: u64,
    ts: u32,
}

pub struct Peer {
    rtc: Rtc,
    pub socket: UdpSocket,
    local: SocketAddr,
    pub next_timeout: Instant,
    pub connected: bool,
    pub failed: bool,
    /// Decrypts every packet and records latencies.
    pub measured: bool,
    sends: Vec<SendStream>,
    ext_map: ExtensionMap,
    keyframe_wanted: bool,
    /// RTP datagrams received in the current window (counted before any
    /// decryption).
    pub rtp_in: u64,
    /// Per kind, packets sent in the current window: [audio, video].
    pub sent: [u64; 2],
    /// What this receiver consumes: (sender peer index, kind index).
    pub consumes: Vec<(usize, usize)>,
    /// One-way delays in microseconds (measured receivers only).
    pub latencies_us: Vec<f32>,
    /// When the datagram being handled reached the socket.
    arrived: Instant,
    /// The latest time given to str0m, which must not go backwards.
    last_input: Instant,
    out: Vec<Transmit>,
    /// An SDP offer awaiting its answer (peers of an SDP-speaking SFU).
    pending: Option<SdpPendingOffer>,
    offered: Vec<Mid>,
    /// ICE is set up, DTLS not started yet (see [`Peer::connect`]).
    dtls_pending: bool,
}

fn bind(ip: IpAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    socket.set_nonblocking(true)?;
    // Bursts of forwarded packets from many transports meet one reader: a
    // larger buffer keeps the generator from being the one that drops.
    set_rcvbuf(&socket, 4 << 20);
    Ok(socket)
}

pub fn set_rcvbuf(socket: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads `bytes` for the duration of the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &bytes as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as u32,
        );
    }
}

impl Peer {
    pub fn sender(now: Instant) -> std::io::Result<Self> {
        Self::build(
            testclient::sender_config(),
            ExtensionMap::standard(),
            false,
            now,
        )
    }

    pub fn receiver(
        router: &RtpCapabilities,
        measured: bool,
        now: Instant,
    ) -> std::io::Result<Self> {
        let (config, map) =
            testclient::receiver_config(router).map_err(|e| std::io::Error::other(e.message))?;
        Self::build(config, map, measured, now)
    }

    fn build(
        config: RtcConfig,
        ext_map: ExtensionMap,
        measured: bool,
        now: Instant,
    ) -> std::io::Result<Self> {
        Self::build_on(
            config,
            ext_map,
            measured,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            now,
        )
    }

    fn build_on(
        config: RtcConfig,
        ext_map: ExtensionMap,
        measured: bool,
        ip: IpAddr,
        now: Instant,
    ) -> std::io::Result<Self> {
        let socket = bind(ip)?;
        if measured {
            arrival::stamp_arrivals(&socket)?;
        }
        let local = socket.local_addr()?;
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(std::io::Error::other)?);
        let mut p = Self {
            rtc,
            socket,
            local,
            next_timeout: now,
            connected: false,
            failed: false,
            measured,
            sends: Vec::new(),
            ext_map,
            keyframe_wanted: true,
            rtp_in: 0,
            sent: [0; 2],
            consumes: Vec::new(),
            latencies_us: Vec::new(),
            arrived: now,
            last_input: now,
            out: Vec::new(),
            pending: None,
            offered: Vec::new(),
            dtls_pending: false,
        };
        p.drain();
        Ok(p)
    }

    /// A publisher for an SDP-speaking SFU (Janus): a sendonly opus and
    /// VP8 offer with str0m's default payload types; returns the offer.
    pub fn sdp_publisher(ip: IpAddr, now: Instant) -> Result<(Self, String), String> {
        let config = RtcConfig::new().set_rtp_mode(true);
        let mut p = Self::build_on(config, ExtensionMap::standard(), false, ip, now)
            .map_err(|e| e.to_string())?;
        let mut change = p.rtc.sdp_api();
        let audio = change.add_media(StrMediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = change.add_media(StrMediaKind::Video, Direction::SendOnly, None, None, None);
        p.offered = vec![audio, video];
        let (offer, pending) = change.apply().ok_or("empty offer")?;
        p.pending = Some(pending);
        p.drain();
        Ok((p, offer.to_sdp_string()))
    }

    /// Applies the SFU's answer and finds the send streams it accepted.
    pub fn sdp_answer(&mut self, answer: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| e.to_string())?;
        let pending = self.pending.take().ok_or("no pending offer")?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        self.drain();
        let mut sends = Vec::new();
        for video in [false, true] {
            let kind = if video {
                StrMediaKind::Video
            } else {
                StrMediaKind::Audio
            };
            let found = self.offered.iter().copied().find_map(|mid| {
                let media = self.rtc.media(mid)?;
                (media.kind() == kind).then(|| (mid, media.remote_pts().first().copied()))
            });
            let Some((mid, Some(pt))) = found else {
                return Err(format!("answer has no usable {kind:?} m-line"));
            };
            let ssrc = self
                .rtc
                .direct_api()
                .stream_tx_by_mid(mid, None)
                .map(|s| s.ssrc())
                .ok_or("no send stream for an answered m-line")?;
            sends.push(SendStream {
                ssrc,
                pt,
                video,
                seq: 1,
                ts: 0,
            });
        }
        self.sends = sends;
        Ok(())
    }

    /// A subscriber for an SDP-speaking SFU: answers its offer.
    pub fn sdp_subscriber(
        offer: &str,
        measured: bool,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(Self, String), String> {
        let config = RtcConfig::new().set_rtp_mode(true);
        let mut p = Self::build_on(config, ExtensionMap::standard(), measured, ip, now)
            .map_err(|e| e.to_string())?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| e.to_string())?;
        let answer = p
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?;
        p.drain();
        Ok((p, answer.to_sdp_string()))
    }

    /// ICE (controlling) toward a server transport; returns the
    /// dtlsParameters for `transport.connect()`. DTLS (client) waits for
    /// [`Self::start_dtls`], called once the transport is connected, as a
    /// browser's does.
    pub fn connect(
        &mut self,
        ice: &IceParameters,
        candidates: &[IceCandidate],
        dtls: &DtlsParameters,
    ) -> Result<DtlsParameters, String> {
        let own = testclient::prepare_connection(&mut self.rtc, ice, candidates, dtls)?;
        self.dtls_pending = true;
        self.drain();
        Ok(own)
    }

    /// Starts the DTLS handshake prepared by [`Self::connect`], once.
    pub fn start_dtls(&mut self) -> Result<(), String> {
        if std::mem::take(&mut self.dtls_pending) {
            testclient::start_dtls_client(&mut self.rtc)?;
            self.drain();
            self.flush();
        }
        Ok(())
    }

    /// Declares a VP8 (with RTX) and an opus send stream, as
    /// mediasoup-client's `transport.produce()` would; returns their
    /// rtpParameters as [video, audio].
    pub fn add_producers(&mut self, router: &RtpCapabilities) -> [RtpParameters; 2] {
        let video_mid = Mid::from("0");
        let audio_mid = Mid::from("1");
        let (v, vrtx, a) = {
            let mut api = self.rtc.direct_api();
            api.declare_media(video_mid, StrMediaKind::Video);
            api.declare_media(audio_mid, StrMediaKind::Audio);
            let (v, vrtx, a) = (api.new_ssrc(), api.new_ssrc(), api.new_ssrc());
            api.declare_stream_tx(v, Some(vrtx), video_mid, None);
            api.declare_stream_tx(a, None, audio_mid, None);
            (v, vrtx, a)
        };
        self.drain();
        self.sends = vec![
            SendStream {
                ssrc: a,
                pt: Pt::new_with_value(OPUS_PT),
                video: false,
                seq: 1,
                ts: 0,
            },
            SendStream {
                ssrc: v,
                pt: Pt::new_with_value(VP8_PT),
                video: true,
                seq: 1,
                ts: 0,
            },
        ];
        let rtcp = RtcpParameters {
            cname: Some("loadgen".into()),
            reduced_size: Some(true),
        };
        let video = RtpParameters {
            mid: Some("0".into()),
            codecs: vec![
                RtpCodecParameters {
                    mime_type: "video/VP8".into(),
                    payload_type: VP8_PT,
                    clock_rate: 90_000,
                    channels: None,
                    parameters: Default::default(),
                    rtcp_feedback: vec![
                        RtcpFeedback::new("goog-remb", ""),
                        RtcpFeedback::new("transport-cc", ""),
                        RtcpFeedback::new("ccm", "fir"),
                        RtcpFeedback::new("nack", ""),
                        RtcpFeedback::new("nack", "pli"),
                    ],
                },
                RtpCodecParameters {
                    mime_type: "video/rtx".into(),
                    payload_type: VP8_RTX_PT,
                    clock_rate: 90_000,
                    channels: None,
                    parameters: [("apt".to_owned(), serde_json::Value::from(VP8_PT))]
                        .into_iter()
                        .collect(),
                    rtcp_feedback: vec![],
                },
            ],
            header_extensions: testclient::header_extension_params(
                &self.ext_map,
                MediaKind::Video,
                router,
            ),
            encodings: vec![RtpEncodingParameters {
                ssrc: Some(*v),
                rtx: Some(RtxParameters { ssrc: *vrtx }),
                ..Default::default()
            }],
            rtcp: rtcp.clone(),
            msid: None,
        };
        let audio = RtpParameters {
            mid: Some("1".into()),
            codecs: vec![RtpCodecParameters {
                mime_type: "audio/opus".into(),
                payload_type: OPUS_PT,
                clock_rate: 48_000,
                channels: Some(2),
                parameters: [
                    ("minptime".to_owned(), serde_json::Value::from(10)),
                    ("useinbandfec".to_owned(), serde_json::Value::from(1)),
                ]
                .into_iter()
                .collect(),
                rtcp_feedback: vec![RtcpFeedback::new("transport-cc", "")],
            }],
            header_extensions: testclient::header_extension_params(
                &self.ext_map,
                MediaKind::Audio,
                router,
            ),
            encodings: vec![RtpEncodingParameters {
                ssrc: Some(*a),
                ..Default::default()
            }],
            rtcp,
            msid: None,
        };
        [video, audio]
    }

    /// Prepares to receive one consumer (mediasoup-client's
    /// `transport.consume()`).
    pub fn expect_consumer(&mut self, kind: MediaKind, rtp: &RtpParameters) -> Result<(), String> {
        testclient::expect_consumer_stream(&mut self.rtc, kind, rtp)?;
        self.drain();
        Ok(())
    }

    /// A producing peer (its send streams are declared).
    pub fn sends_media(&self) -> bool {
        !self.sends.is_empty()
    }

    /// Sends one packet of stream `kind` (0 audio, 1 video), stamped with
    /// the send time.
    pub fn send_packet(&mut self, kind: usize, now: Instant) {
        if !self.connected || self.failed {
            return;
        }
        let Some(s) = self.sends.get_mut(kind) else {
            return;
        };
        let size = if s.video {
            VIDEO_PAYLOAD
        } else {
            AUDIO_PAYLOAD
        };
        let mut body = vec![0u8; size - if s.video { 14 } else { 0 }];
        body[..4].copy_from_slice(&STAMP_MAGIC);
        body[4..12].copy_from_slice(&clock::nanos(now).to_be_bytes());
        let payload: Arc<[u8]> = if s.video {
            let keyframe = self.keyframe_wanted || s.seq % GOP_PACKETS == 1;
            if keyframe {
                self.keyframe_wanted = false;
            }
            vp8_payload(keyframe, (s.seq & 0x7fff) as u16, &body).into()
        } else {
            body.into()
        };
        let write = RtpWrite::new(s.pt, SeqNo::from(s.seq), s.ts, now, payload)
            .marker(true)
            .nackable(s.video);
        s.seq += 1;
        // 30 frames/s of video, 20 ms of audio per packet.
        s.ts = s.ts.wrapping_add(if s.video { 3000 } else { 960 });
        let ssrc = s.ssrc;
        self.sent[kind] += 1;
        if let Some(tx) = self.rtc.direct_api().stream_tx(&ssrc) {
            tx.write_rtp(write);
        }
        self.drain();
        self.run_due(now);
    }

    /// Reads everything the socket holds.
    pub fn on_readable(&mut self, buf: &mut [u8]) {
        loop {
            match arrival::recv(&self.socket, buf) {
                Ok((n, from, arrived)) => {
                    self.arrived = arrived;
                    let data = &buf[..n];
                    let rtp = is_rtp(data);
                    if rtp {
                        self.rtp_in += 1;
                        if !self.measured {
                            continue;
                        }
                    }
                    if self.failed {
                        continue;
                    }
                    if let Ok(r) = Receive::new(Protocol::Udp, from, self.local, data) {
                        // The arrival time, as a browser gives its stack: the
                        // transport-wide feedback to the SFU reports it.
                        self.last_input = self.last_input.max(arrived);
                        let _ = self.rtc.handle_input(Input::Receive(self.last_input, r));
                        self.drain();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
        self.run_due(Instant::now());
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_due(now);
    }

    fn run_due(&mut self, now: Instant) {
        let mut n = 0;
        while !self.failed && self.next_timeout <= now && n < 64 {
            self.last_input = self.last_input.max(now);
            let _ = self.rtc.handle_input(Input::Timeout(self.last_input));
            self.drain();
            n += 1;
        }
        self.flush();
    }

    fn flush(&mut self) {
        for t in self.out.drain(..) {
            // A full send buffer drops the packet, as a network would.
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
    }

    fn drain(&mut self) {
        while !self.failed {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => self.out.push(t),
                Ok(Output::Event(e)) => self.on_event(e),
                Err(_) => self.failed = true,
            }
        }
        self.flush();
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => self.connected = true,
            Event::KeyframeRequest(_) => self.keyframe_wanted = true,
            Event::RtpPacket(p) => {
                let head = &p.payload[..p.payload.len().min(32)];
                if let Some(at) = head.windows(4).position(|w| w == STAMP_MAGIC) {
                    let b = &p.payload[at + 4..];
                    if b.len() >= 8 {
                        let sent = u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8]));
                        // In RTP mode str0m emits a packet in the drain right
                        // after its datagram's input, so this is its arrival
                        // (p.timestamp may be later: time given to str0m
                        // never goes back).
                        let delay = clock::nanos(self.arrived).saturating_sub(sent);
                        self.latencies_us.push(delay as f32 / 1000.0);
                    }
                }
            }
            _ => {}
        }
    }

    /// Nothing to do before this instant (bounded so that senders and
    /// commands are looked at regularly). A failed peer has nothing to do:
    /// its str0m timeout is no longer advanced.
    pub fn deadline(&self) -> Instant {
        let bound = Instant::now() + Duration::from_secs(1);
        if self.failed {
            bound
        } else {
            self.next_timeout.min(bound)
        }
    }
}

/// RTP rather than RTCP, STUN or DTLS (RFC 7983 demultiplexing, then the
/// RTCP packet types 192–223 of RFC 5761).
pub fn is_rtp(data: &[u8]) -> bool {
    data.len() >= 12 && (128..=191).contains(&data[0]) && !(192..=223).contains(&data[1])
}
