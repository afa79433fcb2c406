//! End-to-end media through two `WebRtcTransport`s and a `Router`, in
//! memory with a virtual clock: a test client produces on transport A, a
//! second one consumes on transport B. Real ICE, DTLS and SRTP; no sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opencall::id_map::SlotKey;
use opencall::ortc::types::{
    MediaKind, RtcpFeedback, RtcpParameters, RtpCapabilities, RtpCodecParameters,
    RtpEncodingParameters, RtpHeaderExtensionParameters, RtpMapping, RtpMappingCodec,
    RtpMappingEncoding, RtpParameters, RtxParameters,
};
use opencall::router::{ConsumerOptions, ConsumerRoute, ProducerOptions, RouteOutput, Router};
use opencall::testclient::TestClient;
use opencall::testclient::capabilities::{
    ROUTER_OPUS_PT, ROUTER_VP8_PT, ROUTER_VP8_RTX_PT, mediasoup_like_router_capabilities,
};
use opencall::transport::{
    DtlsParameters, DtlsState, ListenInfo, TransportEvent, TransportOutput, WebRtcTransport,
    WebRtcTransportOptions,
};
use str0m::config::DtlsCert;
use str0m::net::{Protocol, Transmit};

const TICK: Duration = Duration::from_millis(10);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn cert() -> DtlsCert {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .expect("certificate")
}

fn transport(
    cert: &DtlsCert,
    caps: &RtpCapabilities,
    listen: SocketAddr,
    now: Instant,
) -> WebRtcTransport {
    WebRtcTransport::new(
        WebRtcTransportOptions {
            listen_infos: vec![ListenInfo {
                protocol: Protocol::Udp,
                address: listen,
            }],
            dtls_cert: cert.clone(),
            router_capabilities: caps.clone(),
            initial_available_outgoing_bitrate: None,
            stats_interval: Some(Duration::from_secs(1)),
            sctp_max_message_size: None,
        },
        now,
    )
    .expect("transport")
}

/// SRTP leaves the RTP header in clear: (ssrc, seq) of an RTP datagram.
fn rtp_ids(buf: &[u8]) -> Option<(u32, u16)> {
    if buf.len() < 12 || buf[0] >> 6 != 2 || (64..96).contains(&(buf[1] & 0x7f)) {
        return None;
    }
    Some((
        u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        u16::from_be_bytes([buf[2], buf[3]]),
    ))
}

struct Leg {
    client: TestClient,
    transport: WebRtcTransport,
    to_transport: Vec<Transmit>,
    to_client: Vec<Transmit>,
    tout: TransportOutput,
    /// Drop a datagram toward the client once: (ssrc, seq).
    drop_to_client: Option<(u32, u16)>,
    dropped: u64,
    /// The path from the client to the transport is cut: all is lost.
    cut_to_transport: bool,
    /// Drop the client's RTP of this SSRC once, after this many went through.
    drop_to_transport: Option<(u32, usize)>,
    /// A NAT in front of the client, which maps it to this address: what
    /// the transport sends elsewhere is lost.
    nat: Option<SocketAddr>,
    lost_to_old_address: u64,
}

impl Leg {
    fn new(client: TestClient, transport: WebRtcTransport) -> Self {
        Self {
            client,
            transport,
            to_transport: vec![],
            to_client: vec![],
            tout: TransportOutput::default(),
            drop_to_client: None,
            dropped: 0,
            cut_to_transport: false,
            drop_to_transport: None,
            nat: None,
            lost_to_old_address: 0,
        }
    }

    fn connect(&mut self) -> DtlsParameters {
        let ice = self.transport.ice_parameters();
        let cands = self.transport.ice_candidates().to_vec();
        let dtls = self.transport.dtls_parameters();
        self.client
            .connect(&ice, &cands, &dtls, &mut self.to_transport)
    }

    /// Moves datagrams both ways until quiet; transport events are left in
    /// `tout.events` for the world to handle.
    fn exchange(&mut self, now: Instant) {
        for _ in 0..64 {
            if self.to_transport.is_empty() && self.to_client.is_empty() {
                break;
            }
            if self.cut_to_transport {
                self.to_transport.clear();
            }
            for mut t in std::mem::take(&mut self.to_transport) {
                if let Some(public) = self.nat {
                    t.source = public;
                }
                if let Some((ssrc, after)) = self.drop_to_transport.as_mut()
                    && rtp_ids(&t.contents).is_some_and(|(s, _)| s == *ssrc)
                {
                    if *after == 0 {
                        self.drop_to_transport = None;
                        self.dropped += 1;
                        continue;
                    }
                    *after -= 1;
                }
                self.transport.handle_receive(
                    now,
                    t.proto,
                    t.source,
                    t.destination,
                    &t.contents,
                    &mut self.tout,
                );
            }
            self.to_client.append(&mut self.tout.transmits);
            for t in std::mem::take(&mut self.to_client) {
                if self.nat.is_some_and(|public| t.destination != public) {
                    self.lost_to_old_address += 1;
                    continue;
                }
                if self.drop_to_client.is_some() && self.drop_to_client == rtp_ids(&t.contents) {
                    self.drop_to_client = None;
                    self.dropped += 1;
                    continue;
                }
                self.client
                    .handle_receive(now, t.source, &t.contents, &mut self.to_transport);
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        if self.client.poll_timeout() <= now {
            self.client.handle_timeout(now, &mut self.to_transport);
        }
        if self.transport.poll_timeout() <= now {
            self.transport.handle_timeout(now, &mut self.tout);
        }
        self.to_client.append(&mut self.tout.transmits);
    }
}

struct World {
    now: Instant,
    caps: RtpCapabilities,
    a: Leg,
    b: Leg,
    router: Router,
    rout: RouteOutput,
    a_failed: bool,
    /// `Connected` events from B's transport (its consumers may send).
    b_connected: u32,
    /// NACK packets A's transport sent for its producers, and B's got for
    /// its consumers, as their events counted them.
    a_producer_nacks: u64,
    b_consumer_nacks: u64,
}

impl World {
    fn new() -> Self {
        let now = Instant::now();
        let caps = mediasoup_like_router_capabilities();
        let cert = cert();
        let a = Leg::new(
            TestClient::sender(addr("10.0.0.2:5000"), now),
            transport(&cert, &caps, addr("10.0.0.1:4000"), now),
        );
        let b = Leg::new(
            TestClient::receiver(addr("10.0.0.3:5000"), &caps, now),
            transport(&cert, &caps, addr("10.0.0.1:4001"), now),
        );
        Self {
            now,
            caps,
            a,
            b,
            router: Router::new(),
            rout: RouteOutput::default(),
            a_failed: false,
            b_connected: 0,
            a_producer_nacks: 0,
            b_consumer_nacks: 0,
        }
    }

    fn connect_both(&mut self) {
        let da = self.a.connect();
        self.a.transport.connect(&da, &mut self.a.tout).unwrap();
        let db = self.b.connect();
        self.b.transport.connect(&db, &mut self.b.tout).unwrap();
        self.run_until(Duration::from_secs(5), |w| {
            w.a.client.is_connected() && w.b.client.is_connected()
        });
        assert!(self.a.client.is_connected() && self.b.client.is_connected());
        assert_eq!(self.a.transport.dtls_state(), DtlsState::Connected);
        assert_eq!(self.b.transport.dtls_state(), DtlsState::Connected);
        assert!(self.a.transport.ice_selected_tuple().is_some());
    }

    /// One step of the virtual clock: network, timers, routing.
    fn step(&mut self) {
        let now = self.now;
        self.a.timers(now);
        self.b.timers(now);
        for _ in 0..8 {
            self.a.exchange(now);
            self.route(now);
            self.b.exchange(now);
            self.route(now);
            if self.a.to_transport.is_empty()
                && self.a.to_client.is_empty()
                && self.b.to_transport.is_empty()
                && self.b.to_client.is_empty()
            {
                break;
            }
        }
        if self.router.poll_timeout().is_some_and(|t| t <= now) {
            self.router.handle_timeout(now, &mut self.rout);
            self.apply_router_output(now);
        }
    }

    fn route(&mut self, now: Instant) {
        for e in std::mem::take(&mut self.a.tout.events) {
            match e {
                TransportEvent::ProducerRtp {
                    producer_id,
                    encoding,
                    packet,
                } => {
                    self.router
                        .route_packet(&producer_id, encoding, &packet, now, &mut self.rout);
                }
                TransportEvent::DtlsStateChange(DtlsState::Failed) => self.a_failed = true,
                TransportEvent::ProducerNack { count, .. } => self.a_producer_nacks += count,
                _ => {}
            }
        }
        for e in std::mem::take(&mut self.b.tout.events) {
            match e {
                TransportEvent::KeyframeRequest {
                    consumer_id,
                    kind,
                    stream,
                } => {
                    self.router.on_consumer_keyframe_request(
                        &consumer_id,
                        kind,
                        stream,
                        now,
                        &mut self.rout,
                    );
                }
                TransportEvent::Connected => self.b_connected += 1,
                TransportEvent::ConsumerNack { .. } => self.b_consumer_nacks += 1,
                _ => {}
            }
        }
        self.apply_router_output(now);
    }

    fn apply_router_output(&mut self, now: Instant) {
        for f in self.rout.forwards.drain(..) {
            self.b
                .transport
                .write_rtp(f.route.consumer, &f.packet, now, &mut self.b.tout)
                .unwrap();
        }
        self.b.to_client.append(&mut self.b.tout.transmits);
        for k in self.rout.keyframe_requests.drain(..) {
            self.a.transport.request_keyframe(
                &k.producer_id,
                Some(k.encoding),
                k.kind,
                &mut self.a.tout,
            );
        }
        self.a.to_client.append(&mut self.a.tout.transmits);
        self.rout.layer_changes.clear();
    }

    fn run_until(&mut self, max: Duration, done: impl Fn(&World) -> bool) {
        let end = self.now + max;
        while self.now < end && !done(self) {
            self.step();
            self.now += TICK;
        }
    }

    /// Produces on A (client + transport + router) and consumes it on B.
    fn produce_and_consume(
        &mut self,
        kind: MediaKind,
        mid: &str,
        rids: &[&str],
    ) -> (RtpParameters, RtpParameters) {
        let params = match kind {
            MediaKind::Video => {
                self.a
                    .client
                    .add_video_producer(mid, rids, &self.caps, &mut self.a.to_transport)
            }
            MediaKind::Audio => {
                self.a
                    .client
                    .add_audio_producer(mid, &self.caps, &mut self.a.to_transport)
            }
        };
        let pid: Arc<str> = Arc::from(format!("producer-{mid}"));
        self.a
            .transport
            .add_producer(pid.clone(), kind, &params, &mut self.a.tout)
            .expect("produce accepted");
        let mapping = RtpMapping {
            codecs: params
                .codecs
                .iter()
                .map(|c| RtpMappingCodec {
                    payload_type: c.payload_type,
                    mapped_payload_type: match c.mime_type.as_str() {
                        "video/VP8" => ROUTER_VP8_PT,
                        "video/rtx" => ROUTER_VP8_RTX_PT,
                        _ => ROUTER_OPUS_PT,
                    },
                })
                .collect(),
            encodings: params
                .encodings
                .iter()
                .enumerate()
                .map(|(i, e)| RtpMappingEncoding {
                    ssrc: e.ssrc,
                    rid: e.rid.clone(),
                    scalability_mode: None,
                    mapped_ssrc: 90_000 + i as u32,
                })
                .collect(),
        };
        self.router
            .add_producer(ProducerOptions {
                id: pid.clone(),
                transport_id: Arc::from("A"),
                kind,
                rtp_parameters: params.clone(),
                rtp_mapping: mapping,
                paused: false,
            })
            .unwrap();

        let consumer = consumer_parameters(kind, mid, &self.caps);
        let cid: Arc<str> = Arc::from(format!("consumer-{mid}"));
        let sender = self
            .b
            .transport
            .add_consumer(cid.clone(), kind, &consumer)
            .expect("consume accepted");
        self.b
            .client
            .expect_consumer(kind, &consumer, &mut self.b.to_transport);
        self.router
            .add_consumer(
                ConsumerOptions {
                    id: cid,
                    producer_id: pid,
                    transport_id: Arc::from("B"),
                    paused: false,
                    preferred_layer: None,
                    preferred_temporal: None,
                    initial_seq: 1000,
                    pipe: false,
                    // One receiving transport: only its consumer key is used.
                    route: ConsumerRoute {
                        transport: SlotKey::default(),
                        consumer: sender,
                    },
                },
                self.now,
                &mut self.rout,
            )
            .unwrap();
        self.apply_router_output(self.now);
        (params, consumer)
    }

    /// Sends media for `duration`: a VP8 packet per layer and an opus
    /// packet every tick; keyframes every 2 s and on request.
    fn send_media(&mut self, mids: &[(&str, MediaKind)], duration: Duration) -> u32 {
        let end = self.now + duration;
        let mut ticks = 0u32;
        let mut seen_requests = self.a.client.keyframe_requests.len();
        while self.now < end {
            let asked = self.a.client.keyframe_requests.len() > seen_requests;
            seen_requests = self.a.client.keyframe_requests.len();
            for (mid, kind) in mids {
                let key = *kind == MediaKind::Video && (ticks.is_multiple_of(200) || asked);
                self.a
                    .client
                    .send_media(mid, self.now, key, &mut self.a.to_transport);
            }
            self.step();
            self.now += TICK;
            ticks += 1;
        }
        ticks
    }
}

fn consumer_parameters(kind: MediaKind, mid: &str, caps: &RtpCapabilities) -> RtpParameters {
    let codecs: Vec<RtpCodecParameters> = caps
        .codecs
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| RtpCodecParameters {
            mime_type: c.mime_type.clone(),
            payload_type: c.preferred_payload_type.unwrap(),
            clock_rate: c.clock_rate,
            channels: c.channels,
            parameters: c.parameters.clone(),
            rtcp_feedback: c.rtcp_feedback.clone(),
        })
        .collect();
    let video = kind == MediaKind::Video;
    let ssrc = if video { 0x1111_0000 } else { 0x2222_0000 };
    RtpParameters {
        mid: Some(mid.to_owned()),
        codecs,
        header_extensions: caps
            .header_extensions
            .iter()
            .filter(|h| h.kind == kind)
            .map(|h| RtpHeaderExtensionParameters {
                uri: h.uri.clone(),
                id: h.preferred_id,
                encrypt: false,
                parameters: Default::default(),
            })
            .collect(),
        encodings: vec![RtpEncodingParameters {
            ssrc: Some(ssrc),
            rtx: video.then_some(RtxParameters { ssrc: ssrc + 1 }),
            ..Default::default()
        }],
        rtcp: RtcpParameters {
            cname: Some("consumer".into()),
            reduced_size: Some(true),
        },
        msid: None,
    }
}

/// Sorted, deduplicated sequence numbers must have no hole.
fn assert_contiguous(seqs: &[u64], what: &str) {
    let mut s = seqs.to_vec();
    s.sort_unstable();
    s.dedup();
    let first = s[0];
    for (i, v) in s.iter().enumerate() {
        assert_eq!(*v, first + i as u64, "{what}: hole in sequence numbers");
    }
}

#[test]
fn vp8_and_opus_flow_with_rewriting_and_nack() {
    let _serial = crate::common::serial();
    let mut w = World::new();
    w.connect_both();
    let (video_p, video_c) = w.produce_and_consume(MediaKind::Video, "0", &[]);
    let (_, audio_c) = w.produce_and_consume(MediaKind::Audio, "1", &[]);
    let video_ssrc = video_c.encodings[0].ssrc.unwrap();
    let audio_ssrc = audio_c.encodings[0].ssrc.unwrap();
    // The network toward the consumer loses one video packet once, and so
    // does the network from the producer, later.
    w.b.drop_to_client = Some((video_ssrc, 1050));
    w.a.drop_to_transport = Some((video_p.encodings[0].ssrc.unwrap(), 100));

    let ticks = w.send_media(
        &[("0", MediaKind::Video), ("1", MediaKind::Audio)],
        Duration::from_secs(4),
    );
    w.run_until(Duration::from_millis(500), |_| false);

    let v = &w.b.client.received[&video_ssrc];
    let a = &w.b.client.received[&audio_ssrc];
    println!(
        "ticks {ticks}: video {} packets (first seq {}), audio {} packets, dropped {}",
        v.packets, v.seqs[0], a.packets, w.b.dropped
    );
    assert_eq!(w.b.dropped, 1, "the drop filter fired");
    assert_eq!(w.a.dropped, 1, "the producer-side drop filter fired");
    // Everything sent was forwarded (the very first packets may precede
    // the server's produce(), as with mediasoup).
    assert!(
        v.packets as u32 >= ticks - 3,
        "video {} of {ticks}",
        v.packets
    );
    assert!(
        a.packets as u32 >= ticks - 3,
        "audio {} of {ticks}",
        a.packets
    );
    assert_eq!(v.corrupt_payloads, 0);
    assert_eq!(a.corrupt_payloads, 0);
    assert!(v.payload_types.iter().all(|pt| *pt == ROUTER_VP8_PT));
    assert!(a.payload_types.iter().all(|pt| *pt == ROUTER_OPUS_PT));
    assert_eq!(v.seqs[0], 1000, "consumer numbering starts at initial_seq");
    assert_contiguous(&v.seqs, "video");
    assert_contiguous(&a.seqs, "audio");
    // NACK → RTX recovered the dropped packet: seq 1050 arrived, late.
    assert!(v.seqs.contains(&1050));
    let pos = v.seqs.iter().position(|s| *s == 1050).unwrap();
    assert!(
        v.seqs[pos - 1] > 1050,
        "1050 came back out of order via RTX"
    );
    // Payloads are the producer's, in order.
    let mut counters: Vec<u32> = v.bodies.iter().map(|b| b.1).collect();
    counters.sort_unstable();
    assert!(counters.windows(2).all(|w| w[1] == w[0] + 1));

    let ts = w.b.transport.stats();
    assert!(ts.rtp_packets_sent >= v.packets + a.packets - 1);
    // The resend is counted as RTX, not as RTP (mediasoup's split).
    assert!(ts.rtx_bytes_sent > 0);
    let ta = w.a.transport.stats();
    assert!(ta.rtp_packets_received >= v.packets + a.packets - 1);
    // The producer's resend arrived as RTX and is counted as such.
    assert!(ta.rtx_bytes_received > 0, "the resend counted as RTX");
    // Bytes are whole RTP packets, headers included (mediasoup's count): at
    // least the forwarded payloads and a 12-byte header each.
    let forwarded = v.bytes + a.bytes + 12 * (v.packets + a.packets);
    assert!(
        ta.rtp_bytes_received + ta.rtx_bytes_received >= forwarded,
        "{} + {} bytes received, {forwarded} forwarded",
        ta.rtp_bytes_received,
        ta.rtx_bytes_received
    );
    let ps = w.a.transport.producer_stats("producer-0");
    assert_eq!(ps.len(), 1);
    assert!(ps[0].packets > 0);
    // The dropped packet came back as RTX and filled its gap (str0m hands
    // over no duplicate, so every retransmission counted repaired one).
    assert!(ps[0].repaired >= 1, "{ps:?}");
    assert_eq!(ps[0].retransmitted, ps[0].repaired);
    let cs = w.b.transport.consumer_stats("consumer-0").unwrap();
    assert_eq!(cs.ssrc, video_ssrc);
    // Each NACK packet is an event (the `nack` trace's source), as counted.
    assert!(cs.nacks >= 1);
    assert_eq!(w.b_consumer_nacks, cs.nacks);
    assert!(ps[0].nacks >= 1, "the producer's gap was NACKed");
    assert_eq!(w.a_producer_nacks, ps[0].nacks);
    // The consumer's sender reports came back in the browser's receiver
    // reports (round trip), and its transport feedback moved the estimate.
    println!(
        "consumer rtt {:?} loss {:?}; estimate {:?}, egress loss {:?}",
        cs.rtt, cs.loss, ts.available_outgoing_bitrate, ts.egress_loss_fraction
    );
    assert!(cs.rtt.is_some(), "a round trip from the receiver reports");
    assert!(cs.loss.is_some());
    assert!(ts.egress_loss_fraction.is_some());
    assert_ne!(
        ts.available_outgoing_bitrate,
        Some(600_000),
        "feedback moved the estimate"
    );

    // A PLI from the consuming browser reaches the producing one.
    let asked = w.a.client.keyframe_requests.len();
    w.b.client
        .request_keyframe(video_ssrc, &mut w.b.to_transport);
    w.run_until(Duration::from_millis(300), |_| false);
    let cs = w.b.transport.consumer_stats("consumer-0").unwrap();
    assert_eq!(cs.plis, 1);
    assert!(
        w.a.client.keyframe_requests.len() > asked,
        "PLI forwarded to the producer"
    );
}

#[test]
fn simulcast_producer_without_ssrcs_is_forwarded_from_the_top_layer() {
    let _serial = crate::common::serial();
    let mut w = World::new();
    w.connect_both();
    let (_, consumer) = w.produce_and_consume(MediaKind::Video, "0", &["r0", "r1", "r2"]);
    let ssrc = consumer.encodings[0].ssrc.unwrap();
    let ticks = w.send_media(&[("0", MediaKind::Video)], Duration::from_secs(4));
    w.run_until(Duration::from_millis(300), |_| false);

    let v = &w.b.client.received[&ssrc];
    let top_tag = 3; // the client tags streams 1, 2, 3 in rid order
    let from_top = v.bodies.iter().filter(|b| b.0 == top_tag).count();
    println!(
        "ticks {ticks}: received {} packets, {} from r2, layer {:?}",
        v.packets,
        from_top,
        w.router.current_layer("consumer-0")
    );
    assert_eq!(w.router.current_layer("consumer-0"), Some(2));
    assert_eq!(v.corrupt_payloads, 0);
    assert!(v.payload_types.iter().all(|pt| *pt == ROUTER_VP8_PT));
    assert_contiguous(&v.seqs, "simulcast");
    // After the switch everything comes from r2; it started within the
    // first second thanks to the keyframe request.
    assert!(
        from_top as u32 >= ticks - 100,
        "{from_top} of {ticks} from r2"
    );
    // Each of the three rid streams reached the router.
    let ps = w.a.transport.producer_stats("producer-0");
    assert_eq!(ps.len(), 3);
    assert!(ps.iter().all(|s| s.packets as u32 >= ticks - 3), "{ps:?}");
}

#[test]
fn wrong_dtls_fingerprint_fails_cleanly() {
    let _serial = crate::common::serial();
    let mut w = World::new();
    let mut d = w.a.connect();
    // Flip the client's fingerprint as the server will see it.
    let first = &mut d.fingerprints[0].value;
    let flipped = if first.starts_with('0') { "1" } else { "0" };
    first.replace_range(0..1, flipped);
    w.a.transport.connect(&d, &mut w.a.tout).unwrap();
    w.run_until(Duration::from_secs(5), |w| w.a_failed);
    assert!(w.a_failed, "DtlsState::Failed reported");
    assert_eq!(w.a.transport.dtls_state(), DtlsState::Failed);
    assert!(!w.a.transport.is_alive());
    // Further use is refused cleanly, not panicking.
    let err =
        w.a.transport
            .add_producer(
                Arc::from("x"),
                MediaKind::Audio,
                &RtpParameters::default(),
                &mut w.a.tout,
            )
            .unwrap_err();
    assert_eq!(err.kind, opencall::error::ErrorKind::InvalidStateError);
    // connect() twice is an InvalidStateError too.
    let err =
        w.b.transport
            .connect(&d, &mut w.b.tout)
            .and_then(|_| w.b.transport.connect(&d, &mut w.b.tout));
    assert_eq!(
        err.unwrap_err().kind,
        opencall::error::ErrorKind::InvalidStateError
    );
}

#[test]
fn unsupported_codec_and_bad_parameters_are_rejected() {
    let _serial = crate::common::serial();
    let mut w = World::new();
    w.connect_both();
    let mut params =
        w.a.client
            .add_audio_producer("1", &w.caps, &mut w.a.to_transport);
    params.codecs[0].mime_type = "audio/G7221".into();
    let err =
        w.a.transport
            .add_producer(Arc::from("p"), MediaKind::Audio, &params, &mut w.a.tout)
            .unwrap_err();
    assert_eq!(err.kind, opencall::error::ErrorKind::UnsupportedError);
    let mut bad = consumer_parameters(MediaKind::Video, "0", &w.caps);
    bad.encodings[0].ssrc = None;
    let err =
        w.b.transport
            .add_consumer(Arc::from("c"), MediaKind::Video, &bad)
            .unwrap_err();
    assert_eq!(err.kind, opencall::error::ErrorKind::TypeError);
    let _ = RtcpFeedback::new("nack", "");
}

/// An audio producer on A consumed on B, produced before both connect, and
/// 1 s of its audio received: the world and the consumer's SSRC.
fn flowing_audio() -> (World, u32) {
    let mut w = World::new();
    // mediasoup allows produce() before connect(): the offer waits for the
    // fingerprint.
    let (_, consumer) = w.produce_and_consume(MediaKind::Audio, "1", &[]);
    w.connect_both();
    let ssrc = consumer.encodings[0].ssrc.unwrap();
    w.send_media(&[("1", MediaKind::Audio)], Duration::from_secs(1));
    let flowed = w.b.client.received[&ssrc].packets;
    assert!(flowed >= 95, "audio flowed: {flowed}");
    (w, ssrc)
}

#[test]
fn produce_before_connect_and_ice_restart_keep_media_flowing() {
    let _serial = crate::common::serial();
    let (mut w, ssrc) = flowing_audio();
    let before = w.b.client.received[&ssrc].packets;

    // Both sides restart ICE on the producer leg; the server learns the
    // browser's new ufrag from its STUN requests.
    let old = w.a.transport.ice_parameters();
    let fresh = w.a.transport.restart_ice(&mut w.a.tout).unwrap();
    assert_ne!(old.username_fragment, fresh.username_fragment);
    w.a.client.restart_ice(&fresh, &mut w.a.to_transport);
    w.send_media(&[("1", MediaKind::Audio)], Duration::from_secs(20));
    let after = w.b.client.received[&ssrc].packets;
    assert!(
        after - before >= 1990,
        "audio kept flowing: {}",
        after - before
    );
    assert!(w.a.client.is_connected());
    assert!(matches!(
        w.a.transport.ice_state(),
        opencall::transport::IceState::Connected | opencall::transport::IceState::Completed
    ));
    assert_contiguous(&w.b.client.received[&ssrc].seqs, "audio across restart");
}

#[test]
fn consumers_stop_while_ice_is_lost_and_the_transport_says_when_it_is_back() {
    let _serial = crate::common::serial();
    let (mut w, ssrc) = flowing_audio();
    assert_eq!(w.b_connected, 1, "connected once with DTLS");

    // The receiving browser's checks stop reaching the server: ICE-lite
    // gives the pair up, and nothing more is sent to that peer.
    w.b.cut_to_transport = true;
    w.send_media(&[("1", MediaKind::Audio)], Duration::from_secs(16));
    assert_eq!(
        w.b.transport.ice_state(),
        opencall::transport::IceState::Disconnected
    );
    let during = w.b.client.received[&ssrc].packets;
    w.send_media(&[("1", MediaKind::Audio)], Duration::from_secs(1));
    assert_eq!(
        w.b.client.received[&ssrc].packets, during,
        "nothing sent while ICE is lost"
    );

    // The path comes back: the browser's next checks revive the pair, the
    // transport says it may send again (the worker then asks the producers
    // for keyframes: what was dropped left the pictures without one), and
    // media flows.
    w.b.cut_to_transport = false;
    w.send_media(&[("1", MediaKind::Audio)], Duration::from_secs(20));
    assert!(matches!(
        w.b.transport.ice_state(),
        opencall::transport::IceState::Connected | opencall::transport::IceState::Completed
    ));
    assert_eq!(w.b_connected, 2, "connected again after the outage");
    let after = w.b.client.received[&ssrc].packets;
    assert!(
        after - during >= 100,
        "audio flows again: {}",
        after - during
    );
}

#[test]
fn a_browser_that_moves_is_followed_at_its_next_nomination_and_back() {
    let _serial = crate::common::serial();
    let (mut w, ssrc) = flowing_audio();
    let first = w.b.transport.ice_selected_tuple().unwrap().remote_port;
    assert_eq!(first, 5000);

    // The receiving browser's NAT maps it to a new address (a network
    // change, a rebinding): its checks, which nominate its pair, now come
    // from there, and what goes to the old address is lost.
    let move_to = |w: &mut World, public: &str| {
        let public = addr(public);
        w.b.nat = Some(public);
        w.b.lost_to_old_address = 0;
        let before = w.b.client.received[&ssrc].packets;
        w.send_media(&[("1", MediaKind::Audio)], Duration::from_secs(4));
        // Followed at the browser's next nominating check, as mediasoup's
        // ICE server does, not 15 s later when the old pair would time out.
        let tuple = w.b.transport.ice_selected_tuple().unwrap();
        assert_eq!(
            (tuple.remote_ip.parse().unwrap(), tuple.remote_port),
            (public.ip(), public.port())
        );
        let got = w.b.client.received[&ssrc].packets - before;
        println!(
            "to {public}: {got} packets in 4 s, {} lost to the old address",
            w.b.lost_to_old_address
        );
        // Lost until the test client's next check, which nominates: up to
        // about 2.5 s here; the old pair's 15 s would lose all of them.
        assert!(got >= 100, "audio reaches {public}: {got}");
        assert!(
            w.b.lost_to_old_address < 350,
            "lost until followed: {}",
            w.b.lost_to_old_address
        );
    };
    // And back and forth between addresses it left, which the transport
    // takes again each time.
    for _ in 0..3 {
        move_to(&mut w, "10.0.0.99:6000");
        move_to(&mut w, "10.0.0.3:5000");
    }
}
