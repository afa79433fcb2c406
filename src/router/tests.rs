use super::*;
use crate::ortc::types::{
    RtpCodecParameters, RtpEncodingParameters, RtpMappingCodec, RtpMappingEncoding,
};
use crate::rtp::keyframe::vp8_payload;

const BROWSER_VP8: u8 = 96;
const ROUTER_VP8: u8 = 101;
const BROWSER_OPUS: u8 = 111;
const ROUTER_OPUS: u8 = 100;

fn id(s: &str) -> Id {
    Arc::from(s)
}

fn producer(kind: MediaKind, rids: &[&str]) -> ProducerOptions {
    let (mime, bpt, rpt, clock) = match kind {
        MediaKind::Video => ("video/VP8", BROWSER_VP8, ROUTER_VP8, 90_000),
        MediaKind::Audio => ("audio/opus", BROWSER_OPUS, ROUTER_OPUS, 48_000),
    };
    let encodings: Vec<RtpEncodingParameters> = if rids.is_empty() {
        vec![RtpEncodingParameters {
            ssrc: Some(1111),
            ..Default::default()
        }]
    } else {
        rids.iter()
            .map(|r| RtpEncodingParameters {
                rid: Some((*r).into()),
                ..Default::default()
            })
            .collect()
    };
    ProducerOptions {
        id: id("p"),
        transport_id: id("send"),
        kind,
        rtp_parameters: RtpParameters {
            mid: Some("0".into()),
            codecs: vec![RtpCodecParameters {
                mime_type: mime.into(),
                payload_type: bpt,
                clock_rate: clock,
                channels: None,
                parameters: Default::default(),
                rtcp_feedback: vec![],
            }],
            encodings: encodings.clone(),
            ..Default::default()
        },
        rtp_mapping: RtpMapping {
            codecs: vec![RtpMappingCodec {
                payload_type: bpt,
                mapped_payload_type: rpt,
            }],
            encodings: encodings
                .iter()
                .enumerate()
                .map(|(i, e)| RtpMappingEncoding {
                    ssrc: e.ssrc,
                    rid: e.rid.clone(),
                    scalability_mode: None,
                    mapped_ssrc: 5000 + i as u32,
                })
                .collect(),
        },
        paused: false,
    }
}

fn consumer(name: &str, initial_seq: u16) -> ConsumerOptions {
    ConsumerOptions {
        id: id(name),
        producer_id: id("p"),
        transport_id: id("recv"),
        paused: false,
        preferred_layer: None,
        preferred_temporal: None,
        initial_seq,
        pipe: false,
        route: ConsumerRoute::default(),
    }
}

/// A router with one video producer (`rids`: its simulcast encodings) and
/// one consumer "c" of it.
fn one_consumer(rids: &[&str], t0: Instant) -> (Router, RouteOutput) {
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(producer(MediaKind::Video, rids)).unwrap();
    r.add_consumer(consumer("c", 1), t0, &mut out).unwrap();
    (r, out)
}

/// Feeds packets and keeps their payloads alive for the borrowed view.
struct Feeder {
    ext: ExtensionValues,
}

impl Feeder {
    fn new() -> Self {
        Self {
            ext: ExtensionValues::default(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        r: &mut Router,
        enc: usize,
        seq: u64,
        ts: u32,
        pt: u8,
        payload: &Arc<[u8]>,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        let pkt = IncomingRtp {
            seq_no: seq,
            timestamp: ts,
            payload_type: pt,
            marker: true,
            payload,
            ext_vals: &self.ext,
            arrival: now,
        };
        r.route("p", enc, &pkt, now, out);
    }
}

fn vp8(key: bool) -> Arc<[u8]> {
    vp8_payload(key, 1, b"frame").into()
}

#[test]
fn video_consumer_starts_on_keyframe_with_router_pt_and_contiguous_seq() {
    let t0 = Instant::now();
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(producer(MediaKind::Video, &[])).unwrap();
    r.add_consumer(consumer("c", 100), t0, &mut out).unwrap();
    // New consumer asks for a keyframe.
    assert_eq!(out.keyframe_requests.len(), 1);
    assert_eq!(&*out.keyframe_requests[0].transport_id, "send");
    out.clear();

    let f = Feeder::new();
    let delta = vp8(false);
    let key = vp8(true);
    f.send(&mut r, 0, 10, 0, BROWSER_VP8, &delta, t0, &mut out);
    assert!(out.forwards.is_empty(), "delta frames wait for a keyframe");
    f.send(&mut r, 0, 11, 3000, BROWSER_VP8, &key, t0, &mut out);
    f.send(&mut r, 0, 12, 6000, BROWSER_VP8, &delta, t0, &mut out);
    f.send(&mut r, 0, 13, 9000, BROWSER_VP8, &delta, t0, &mut out);
    let seqs: Vec<u64> = out.forwards.iter().map(|f| f.packet.seq_no).collect();
    assert_eq!(seqs, vec![100, 101, 102]);
    assert!(
        out.forwards
            .iter()
            .all(|f| f.packet.payload_type == ROUTER_VP8)
    );
    assert!(Arc::ptr_eq(&out.forwards[0].packet.payload, &key));
    assert_eq!(out.layer_changes, vec![(id("c"), Some(0))]);
    // Unknown PT is dropped.
    out.clear();
    f.send(&mut r, 0, 14, 12000, 55, &delta, t0, &mut out);
    assert!(out.forwards.is_empty());
}

#[test]
fn pause_and_resume_keep_sequence_contiguous_and_request_keyframe() {
    let t0 = Instant::now();
    let (mut r, mut out) = one_consumer(&[], t0);
    let f = Feeder::new();
    let (key, delta) = (vp8(true), vp8(false));
    f.send(&mut r, 0, 1, 0, BROWSER_VP8, &key, t0, &mut out);
    f.send(&mut r, 0, 2, 3000, BROWSER_VP8, &delta, t0, &mut out);
    r.pause_consumer("c");
    for s in 3..50 {
        f.send(
            &mut r,
            0,
            s,
            s as u32 * 3000,
            BROWSER_VP8,
            &delta,
            t0,
            &mut out,
        );
    }
    assert_eq!(out.forwards.len(), 2);
    out.clear();
    let t1 = t0 + Duration::from_secs(2);
    r.resume_consumer("c", t1, &mut out);
    assert_eq!(out.keyframe_requests.len(), 1, "resume asks for a keyframe");
    f.send(&mut r, 0, 50, 150_000, BROWSER_VP8, &delta, t1, &mut out);
    f.send(&mut r, 0, 51, 153_000, BROWSER_VP8, &key, t1, &mut out);
    f.send(&mut r, 0, 52, 156_000, BROWSER_VP8, &delta, t1, &mut out);
    let seqs: Vec<u64> = out.forwards.iter().map(|f| f.packet.seq_no).collect();
    assert_eq!(seqs, vec![3, 4]);
    // Timestamps follow the wall clock across the pause (2 s at 90 kHz).
    assert_eq!(out.forwards[0].packet.timestamp, 3000 + 180_000);
}

#[test]
fn producer_pause_drops_and_resume_restarts() {
    let t0 = Instant::now();
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(producer(MediaKind::Audio, &[])).unwrap();
    r.add_consumer(consumer("a", 7), t0, &mut out).unwrap();
    assert!(out.keyframe_requests.is_empty(), "audio needs no keyframe");
    let f = Feeder::new();
    let opus: Arc<[u8]> = Arc::from(&b"opus"[..]);
    f.send(&mut r, 0, 500, 0, BROWSER_OPUS, &opus, t0, &mut out);
    r.pause_producer("p");
    assert_eq!(r.is_consumer_paused("a"), Some((false, true)));
    f.send(&mut r, 0, 501, 960, BROWSER_OPUS, &opus, t0, &mut out);
    r.resume_producer("p", t0, &mut out);
    f.send(&mut r, 0, 502, 1920, BROWSER_OPUS, &opus, t0, &mut out);
    let seqs: Vec<u64> = out.forwards.iter().map(|f| f.packet.seq_no).collect();
    assert_eq!(seqs, vec![7, 8]);
    assert!(
        out.forwards
            .iter()
            .all(|f| f.packet.payload_type == ROUTER_OPUS)
    );
    assert_eq!(r.remove_producer("p"), vec![id("a")]);
    assert_eq!(r.current_layer("a"), None);
}

#[test]
fn simulcast_switches_up_on_keyframe_only() {
    let t0 = Instant::now();
    let (mut r, mut out) = one_consumer(&["r0", "r1", "r2"], t0);
    // Nothing seen yet: every layer is asked.
    assert_eq!(out.keyframe_requests.len(), 3);
    out.clear();
    let f = Feeder::new();
    let (key, delta) = (vp8(true), vp8(false));
    // Only r0 running: start on its keyframe.
    f.send(&mut r, 0, 1, 0, BROWSER_VP8, &key, t0, &mut out);
    f.send(&mut r, 0, 2, 3000, BROWSER_VP8, &delta, t0, &mut out);
    assert_eq!(r.current_layer("c"), Some(0));
    // r2 appears with delta frames (after the creation-time asks expired):
    // keep r0, ask r2 for a keyframe.
    let t1 = t0 + Duration::from_millis(1100);
    f.send(&mut r, 2, 900, 50_000, BROWSER_VP8, &delta, t1, &mut out);
    f.send(&mut r, 0, 3, 6000, BROWSER_VP8, &delta, t1, &mut out);
    assert_eq!(r.current_layer("c"), Some(0));
    assert!(
        out.keyframe_requests
            .iter()
            .any(|k| k.encoding == 2 && &*k.producer_id == "p")
    );
    // The throttle absorbs repeated asks within a second.
    let asks = out.keyframe_requests.len();
    f.send(&mut r, 2, 901, 53_000, BROWSER_VP8, &delta, t1, &mut out);
    assert_eq!(out.keyframe_requests.len(), asks);
    // r2 keyframe: switch; r0 is no longer forwarded.
    let t2 = t1 + Duration::from_millis(30);
    f.send(&mut r, 2, 902, 56_000, BROWSER_VP8, &key, t2, &mut out);
    f.send(&mut r, 0, 4, 9000, BROWSER_VP8, &delta, t2, &mut out);
    f.send(&mut r, 2, 903, 59_000, BROWSER_VP8, &delta, t2, &mut out);
    assert_eq!(r.current_layer("c"), Some(2));
    let seqs: Vec<u64> = out.forwards.iter().map(|f| f.packet.seq_no).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let ts: Vec<u32> = out.forwards.iter().map(|f| f.packet.timestamp).collect();
    assert!(
        ts.windows(2).all(|w| w[1] > w[0]),
        "timestamps go forward: {ts:?}"
    );
    assert_eq!(
        out.layer_changes,
        vec![(id("c"), Some(0)), (id("c"), Some(2))]
    );
}

#[test]
fn simulcast_falls_back_when_the_top_layer_stops() {
    let t0 = Instant::now();
    let (mut r, mut out) = one_consumer(&["r0", "r1"], t0);
    let f = Feeder::new();
    let (key, delta) = (vp8(true), vp8(false));
    f.send(&mut r, 0, 1, 0, BROWSER_VP8, &delta, t0, &mut out);
    f.send(&mut r, 1, 1, 0, BROWSER_VP8, &key, t0, &mut out);
    assert_eq!(r.current_layer("c"), Some(1));
    // r1 goes silent for 2 s; r0 keeps going and takes over on a keyframe.
    for (seq, ms) in [(30u64, 700u64), (50, 1_400)] {
        let at = t0 + Duration::from_millis(ms);
        f.send(
            &mut r,
            0,
            seq,
            90 * ms as u32,
            BROWSER_VP8,
            &delta,
            at,
            &mut out,
        );
    }
    assert_eq!(
        r.current_layer("c"),
        Some(1),
        "r1 still counts within 1.5 s"
    );
    let t1 = t0 + Duration::from_secs(2);
    out.clear();
    f.send(&mut r, 0, 60, 180_000, BROWSER_VP8, &delta, t1, &mut out);
    assert!(out.keyframe_requests.iter().any(|k| k.encoding == 0));
    f.send(&mut r, 0, 61, 183_000, BROWSER_VP8, &key, t1, &mut out);
    assert_eq!(r.current_layer("c"), Some(0));
    assert_eq!(out.forwards.len(), 1);
    assert_eq!(out.forwards[0].packet.seq_no, 2);
}

#[test]
fn consumer_keyframe_requests_are_throttled_per_stream_and_retried() {
    let t0 = Instant::now();
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(producer(MediaKind::Video, &[])).unwrap();
    r.add_consumer(consumer("a", 1), t0, &mut out).unwrap();
    r.add_consumer(consumer("b", 1), t0, &mut out).unwrap();
    assert_eq!(
        out.keyframe_requests.len(),
        1,
        "two new consumers, one request"
    );
    out.clear();
    for _ in 0..5 {
        r.on_consumer_keyframe_request("a", KeyframeRequestKind::Pli, None, t0, &mut out);
        r.on_consumer_keyframe_request("b", KeyframeRequestKind::Fir, None, t0, &mut out);
    }
    assert!(out.keyframe_requests.is_empty());
    // No keyframe came: retried after the interval.
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(r.poll_timeout(), Some(t1));
    r.handle_timeout(t1, &mut out);
    assert_eq!(out.keyframe_requests.len(), 1);
    // A keyframe reopens the gate, as soon as the sender will honour a
    // new request (it ignores those that come right after a keyframe).
    out.clear();
    let f = Feeder::new();
    f.send(&mut r, 0, 1, 0, BROWSER_VP8, &vp8(true), t1, &mut out);
    assert_eq!(out.forwards.len(), 2);
    r.on_consumer_keyframe_request("a", KeyframeRequestKind::Pli, None, t1, &mut out);
    assert!(out.keyframe_requests.is_empty(), "held back");
    let t2 = t1 + crate::rtp::keyframe_request::SENDER_KEYFRAME_SPACING;
    assert_eq!(r.poll_timeout(), Some(t2));
    r.handle_timeout(t2, &mut out);
    assert_eq!(out.keyframe_requests.len(), 1);
    r.remove_consumer("a");
    r.remove_consumer("b");
    out.clear();
    f.send(&mut r, 0, 2, 3000, BROWSER_VP8, &vp8(false), t1, &mut out);
    assert!(out.forwards.is_empty());
}

#[test]
fn a_low_estimate_moves_a_simulcast_consumer_down_and_a_high_one_back_up() {
    let t0 = Instant::now();
    let (mut r, mut out) = one_consumer(&["r0", "r1"], t0);
    r.allocate_bandwidth("recv", 10_000_000, t0, &mut out); // starts the rate windows
    let f = Feeder::new();
    let (key, delta) = (vp8(true), vp8(false));
    // One second of both layers: r0 at 10 small packets (~5 kbps), r1 at 40
    // bigger ones (~340 kbps).
    let big: Arc<[u8]> = vp8_payload(false, 1, &[0u8; 1000]).into();
    let mut seq = [1u64, 1u64];
    for i in 0..40u32 {
        let now = t0 + Duration::from_millis(25 * u64::from(i));
        let first = i == 0;
        if i % 4 == 0 {
            f.send(
                &mut r,
                0,
                seq[0],
                i * 2250,
                BROWSER_VP8,
                &delta,
                now,
                &mut out,
            );
            seq[0] += 1;
        }
        f.send(
            &mut r,
            1,
            seq[1],
            i * 2250,
            BROWSER_VP8,
            if first { &key } else { &big },
            now,
            &mut out,
        );
        seq[1] += 1;
    }
    assert_eq!(r.current_layer("c"), Some(1));
    let now = t0 + Duration::from_secs(1);
    out.clear();

    // 100 kbps: only r0 fits. Its keyframe is asked for; r1 flows until it comes.
    r.allocate_bandwidth("recv", 100_000, now, &mut out);
    assert_eq!(r.bandwidth_layer("c"), Some(0));
    assert!(out.keyframe_requests.iter().any(|k| k.encoding == 0));
    f.send(&mut r, 1, seq[1], 203_000, BROWSER_VP8, &big, now, &mut out);
    assert_eq!(r.current_layer("c"), Some(1));
    f.send(&mut r, 0, seq[0], 203_000, BROWSER_VP8, &key, now, &mut out);
    assert_eq!(r.current_layer("c"), Some(0));
    assert_eq!(out.layer_changes, vec![(id("c"), Some(0))]);

    // Plenty again: back to r1 on its next keyframe.
    out.clear();
    r.allocate_bandwidth("recv", 5_000_000, now, &mut out);
    assert_eq!(r.bandwidth_layer("c"), Some(1));
    assert!(out.keyframe_requests.iter().any(|k| k.encoding == 1));
    f.send(
        &mut r,
        1,
        seq[1] + 1,
        206_000,
        BROWSER_VP8,
        &key,
        now,
        &mut out,
    );
    assert_eq!(r.current_layer("c"), Some(1));
}

/// Frame `i` of an L1T3 VP8 stream, one packet: TL0, TL2, TL1, TL2, ...
/// the first frame a keyframe; layer sync on the first TL1 and TL2 frames
/// after each TL0.
fn l1t3_frame(i: u64) -> Arc<[u8]> {
    let tid = [0u8, 2, 1, 2][(i % 4) as usize];
    let key = i == 0;
    let sync = i % 4 == 1 || i % 4 == 2;
    let header: &[u8] = if key {
        &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 1, 0, 1, 0]
    } else {
        &[0x11, 0x02, 0x00]
    };
    crate::rtp::vp8::vp8_payload_with_tid(i as u16, tid, sync, header).into()
}

impl Feeder {
    /// Frame `i` of [`l1t3_frame`]'s stream as packet `seq`.
    fn send_l1t3(&self, r: &mut Router, out: &mut RouteOutput, (seq, i): (u64, u64), now: Instant) {
        let ts = (i * 3000) as u32;
        self.send(r, 0, seq, ts, BROWSER_VP8, &l1t3_frame(i), now, out);
    }
}

#[test]
fn temporal_layers_above_the_preferred_one_are_left_out_without_gaps() {
    let t0 = Instant::now();
    let (mut r, mut out) = one_consumer(&[], t0);
    let f = Feeder::new();
    let mut seq = 100u64;
    let mut send = |r: &mut Router, out: &mut RouteOutput, i: u64| {
        f.send_l1t3(r, out, (seq, i), t0);
        seq += 1;
    };
    for i in 0..4 {
        send(&mut r, &mut out, i);
    }
    assert_eq!(out.forwards.len(), 4, "all layers by default");
    // Base layer only: every fourth frame, numbered without gaps.
    r.set_preferred_temporal_layer("c", Some(0));
    out.clear();
    for i in 4..12 {
        send(&mut r, &mut out, i);
    }
    assert_eq!(r.temporal_layer("c"), Some(0));
    let seqs: Vec<u64> = out.forwards.iter().map(|f| f.packet.seq_no).collect();
    assert_eq!(seqs, vec![5, 6]);
    assert_eq!(out.layer_changes, vec![(id("c"), Some(0))]);
    // All layers again: from the next base-layer frame on, not at the
    // layer-sync frame before it.
    r.set_preferred_temporal_layer("c", None);
    out.clear();
    for i in 9..11 {
        send(&mut r, &mut out, i);
    }
    assert!(out.forwards.is_empty());
    for i in 11..16 {
        send(&mut r, &mut out, i);
    }
    assert_eq!(r.temporal_layer("c"), None);
    let seqs: Vec<u64> = out.forwards.iter().map(|f| f.packet.seq_no).collect();
    assert_eq!(seqs, vec![7, 8, 9, 10]);
}

#[test]
fn a_repair_of_a_frame_sent_before_a_temporal_switch_down_fills_its_hole() {
    let t0 = Instant::now();
    let (mut r, mut out) = one_consumer(&[], t0);
    let f = Feeder::new();
    let send = |r: &mut Router, out: &mut RouteOutput, i: u64| {
        f.send_l1t3(r, out, (100 + i, i), t0);
        out.forwards.last().map(|f| f.packet.seq_no)
    };
    // Frame 3 (TL2) lost on the way in; the rest of the picture group goes out.
    for i in 0..3 {
        send(&mut r, &mut out, i);
    }
    r.set_preferred_temporal_layer("c", Some(0));
    out.clear();
    // Down to the base layer at frame 4 (TL0): frames 5 to 7 left out.
    assert_eq!(send(&mut r, &mut out, 4), Some(5));
    for i in 5..8 {
        send(&mut r, &mut out, i);
    }
    assert_eq!(out.forwards.len(), 1);
    // The repair of frame 3 comes: it belongs to a picture sent with every
    // layer, and takes the number left free for it.
    out.clear();
    assert_eq!(send(&mut r, &mut out, 3), Some(4));
    assert_eq!(r.temporal_layer("c"), Some(0));
    // The next base-layer frame follows on.
    out.clear();
    assert_eq!(send(&mut r, &mut out, 8), Some(6));
}

#[test]
fn a_pipe_consumer_forwards_every_layer_as_numbered_and_asks_for_the_one_requested() {
    let t0 = Instant::now();
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(producer(MediaKind::Video, &["l", "h"]))
        .unwrap();
    let mut pipe = consumer("pipe", 1);
    pipe.pipe = true;
    r.add_consumer(pipe, t0, &mut out).unwrap();
    // No keyframe wait, so nothing asked for on creation.
    assert!(out.keyframe_requests.is_empty());

    let f = Feeder::new();
    let delta = vp8(false);
    f.send(&mut r, 1, 500, 0, BROWSER_VP8, &delta, t0, &mut out);
    f.send(&mut r, 0, 70, 0, BROWSER_VP8, &delta, t0, &mut out);
    f.send(&mut r, 1, 502, 0, BROWSER_VP8, &delta, t0, &mut out);
    let sent: Vec<(usize, u64, u8)> = out
        .forwards
        .iter()
        .map(|f| (f.packet.stream, f.packet.seq_no, f.packet.payload_type))
        .collect();
    // Delta frames of both layers, on their own streams, as numbered (a gap stays a gap).
    assert_eq!(
        sent,
        vec![
            (1, 500, ROUTER_VP8),
            (0, 70, ROUTER_VP8),
            (1, 502, ROUTER_VP8)
        ]
    );
    assert!(out.layer_changes.is_empty());

    // A PLI from the far side for stream 1 asks the producer for that layer only.
    out.clear();
    r.on_consumer_keyframe_request("pipe", KeyframeRequestKind::Pli, Some(1), t0, &mut out);
    let layers: Vec<usize> = out.keyframe_requests.iter().map(|k| k.encoding).collect();
    assert_eq!(layers, vec![1]);
}

/// One VP9 layer frame `(sid, tid)` of picture `n`, in one packet.
struct Vp9Frame<'a> {
    n: u16,
    sid: u8,
    tid: u8,
    key: bool,
    marker: bool,
    body: &'a [u8],
}

impl Feeder {
    fn send_vp9(
        &self,
        r: &mut Router,
        seq: u64,
        frame: Vp9Frame<'_>,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        let Vp9Frame {
            n,
            sid,
            tid,
            key,
            marker,
            body,
        } = frame;
        let payload: Arc<[u8]> =
            crate::rtp::vp9::vp9_payload(n, (sid, tid), (true, true), key, body).into();
        let pkt = IncomingRtp {
            seq_no: seq,
            timestamp: u32::from(n) * 3000,
            payload_type: BROWSER_VP8,
            marker,
            payload: &payload,
            ext_vals: &self.ext,
            arrival: now,
        };
        r.route("p", 0, &pkt, now, out);
    }

    /// Every layer frame of picture `n`, one packet each, `sizes[sid]`
    /// bytes, numbered on from `seq`; the top layer's packet has the marker,
    /// as a browser sends it. Returns what went out: (SID, marker, number).
    #[allow(clippy::too_many_arguments)]
    fn send_picture(
        &self,
        r: &mut Router,
        seq: &mut u64,
        n: u16,
        key: bool,
        sizes: &[usize],
        now: Instant,
        out: &mut RouteOutput,
    ) -> Vec<(u8, bool, u64)> {
        out.clear();
        for (sid, &size) in sizes.iter().enumerate() {
            let body = vec![0u8; size];
            let frame = Vp9Frame {
                n,
                sid: sid as u8,
                tid: 0,
                key,
                marker: sid + 1 == sizes.len(),
                body: &body,
            };
            self.send_vp9(r, *seq, frame, now, out);
            *seq += 1;
        }
        out.forwards
            .iter()
            .map(|f| {
                (
                    f.packet.payload[3] >> 1 & 7,
                    f.packet.marker,
                    f.packet.seq_no,
                )
            })
            .collect()
    }
}

/// A router with a VP9 producer of one encoding in scalability `mode`, and
/// the consumer `c` of it.
fn svc_router(mode: &str, c: ConsumerOptions, t0: Instant) -> (Router, RouteOutput) {
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(svc_producer(mode)).unwrap();
    r.add_consumer(c, t0, &mut out).unwrap();
    (r, out)
}

/// A VP9 producer of one encoding in scalability `mode`.
fn svc_producer(mode: &str) -> ProducerOptions {
    let mut p = producer(MediaKind::Video, &[]);
    p.rtp_parameters.codecs[0].mime_type = "video/VP9".into();
    p.rtp_parameters.encodings[0].scalability_mode = Some(mode.into());
    p
}

#[test]
fn an_svc_consumer_gets_the_spatial_layers_up_to_its_target_with_the_marker_on_its_top() {
    let t0 = Instant::now();
    let mut c = consumer("c", 1);
    c.preferred_layer = Some(1);
    let (mut r, mut out) = svc_router("L3T3", c, t0);
    assert_eq!(out.keyframe_requests.len(), 1);
    assert_eq!(out.keyframe_requests[0].encoding, 0);
    out.clear();

    let f = Feeder::new();
    let mut seq = 100u64;
    let mut picture = |r: &mut Router, out: &mut RouteOutput, n: u16, key: bool| {
        f.send_picture(r, &mut seq, n, key, &[1, 1, 1], t0, out)
    };
    // Nothing before a keyframe; then layers 0 and 1, the marker moved to 1.
    assert!(picture(&mut r, &mut out, 0, false).is_empty());
    assert_eq!(
        picture(&mut r, &mut out, 1, true),
        vec![(0, false, 1), (1, true, 2)]
    );
    assert_eq!(out.layer_changes, vec![(id("c"), Some(1))]);
    // Numbered without the gaps of the layer left out.
    assert_eq!(
        picture(&mut r, &mut out, 2, false),
        vec![(0, false, 3), (1, true, 4)]
    );
    // Down: at the next picture, without a keyframe.
    out.clear();
    r.set_preferred_layer("c", Some(0), t0, &mut out);
    assert!(out.keyframe_requests.is_empty());
    assert_eq!(picture(&mut r, &mut out, 3, false), vec![(0, true, 5)]);
    assert_eq!(r.current_layer("c"), Some(0));
    // Up: asks for a keyframe (once the sender would honour one) and
    // waits for it.
    out.clear();
    let later = t0 + Duration::from_millis(500);
    r.set_preferred_layer("c", Some(2), later, &mut out);
    assert_eq!(out.keyframe_requests.len(), 1);
    assert_eq!(out.keyframe_requests[0].encoding, 0);
    assert_eq!(picture(&mut r, &mut out, 4, false), vec![(0, true, 6)]);
    assert_eq!(
        picture(&mut r, &mut out, 5, true),
        vec![(0, false, 7), (1, false, 8), (2, true, 9)]
    );
    assert_eq!(out.layer_changes, vec![(id("c"), Some(2))]);
}

#[test]
fn a_ksvc_consumer_gets_its_top_layer_alone_between_keyframes_and_goes_down_at_one() {
    let t0 = Instant::now();
    let mut c = consumer("c", 1);
    c.preferred_layer = Some(1);
    let (mut r, mut out) = svc_router("L3T3_KEY", c, t0);
    let f = Feeder::new();
    let mut seq = 100u64;
    let mut picture = |r: &mut Router, out: &mut RouteOutput, n: u16, key: bool| {
        f.send_picture(r, &mut seq, n, key, &[1, 1, 1], t0, out)
    };
    // The keyframe picture: the base too, which the upper layer refers to.
    assert_eq!(
        picture(&mut r, &mut out, 1, true),
        vec![(0, false, 1), (1, true, 2)]
    );
    // Between keyframes the upper layer refers only to its own frames.
    assert_eq!(picture(&mut r, &mut out, 2, false), vec![(1, true, 3)]);
    // Down: the base's frames since the keyframe were left out, so it asks
    // for one and stays up until it comes.
    out.clear();
    let later = t0 + Duration::from_millis(500);
    r.set_preferred_layer("c", Some(0), later, &mut out);
    assert_eq!(out.keyframe_requests.len(), 1);
    assert_eq!(picture(&mut r, &mut out, 3, false), vec![(1, true, 4)]);
    assert_eq!(r.current_layer("c"), Some(1));
    assert_eq!(picture(&mut r, &mut out, 4, true), vec![(0, true, 5)]);
    assert_eq!(out.layer_changes, vec![(id("c"), Some(0))]);
    assert_eq!(picture(&mut r, &mut out, 5, false), vec![(0, true, 6)]);
}

#[test]
fn a_ksvc_consumer_goes_down_without_a_keyframe_while_nothing_below_was_left_out() {
    let t0 = Instant::now();
    let (mut r, mut out) = svc_router("L2T3_KEY", consumer("c", 1), t0);
    let f = Feeder::new();
    let mut seq = 1u64;
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // Both layers from a keyframe; then the base layer's frames left out.
    f.send_picture(&mut r, &mut seq, 0, true, &[1, 1], at(0), &mut out);
    f.send_picture(&mut r, &mut seq, 1, false, &[1, 1], at(100), &mut out);
    assert_eq!(r.current_layer("c"), Some(1));
    // The upper layer stops (as a sender short of bandwidth does, without
    // a keyframe): once it counts as stopped, going down needs a keyframe,
    // asked for; until then nothing goes out.
    for n in 2..9 {
        let sent = f.send_picture(
            &mut r,
            &mut seq,
            n,
            false,
            &[1],
            at(200 * u64::from(n)),
            &mut out,
        );
        assert!(sent.is_empty());
    }
    assert_eq!(out.keyframe_requests.len(), 1);
    // It comes with the base layer alone, which ends its picture; the next
    // picture goes down to that layer without another keyframe.
    let sent = f.send_picture(&mut r, &mut seq, 9, true, &[1], at(1900), &mut out);
    assert_eq!(sent, vec![(0, true, 4)]);
    let sent = f.send_picture(&mut r, &mut seq, 10, false, &[1], at(2000), &mut out);
    assert_eq!(sent, vec![(0, true, 5)]);
    assert_eq!(r.current_layer("c"), Some(0));
    assert!(out.keyframe_requests.is_empty());
}

#[test]
fn a_ksvc_consumer_asked_down_before_anything_below_was_left_out_needs_no_keyframe() {
    let t0 = Instant::now();
    let (mut r, mut out) = svc_router("L2T3_KEY", consumer("c", 1), t0);
    let f = Feeder::new();
    let mut seq = 1u64;
    f.send_picture(&mut r, &mut seq, 0, true, &[1, 1], t0, &mut out);
    out.clear();
    let later = t0 + Duration::from_millis(500);
    r.set_preferred_layer("c", Some(0), later, &mut out);
    assert!(out.keyframe_requests.is_empty());
    let sent = f.send_picture(&mut r, &mut seq, 1, false, &[1, 1], later, &mut out);
    assert_eq!(sent, vec![(0, true, 3)]);
    assert!(out.keyframe_requests.is_empty());
}

#[test]
fn a_ksvc_consumer_above_the_base_layer_changes_temporal_layers_at_its_own_frames() {
    let t0 = Instant::now();
    let (mut r, mut out) = svc_router("L2T3_KEY", consumer("c", 1), t0);
    let f = Feeder::new();
    let mut seq = 1u64;
    // Both layers of picture `n` (TL0, TL2, TL1, TL2, ...); the SIDs sent.
    let mut picture = |r: &mut Router, out: &mut RouteOutput, n: u16| {
        out.clear();
        for sid in 0..2 {
            let frame = Vp9Frame {
                n,
                sid,
                tid: [0, 2, 1, 2][usize::from(n % 4)],
                key: n == 0,
                marker: sid == 1,
                body: b"f",
            };
            f.send_vp9(r, seq, frame, t0, out);
            seq += 1;
        }
        out.forwards
            .iter()
            .map(|f| f.packet.payload[3] >> 1 & 7)
            .collect::<Vec<u8>>()
    };
    assert_eq!(picture(&mut r, &mut out, 0), vec![0, 1]);
    assert_eq!(picture(&mut r, &mut out, 1), vec![1]);
    // Down to the base temporal layer at the next picture's upper frame
    // (the base layer's is left out, as in every K-SVC delta picture).
    r.set_preferred_temporal_layer("c", Some(0));
    let sent: Vec<Vec<u8>> = (2..6).map(|n| picture(&mut r, &mut out, n)).collect();
    assert_eq!(sent, vec![vec![], vec![], vec![1], vec![]]);
    assert_eq!(r.temporal_layer("c"), Some(0));
    // Up again at the next TL0 frame of its layer.
    r.set_preferred_temporal_layer("c", None);
    let sent: Vec<Vec<u8>> = (6..10).map(|n| picture(&mut r, &mut out, n)).collect();
    assert_eq!(sent, vec![vec![], vec![], vec![1], vec![1]]);
    assert_eq!(r.temporal_layer("c"), None);
}

/// A VP9 producer in `mode` with layers of ~32 and ~320 kbps, fed for a
/// second (40 pictures) to its consumer `c`; returns the router and then.
fn two_layers_fed_for_a_second(mode: &str, t0: Instant) -> (Router, RouteOutput, Instant) {
    let (mut r, mut out) = svc_router(mode, consumer("c", 1), t0);
    r.allocate_bandwidth("recv", 10_000_000, t0, &mut out); // starts the rate windows
    for n in 0..40u16 {
        let now = t0 + Duration::from_millis(25 * u64::from(n));
        picture_of(&mut r, &mut out, n, n == 0, now);
    }
    assert_eq!(r.current_layer("c"), Some(1));
    (r, out, t0 + Duration::from_secs(1))
}

/// Picture `n` of [`two_layers_fed_for_a_second`]'s producer (numbered from
/// its number); returns how many packets went out.
fn picture_of(r: &mut Router, out: &mut RouteOutput, n: u16, key: bool, now: Instant) -> usize {
    let mut seq = 1 + 2 * u64::from(n);
    Feeder::new()
        .send_picture(r, &mut seq, n, key, &[100, 1000], now, out)
        .len()
}

/// Gives [`two_layers_fed_for_a_second`]'s consumer 340 kbps: it is held
/// to `layer`, without asking for a keyframe, and the next picture (40)
/// goes out as one packet of it.
fn at_340_kbps_it_keeps_to(r: &mut Router, out: &mut RouteOutput, now: Instant, layer: usize) {
    out.clear();
    r.allocate_bandwidth("recv", 340_000, now, out);
    assert_eq!(r.bandwidth_layer("c"), Some(layer));
    assert!(out.keyframe_requests.is_empty());
    assert_eq!(picture_of(r, out, 40, false, now), 1);
    assert_eq!(r.current_layer("c"), Some(layer));
}

#[test]
fn a_ksvc_layer_costs_its_own_rate() {
    let t0 = Instant::now();
    let (mut r, mut out, now) = two_layers_fed_for_a_second("L2T3_KEY", t0);
    // 340 kbps carries the upper layer, sent alone between keyframes.
    at_340_kbps_it_keeps_to(&mut r, &mut out, now, 1);
}

#[test]
fn an_svc_layer_costs_its_rate_and_the_rates_below_it() {
    let t0 = Instant::now();
    let (mut r, mut out, now) = two_layers_fed_for_a_second("L2T3", t0);

    // 340 kbps would carry the upper layer alone, not with the base under
    // it: the base only, from the next picture, without a keyframe.
    at_340_kbps_it_keeps_to(&mut r, &mut out, now, 0);

    // Plenty again: a keyframe of the one encoding brings the upper layer.
    out.clear();
    let later = now + Duration::from_millis(500);
    r.allocate_bandwidth("recv", 5_000_000, later, &mut out);
    assert_eq!(r.bandwidth_layer("c"), Some(1));
    assert_eq!(out.keyframe_requests.len(), 1);
    assert_eq!(out.keyframe_requests[0].encoding, 0);
    assert_eq!(picture_of(&mut r, &mut out, 41, true, later), 2);
    assert_eq!(r.current_layer("c"), Some(1));
}

#[test]
fn each_copy_goes_to_the_route_its_consumer_was_given() {
    let t0 = Instant::now();
    let mut r = Router::new();
    let mut out = RouteOutput::default();
    r.add_producer(producer(MediaKind::Video, &[])).unwrap();
    let mut keys: crate::id_map::SlotMap<()> = crate::id_map::SlotMap::default();
    let mut routes = Vec::new();
    for name in ["a", "b"] {
        let route = ConsumerRoute {
            transport: keys.insert(id(&format!("transport-{name}")), ()),
            consumer: keys.insert(id(name), ()),
        };
        let opts = ConsumerOptions {
            route,
            ..consumer(name, 1)
        };
        r.add_consumer(opts, t0, &mut out).unwrap();
        routes.push(route);
    }
    out.clear();
    Feeder::new().send(&mut r, 0, 100, 0, BROWSER_VP8, &vp8(true), t0, &mut out);
    let sent: Vec<ConsumerRoute> = out.forwards.iter().map(|f| f.route).collect();
    assert_eq!(sent, routes);
}

#[test]
fn a_late_packet_of_a_picture_before_a_spatial_switch_goes_out_with_that_picture_s_layers() {
    let t0 = Instant::now();
    let (mut r, mut out) = svc_router("L2T1", consumer("c", 1), t0);
    let f = Feeder::new();
    // One packet per layer frame; returns the (number, marker) forwarded.
    let mut send = |r: &mut Router, seq: u64, n: u16, sid: u8, key: bool| {
        out.clear();
        let frame = Vp9Frame {
            n,
            sid,
            tid: 0,
            key,
            marker: sid == 1,
            body: b"f",
        };
        f.send_vp9(r, seq, frame, t0, &mut out);
        out.forwards
            .iter()
            .map(|f| (f.packet.seq_no, f.packet.marker))
            .collect::<Vec<_>>()
    };
    // Both layers seen, then a keyframe picture starts them both.
    send(&mut r, 8, 0, 0, false);
    send(&mut r, 9, 0, 1, false);
    assert_eq!(send(&mut r, 10, 1, 0, true), vec![(1, false)]);
    assert_eq!(send(&mut r, 11, 1, 1, true), vec![(2, true)]);
    // Picture 2's top-layer packet (13) is lost on the way; the consumer
    // goes down to the base layer from picture 3 on.
    assert_eq!(send(&mut r, 12, 2, 0, false), vec![(3, false)]);
    let mut ignored = RouteOutput::default();
    r.set_preferred_layer("c", Some(0), t0, &mut ignored);
    assert_eq!(send(&mut r, 14, 3, 0, false), vec![(5, true)]);
    assert!(send(&mut r, 15, 3, 1, false).is_empty());
    // 13 comes back (RTX): picture 2 went out with both layers, so it goes,
    // in its place, with the marker that ends picture 2.
    assert_eq!(send(&mut r, 13, 2, 1, false), vec![(4, true)]);
    // Newer pictures keep to the base layer.
    assert_eq!(send(&mut r, 16, 4, 0, false), vec![(6, true)]);
    assert!(send(&mut r, 17, 4, 1, false).is_empty());
    assert_eq!(r.current_layer("c"), Some(0));
}

#[test]
fn a_keyframe_picture_starts_every_layer_up_to_the_cap_with_one_marker() {
    let t0 = Instant::now();
    let (mut r, mut out) = svc_router("L3T1", consumer("c", 1), t0);
    let f = Feeder::new();
    // The first picture the router sees is a keyframe: its layers arrive
    // one by one, none of them seen before.
    let sent = f.send_picture(&mut r, &mut 10, 1, true, &[1, 1, 1], t0, &mut out);
    let markers: Vec<bool> = sent.iter().map(|s| s.1).collect();
    assert_eq!(markers, vec![false, false, true], "one end to the picture");
    assert_eq!(out.layer_changes, vec![(id("c"), Some(2))]);
}

#[test]
fn after_a_stall_of_the_whole_stream_the_first_layer_back_is_not_taken_for_the_only_one() {
    let t0 = Instant::now();
    let (mut r, mut out) = svc_router("L3T1", consumer("c", 1), t0);
    let f = Feeder::new();
    let mut seq = 10u64;
    let mut picture = |r: &mut Router, out: &mut RouteOutput, n: u16, key: bool, at: Instant| {
        f.send_picture(r, &mut seq, n, key, &[1, 1, 1], at, out)
            .len()
    };
    assert_eq!(picture(&mut r, &mut out, 1, true, t0), 3);
    assert_eq!(picture(&mut r, &mut out, 2, false, t0), 3);
    // Two seconds of nothing, then the stream comes back, base layer first.
    let later = t0 + Duration::from_secs(2);
    assert_eq!(picture(&mut r, &mut out, 3, false, later), 3);
    assert!(out.layer_changes.is_empty() && out.keyframe_requests.is_empty());
    assert_eq!(r.current_layer("c"), Some(2));
}

#[test]
fn an_svc_layer_is_not_started_on_a_frame_of_a_temporal_layer_left_out() {
    let t0 = Instant::now();
    let mut c = consumer("c", 1);
    c.preferred_layer = Some(0);
    c.preferred_temporal = Some(0);
    let (mut r, mut out) = svc_router("L2T2", c, t0);
    let ext = ExtensionValues::default();
    let mut seq = 10u64;
    // One packet per layer frame (sid, tid) of picture n; P clear if `intra`.
    let mut send = |r: &mut Router, n: u16, (sid, tid): (u8, u8), intra: bool| {
        let payload: Arc<[u8]> =
            crate::rtp::vp9::vp9_payload(n, (sid, tid), (true, true), intra, b"f").into();
        let pkt = IncomingRtp {
            seq_no: seq,
            timestamp: u32::from(n) * 3000,
            payload_type: BROWSER_VP8,
            marker: sid == 1,
            payload: &payload,
            ext_vals: &ext,
            arrival: t0,
        };
        seq += 1;
        r.route("p", 0, &pkt, t0, &mut out);
    };
    // A keyframe picture starts the base layers only.
    send(&mut r, 1, (0, 0), true);
    send(&mut r, 1, (1, 0), true);
    assert_eq!(r.current_layer("c"), Some(0));
    // Allowed up: an intra-only frame of S1 in a picture of TID 1, which
    // this consumer does not get, is no place to start S1.
    r.set_preferred_layer("c", Some(1), t0, &mut RouteOutput::default());
    send(&mut r, 2, (0, 1), false);
    send(&mut r, 2, (1, 1), true);
    assert_eq!(r.current_layer("c"), Some(0));
    // One in a base temporal layer picture is.
    send(&mut r, 3, (0, 0), false);
    send(&mut r, 3, (1, 0), true);
    assert_eq!(r.current_layer("c"), Some(1));
}
