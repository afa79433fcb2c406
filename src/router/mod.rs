//! Sans-IO routing: producers, consumers and what each producer packet
//! becomes for each consumer.
//!
//! The router never touches a transport. `route()` takes one decrypted
//! producer packet and fills a reusable output with per-consumer rewritten
//! packets (to be written with `WebRtcTransport::write_rtp`) and keyframe
//! requests (to be sent with `WebRtcTransport::request_keyframe`). Payloads
//! are shared (`Arc`), and output buffers are reused, so routing allocates
//! nothing per packet.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::KeyframeRequestKind;
use str0m::rtp::{ExtensionValues, RtpPacket};

use crate::error::{CoreError, CoreResult};
use crate::id_map::SlotKey;
use crate::ortc::types::{MediaKind, RtpMapping, RtpParameters};
use crate::rtp::wire::ForwardedExtensions;
use crate::rtp::{
    KeyframeRequestThrottle, RtpRewriter, VideoCodec, Vp8Temporal, Vp9Layers, is_keyframe,
    vp8_temporal, vp9_layers,
};
use crate::transport::ForwardedRtp;

mod bandwidth;
mod observers;
use bandwidth::LayerRate;
use observers::RtpObserver;
pub use observers::{ObserverKind, ObserverReport};

pub type Id = Arc<str>;

/// Temporal layers told apart (a 2-bit TID).
const MAX_TEMPORAL_LAYERS: usize = 4;

/// What a video packet's payload says of its layers: VP8 tells temporal
/// layers, VP9 temporal and spatial ones.
#[derive(Debug, Clone, Copy)]
struct PacketLayers {
    tid: u8,
    sid: u8,
    /// It starts a picture (of its base spatial layer): where forwarding
    /// may change layers without cutting a picture short.
    picture_start: bool,
    /// It starts its spatial layer's frame.
    frame_start: bool,
    /// It ends its spatial layer's frame.
    frame_end: bool,
    /// It starts a frame that refers to no earlier picture (only to the
    /// layers below it in its own): where a spatial layer can be joined.
    intra_start: bool,
    /// Its frame refers to an earlier picture (VP9's P bit).
    inter_picture: bool,
}

impl PacketLayers {
    fn of(codec: Option<VideoCodec>, payload: &[u8]) -> Option<Self> {
        match codec? {
            VideoCodec::Vp8 => vp8_temporal(payload).map(|t: Vp8Temporal| Self {
                tid: t.tid,
                sid: 0,
                picture_start: t.frame_start,
                frame_start: t.frame_start,
                frame_end: false,
                intra_start: false,
                inter_picture: true,
            }),
            VideoCodec::Vp9 => vp9_layers(payload).map(|l: Vp9Layers| Self {
                tid: l.tid,
                sid: l.sid,
                picture_start: l.picture_start(),
                frame_start: l.frame_start,
                frame_end: l.frame_end,
                intra_start: l.frame_start && !l.inter_picture,
                inter_picture: l.inter_picture,
            }),
            _ => None,
        }
    }
}

/// How far back (in 90 kHz RTP timestamp units: 5 s) a packet still counts
/// as a late one of an earlier picture rather than one of a new run.
const LATE_PICTURE: u32 = 5 * 90_000;

/// What a layer change (the RTP timestamp of its picture, what was
/// forwarded before) says of a packet of picture `timestamp`: what was
/// forwarded before, if the picture is older than the change (by less than
/// LATE_PICTURE); None for the change's picture and later ones.
fn before_change<T: Copy>(change: Option<(u32, T)>, timestamp: u32) -> Option<T> {
    let (changed_at, before) = change?;
    let behind = changed_at.wrapping_sub(timestamp);
    (behind != 0 && behind < LATE_PICTURE).then_some(before)
}

/// An encoding that sent nothing for this long no longer counts as active
/// for simulcast layer selection.
const LAYER_INACTIVE_AFTER: Duration = Duration::from_millis(1500);

pub struct ProducerOptions {
    pub id: Id,
    pub transport_id: Id,
    pub kind: MediaKind,
    /// The producer's rtpParameters as the browser sent them.
    pub rtp_parameters: RtpParameters,
    /// Browser PTs → router PTs (from ortc's `getProducerRtpParametersMapping`).
    pub rtp_mapping: RtpMapping,
    pub paused: bool,
}

pub struct ConsumerOptions {
    pub id: Id,
    pub producer_id: Id,
    pub transport_id: Id,
    pub paused: bool,
    /// Highest simulcast encoding this consumer wants (None: the highest).
    pub preferred_layer: Option<usize>,
    /// Highest temporal layer it wants (None: all); VP8 and VP9 streams.
    pub preferred_temporal: Option<u8>,
    /// First outgoing sequence number (mediasoup starts at random).
    pub initial_seq: u16,
    /// A pipe consumer (PipeTransport): every encoding goes out as its own
    /// stream, numbered as the producer numbered it; no layer choice.
    pub pipe: bool,
    pub route: ConsumerRoute,
}

/// Where a consumer's packets go: its transport, and its place among that
/// transport's consumers, resolved once when it is made (see `SlotMap`), so
/// that a forwarded copy carries two indices and no ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerRoute {
    pub transport: SlotKey,
    pub consumer: SlotKey,
}

/// A producer packet as the router needs it: borrowed from str0m's
/// `RtpPacket` (which cannot be built outside str0m, hence this view).
#[derive(Debug, Clone, Copy)]
pub struct IncomingRtp<'a> {
    /// Extended sequence number.
    pub seq_no: u64,
    pub timestamp: u32,
    pub payload_type: u8,
    pub marker: bool,
    pub payload: &'a Arc<[u8]>,
    pub ext_vals: &'a ExtensionValues,
    pub arrival: Instant,
}

impl<'a> From<&'a RtpPacket> for IncomingRtp<'a> {
    fn from(p: &'a RtpPacket) -> Self {
        Self {
            seq_no: *p.seq_no,
            timestamp: p.header.timestamp,
            payload_type: *p.header.payload_type,
            marker: p.header.marker,
            payload: &p.payload,
            ext_vals: &p.header.ext_vals,
            arrival: p.timestamp,
        }
    }
}

/// An owned producer packet, for transports that parse RTP themselves
/// (str0m's `RtpPacket` cannot be built outside str0m).
#[derive(Debug, Clone)]
pub struct ReceivedRtp {
    pub ssrc: u32,
    pub seq_no: u64,
    pub timestamp: u32,
    pub payload_type: u8,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    pub ext_vals: ExtensionValues,
    pub arrival: Instant,
}

impl<'a> From<&'a ReceivedRtp> for IncomingRtp<'a> {
    fn from(p: &'a ReceivedRtp) -> Self {
        Self {
            seq_no: p.seq_no,
            timestamp: p.timestamp,
            payload_type: p.payload_type,
            marker: p.marker,
            payload: &p.payload,
            ext_vals: &p.ext_vals,
            arrival: p.arrival,
        }
    }
}

/// One packet for one consumer.
#[derive(Debug, Clone)]
pub struct Forward {
    pub route: ConsumerRoute,
    pub packet: ForwardedRtp,
}

/// Ask a producer's browser for a keyframe (already throttled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyframeRequestAction {
    pub transport_id: Id,
    pub producer_id: Id,
    pub encoding: usize,
    pub kind: KeyframeRequestKind,
}

/// Reusable output of routing calls.
#[derive(Debug, Default)]
pub struct RouteOutput {
    pub forwards: Vec<Forward>,
    pub keyframe_requests: Vec<KeyframeRequestAction>,
    /// Consumers whose forwarded simulcast encoding changed (mediasoup's
    /// `layerschange`): (consumer, new encoding or None).
    pub layer_changes: Vec<(Id, Option<usize>)>,
    /// What RTP observers report at the end of their intervals.
    pub observer_reports: Vec<ObserverReport>,
}

impl RouteOutput {
    pub fn clear(&mut self) {
        self.forwards.clear();
        self.keyframe_requests.clear();
        self.layer_changes.clear();
        self.observer_reports.clear();
    }
}

struct Producer {
    id: Id,
    transport_id: Id,
    kind: MediaKind,
    paused: bool,
    /// (browser PT, router PT, codec for keyframe detection).
    payload_types: Vec<(u8, u8, Option<VideoCodec>)>,
    clock_rate: u32,
    /// Its encodings (RTP streams).
    encodings: usize,
    /// One encoding carrying several spatial layers (VP9 SVC): its layers
    /// are those, told apart by each packet's SID, not its encodings.
    svc: bool,
    /// K-SVC (`_KEY` modes): outside keyframe pictures each spatial layer
    /// refers only to its own earlier frames, so a consumer gets only its
    /// top layer's, and once a lower layer's frame was left out it changes
    /// layer, down too, only at a keyframe.
    ksvc: bool,
    /// Arrival of the last packet per layer (encoding, or spatial layer of
    /// an SVC stream).
    last_seen: Vec<Option<Instant>>,
    consumers: Vec<usize>,
    /// RTP observers watching it: its audio levels are read only then.
    observed_by: u16,
    /// Received bitrate per layer and temporal layer (bandwidth-driven
    /// layer choice): a consumer held to fewer temporal layers needs less.
    layer_rates: Vec<[LayerRate; MAX_TEMPORAL_LAYERS]>,
}

impl Producer {
    /// The encoding whose keyframe a layer needs: an SVC stream has one.
    fn encoding_of(&self, layer: usize) -> usize {
        if self.svc { 0 } else { layer }
    }

    fn highest_active(&self, now: Instant, cap: Option<usize>) -> Option<usize> {
        let top = cap.unwrap_or(usize::MAX);
        self.last_seen
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| *i <= top)
            .find(|(_, t)| {
                t.is_some_and(|t| now.saturating_duration_since(t) < LAYER_INACTIVE_AFTER)
            })
            .map(|(i, _)| i)
    }
}

struct Consumer {
    id: Id,
    producer: Id,
    transport_id: Id,
    kind: MediaKind,
    paused: bool,
    producer_paused: bool,
    rewriter: RtpRewriter,
    preferred_layer: Option<usize>,
    /// The highest layer its transport's bandwidth allows (None: no cap yet).
    bwe_layer: Option<usize>,
    /// Its share of that bandwidth comes before lower priorities' (1..=255).
    priority: u8,
    /// The encoding being forwarded; None until a keyframe starts it.
    current_layer: Option<usize>,
    preferred_temporal: Option<u8>,
    /// Highest temporal layer forwarded now (None: all).
    temporal: Option<u8>,
    /// SVC: where the forwarded spatial layers last changed, as the RTP
    /// timestamp of that picture, and the layer before it. A packet of an
    /// earlier picture (late, or an RTX repair) is judged by the layers its
    /// picture went out with: dropped by the new ones, it would leave that
    /// picture without its end, and a decoder waits for the end of a
    /// picture that later ones refer to.
    spatial_change: Option<(u32, Option<usize>)>,
    /// The same for the forwarded temporal layers: where they last changed
    /// and the limit before (a repair of a frame sent before a switch down
    /// fills its hole instead of being left out).
    temporal_change: Option<(u32, Option<u8>)>,
    /// K-SVC: no lower layer's frame left out since the keyframe its layers
    /// started at, so it can still go down without another.
    ksvc_intact: bool,
    pipe: bool,
    route: ConsumerRoute,
}

impl Consumer {
    fn active(&self) -> bool {
        !self.paused && !self.producer_paused
    }

    /// Moves the forwarded temporal layers towards the preferred ones at this
    /// packet, and says whether the packet is forwarded. A packet of a
    /// picture from before the last change is judged by the layers then
    /// and changes nothing.
    fn follow_temporal_layer(
        &mut self,
        t: PacketLayers,
        (keyframe, timestamp): (bool, u32),
        out: &mut RouteOutput,
    ) -> bool {
        if let Some(before) = before_change(self.temporal_change, timestamp) {
            return before.is_none_or(|limit| t.tid <= limit);
        }
        let target = self.preferred_temporal;
        let next = match (self.temporal, target) {
            // Down: at the next picture (a picture begun is sent whole).
            (current, Some(target)) if current.is_none_or(|c| c > target) && t.picture_start => {
                Some(target)
            }
            // Up: at the start of a base-layer picture (or a keyframe): every
            // frame of the layers up to the target is forwarded from there,
            // so nothing the decoder gets refers to a frame it did not,
            // whatever the sender marked as a layer-sync frame.
            (Some(_), target) if keyframe || (t.picture_start && t.tid == 0) => target,
            (current, _) => current,
        };
        if next != self.temporal {
            self.temporal_change = Some((timestamp, self.temporal));
            self.temporal = next;
            // One layerschange per packet, also when a keyframe started the layer too.
            if out
                .layer_changes
                .last()
                .is_none_or(|(id, _)| *id != self.id)
            {
                out.layer_changes
                    .push((self.id.clone(), self.current_layer));
            }
        }
        self.temporal.is_none_or(|limit| t.tid <= limit)
    }

    /// For an SVC stream: moves the forwarded spatial layers towards
    /// `target` at this packet. Up one layer at a frame of it that refers
    /// to no earlier picture (a keyframe picture's upper layer: other
    /// frames of a layer refer to earlier ones, which the receiver does
    /// not have), right above the layers forwarded; down at the next
    /// picture (nothing below refers to what is left out), but in K-SVC only
    /// while no frame of the layers below was left out since the keyframe
    /// (`ksvc_intact`), else at the next keyframe. A change is remembered
    /// with the packet's picture (`timestamp`, see `spatial_change`).
    /// Returns whether a keyframe is wanted to go up, down in K-SVC, or to
    /// start.
    fn follow_spatial_layer(
        &mut self,
        target: usize,
        l: PacketLayers,
        (keyframe, ksvc): (bool, bool),
        timestamp: u32,
        out: &mut RouteOutput,
    ) -> bool {
        let sid = usize::from(l.sid);
        let next = match self.current_layer {
            // Its base layer: the layers above it follow in this picture.
            _ if keyframe => {
                self.ksvc_intact = true;
                Some(target)
            }
            Some(current) if target < current && l.picture_start && (!ksvc || self.ksvc_intact) => {
                Some(target)
            }
            // (Within the temporal layers forwarded: a frame left out would
            // leave the layer without the frame the next ones refer to.)
            Some(current)
                if target > current
                    && l.intra_start
                    && sid == current + 1
                    && self.temporal.is_none_or(|limit| l.tid <= limit) =>
            {
                Some(sid)
            }
            current => current,
        };
        if next != self.current_layer {
            self.spatial_change = Some((timestamp, self.current_layer));
            self.current_layer = next;
            out.layer_changes.push((self.id.clone(), next));
        }
        self.svc_needs_keyframe(target, ksvc)
    }

    /// For an SVC stream: whether reaching `target` from the layers
    /// forwarded now takes a keyframe (to start, to go up, or to go down in
    /// K-SVC once a lower layer's frame was left out).
    fn svc_needs_keyframe(&self, target: usize, ksvc: bool) -> bool {
        self.current_layer.is_none_or(|current| {
            target > current || (ksvc && target < current && !self.ksvc_intact)
        })
    }

    /// For a packet of a picture older than the last spatial change (its
    /// RTP timestamp before that picture's, by less than LATE_PICTURE): the
    /// top layer its picture went out with. None for any other packet.
    fn late_picture_layer(&self, timestamp: u32) -> Option<Option<usize>> {
        before_change(self.spatial_change, timestamp)
    }

    /// The highest layer to forward: the preferred one, lowered to what the
    /// bandwidth allows.
    fn layer_cap(&self) -> Option<usize> {
        match (self.preferred_layer, self.bwe_layer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Default)]
pub struct Router {
    producers: HashMap<Id, Producer>,
    consumers: Vec<Option<Consumer>>,
    consumer_index: HashMap<Id, usize>,
    free_slots: Vec<usize>,
    throttle: KeyframeRequestThrottle<(Id, usize)>,
    observers: Vec<RtpObserver>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    // -- producers ----------------------------------------------------------

    pub fn add_producer(&mut self, opts: ProducerOptions) -> CoreResult<()> {
        if self.producers.contains_key(&opts.id) {
            return Err(CoreError::invalid_state("producer already exists"));
        }
        let mut payload_types = Vec::new();
        for m in &opts.rtp_mapping.codecs {
            let codec = opts
                .rtp_parameters
                .codecs
                .iter()
                .find(|c| c.payload_type == m.payload_type)
                .and_then(|c| VideoCodec::from_mime_type(&c.mime_type));
            payload_types.push((m.payload_type, m.mapped_payload_type, codec));
        }
        let clock_rate = opts
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.clock_rate)
            .ok_or_else(|| CoreError::type_error("producer without codecs"))?;
        let encodings = opts.rtp_parameters.encodings.len().max(1);
        // Spatial layers are told apart in VP9 payloads only (AV1's need its
        // dependency descriptor: forwarded whole).
        let mode = match &opts.rtp_parameters.encodings[..] {
            [only] => crate::ortc::parse_scalability_mode(only.scalability_mode.as_deref()),
            _ => crate::ortc::parse_scalability_mode(None),
        };
        let spatial = usize::from(mode.spatial_layers);
        let svc = spatial > 1
            && payload_types
                .iter()
                .any(|(_, _, codec)| *codec == Some(VideoCodec::Vp9));
        let layers = if svc { spatial } else { encodings };
        self.producers.insert(
            opts.id.clone(),
            Producer {
                id: opts.id,
                transport_id: opts.transport_id,
                kind: opts.kind,
                paused: opts.paused,
                payload_types,
                clock_rate,
                encodings,
                svc,
                ksvc: svc && mode.ksvc,
                last_seen: vec![None; layers],
                consumers: Vec::new(),
                observed_by: 0,
                layer_rates: vec![Default::default(); layers],
            },
        );
        Ok(())
    }

    /// Closes a producer and returns its consumers' ids, which are closed
    /// with it (mediasoup's `producerclose`).
    pub fn remove_producer(&mut self, producer_id: &str) -> Vec<Id> {
        let Some(p) = self.producers.remove(producer_id) else {
            return Vec::new();
        };
        for e in 0..p.encodings {
            self.throttle.forget(&(p.id.clone(), e));
        }
        for o in &mut self.observers {
            o.remove_producer(producer_id);
        }
        let mut closed = Vec::new();
        for idx in p.consumers {
            if let Some(c) = self.consumers[idx].take() {
                self.consumer_index.remove(&c.id);
                self.free_slots.push(idx);
                closed.push(c.id);
            }
        }
        closed
    }

    pub fn pause_producer(&mut self, producer_id: &str) {
        let Some(p) = self.producers.get_mut(producer_id) else {
            return;
        };
        p.paused = true;
        for &idx in &p.consumers {
            if let Some(c) = self.consumers[idx].as_mut() {
                c.producer_paused = true;
            }
        }
    }

    pub fn resume_producer(&mut self, producer_id: &str, now: Instant, out: &mut RouteOutput) {
        let Some(p) = self.producers.get_mut(producer_id) else {
            return;
        };
        p.paused = false;
        let idxs = p.consumers.clone();
        for idx in idxs {
            if let Some(c) = self.consumers[idx].as_mut() {
                c.producer_paused = false;
            }
            self.restart_consumer(idx, now, out);
        }
    }

    // -- consumers ----------------------------------------------------------

    pub fn add_consumer(
        &mut self,
        opts: ConsumerOptions,
        now: Instant,
        out: &mut RouteOutput,
    ) -> CoreResult<()> {
        if self.consumer_index.contains_key(&opts.id) {
            return Err(CoreError::invalid_state("consumer already exists"));
        }
        let Some(p) = self.producers.get(&opts.producer_id) else {
            return Err(CoreError::invalid_state("producer not found"));
        };
        let c = Consumer {
            id: opts.id.clone(),
            producer: p.id.clone(),
            transport_id: opts.transport_id,
            kind: p.kind,
            paused: opts.paused,
            producer_paused: p.paused,
            rewriter: RtpRewriter::new(opts.initial_seq, p.clock_rate),
            preferred_layer: opts.preferred_layer,
            bwe_layer: None,
            priority: 1,
            current_layer: None,
            preferred_temporal: opts.preferred_temporal,
            temporal: None,
            spatial_change: None,
            temporal_change: None,
            ksvc_intact: false,
            pipe: opts.pipe,
            route: opts.route,
        };
        let idx = match self.free_slots.pop() {
            Some(i) => {
                self.consumers[i] = Some(c);
                i
            }
            None => {
                self.consumers.push(Some(c));
                self.consumers.len() - 1
            }
        };
        self.consumer_index.insert(opts.id, idx);
        if let Some(p) = self.producers.get_mut(&opts.producer_id) {
            p.consumers.push(idx);
        }
        // A new video consumer needs a keyframe to start.
        self.restart_consumer(idx, now, out);
        Ok(())
    }

    pub fn remove_consumer(&mut self, consumer_id: &str) {
        let Some(idx) = self.consumer_index.remove(consumer_id) else {
            return;
        };
        if let Some(c) = self.consumers[idx].take()
            && let Some(p) = self.producers.get_mut(&c.producer)
        {
            p.consumers.retain(|i| *i != idx);
        }
        self.free_slots.push(idx);
    }

    pub fn pause_consumer(&mut self, consumer_id: &str) {
        if let Some(c) = self.consumer_mut(consumer_id) {
            c.paused = true;
        }
    }

    /// Resumes forwarding; video restarts on a keyframe, requested here.
    pub fn resume_consumer(&mut self, consumer_id: &str, now: Instant, out: &mut RouteOutput) {
        let Some(&idx) = self.consumer_index.get(consumer_id) else {
            return;
        };
        if let Some(c) = self.consumers[idx].as_mut() {
            c.paused = false;
        }
        self.restart_consumer(idx, now, out);
    }

    pub fn set_preferred_layer(
        &mut self,
        consumer_id: &str,
        layer: Option<usize>,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        let Some(&idx) = self.consumer_index.get(consumer_id) else {
            return;
        };
        if let Some(c) = self.consumers[idx].as_mut() {
            c.preferred_layer = layer;
        }
        self.request_target_keyframe(idx, now, out);
    }

    pub fn set_consumer_priority(&mut self, consumer_id: &str, priority: u8) {
        if let Some(c) = self.consumer_mut(consumer_id) {
            c.priority = priority.max(1);
        }
    }

    /// The highest temporal layer a consumer wants (None: all). Lower takes
    /// effect at once (nothing below depends on what is left out); higher at
    /// the next keyframe or layer-sync frame of the layer going up to.
    pub fn set_preferred_temporal_layer(&mut self, consumer_id: &str, layer: Option<u8>) {
        if let Some(c) = self.consumer_mut(consumer_id) {
            c.preferred_temporal = layer;
        }
    }

    /// The highest temporal layer a consumer is forwarded now (None: all).
    pub fn temporal_layer(&self, consumer_id: &str) -> Option<u8> {
        let idx = *self.consumer_index.get(consumer_id)?;
        self.consumers[idx].as_ref()?.temporal
    }

    pub fn current_layer(&self, consumer_id: &str) -> Option<usize> {
        let idx = *self.consumer_index.get(consumer_id)?;
        self.consumers[idx].as_ref()?.current_layer
    }

    pub fn is_consumer_paused(&self, consumer_id: &str) -> Option<(bool, bool)> {
        let idx = *self.consumer_index.get(consumer_id)?;
        self.consumers[idx]
            .as_ref()
            .map(|c| (c.paused, c.producer_paused))
    }

    /// The consumer's browser sent PLI/FIR: ask its source, throttled.
    /// A keyframe asked for by a consumer's receiver; `stream` names the
    /// producer encoding a pipe consumer's request was for.
    pub fn on_consumer_keyframe_request(
        &mut self,
        consumer_id: &str,
        kind: KeyframeRequestKind,
        stream: Option<usize>,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        let Some(&idx) = self.consumer_index.get(consumer_id) else {
            return;
        };
        let Some(c) = self.consumers[idx].as_ref() else {
            return;
        };
        if !c.active() || c.kind != MediaKind::Video {
            return;
        }
        let Some(p) = self.producers.get(&c.producer) else {
            return;
        };
        let (pid, tid) = (p.id.clone(), p.transport_id.clone());
        if c.pipe {
            // The far router's consumer asked for that layer; without a
            // stream named, ask for all.
            match stream.filter(|s| *s < p.encodings) {
                Some(encoding) => self.request(pid, tid, encoding, kind, now, out),
                None => {
                    for encoding in 0..p.encodings {
                        self.request(pid.clone(), tid.clone(), encoding, kind, now, out);
                    }
                }
            }
            return;
        }
        let layer = c
            .current_layer
            .or_else(|| p.highest_active(now, c.layer_cap()))
            .unwrap_or(0);
        let encoding = p.encoding_of(layer);
        self.request(pid, tid, encoding, kind, now, out);
    }

    /// Keyframe requests from `out` that the caller decided not to send
    /// (e.g. the consumer's transport cannot carry a keyframe yet): forget
    /// them, so the next request for those streams is sent at once.
    pub fn withdraw_keyframe_requests(&mut self, requests: &[KeyframeRequestAction]) {
        for r in requests {
            self.throttle.withdraw(&(r.producer_id.clone(), r.encoding));
        }
    }

    // -- timers -------------------------------------------------------------

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.observers
            .iter()
            .filter_map(RtpObserver::poll_timeout)
            .chain(self.throttle.poll_timeout())
            .min()
    }

    /// Re-sends keyframe requests that got no keyframe in time.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut RouteOutput) {
        for o in &mut self.observers {
            o.handle_timeout(now, &mut out.observer_reports);
        }
        let mut retry = Vec::new();
        self.throttle.handle_timeout(now, &mut retry);
        for (pid, enc) in retry {
            if let Some(p) = self.producers.get(&pid) {
                out.keyframe_requests.push(KeyframeRequestAction {
                    transport_id: p.transport_id.clone(),
                    producer_id: pid,
                    encoding: enc,
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
    }

    // -- the hot path -------------------------------------------------------

    /// Routes one producer packet (`encoding` as reported by the transport).
    pub fn route_packet(
        &mut self,
        producer_id: &str,
        encoding: usize,
        packet: &RtpPacket,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        self.route(producer_id, encoding, &IncomingRtp::from(packet), now, out);
    }

    pub fn route(
        &mut self,
        producer_id: &str,
        encoding: usize,
        packet: &IncomingRtp<'_>,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        let Some(p) = self.producers.get_mut(producer_id) else {
            return;
        };
        if p.paused || encoding >= p.encodings {
            return;
        }
        if p.observed_by > 0
            && let Some(level) = packet.ext_vals.audio_level
        {
            for o in &mut self.observers {
                o.on_level(producer_id, level);
            }
        }
        let Some(&(_, router_pt, codec)) =
            p.payload_types.iter().find(|m| m.0 == packet.payload_type)
        else {
            return;
        };
        let keyframe = codec.is_some_and(|c| is_keyframe(c, packet.payload));
        if keyframe {
            self.throttle
                .keyframe_received(&(p.id.clone(), encoding), now);
        }
        let layers = PacketLayers::of(codec, packet.payload);
        // Its layer: its encoding, or its spatial layer in an SVC stream (a
        // SID beyond the announced mode counts as the top one).
        let layer = match layers {
            Some(l) if p.svc => usize::from(l.sid).min(p.last_seen.len() - 1),
            _ if p.svc => 0,
            _ => encoding,
        };
        let arrival = packet.arrival.max(now);
        // After a stall of the whole stream every layer it sent counts as
        // sending again (one that does not comes to count as stopped
        // LAYER_INACTIVE_AFTER later): the first layer back is not taken
        // for the only one, which would send every consumer down to it and
        // then ask for a keyframe to come back up.
        if p.last_seen.iter().flatten().max().is_some_and(|latest| {
            arrival.saturating_duration_since(*latest) >= LAYER_INACTIVE_AFTER
        }) {
            for seen in p.last_seen.iter_mut().flatten() {
                *seen = arrival;
            }
        }
        p.last_seen[layer] = Some(arrival);
        // VP9's TID has three bits; the rates tell four layers apart.
        let tid = layers.map_or(0, |l| usize::from(l.tid).min(MAX_TEMPORAL_LAYERS - 1));
        p.layer_rates[layer][tid].on_packet(packet.payload.len());
        let p = &self.producers[producer_id];
        let mut wants_keyframe = false;
        let forwarded_ext = ForwardedExtensions::from(packet.ext_vals);
        for &idx in &p.consumers {
            let Some(c) = self.consumers[idx].as_mut() else {
                continue;
            };
            if !c.active() {
                continue;
            }
            if c.pipe {
                out.forwards.push(Forward {
                    route: c.route,
                    packet: ForwardedRtp {
                        payload_type: router_pt,
                        seq_no: packet.seq_no,
                        timestamp: packet.timestamp,
                        marker: packet.marker,
                        payload: packet.payload.clone(),
                        ext_vals: forwarded_ext,
                        wallclock: packet.arrival,
                        stream: encoding,
                    },
                });
                continue;
            }
            let mut marker = packet.marker;
            // The packet's layers as the temporal switch sees them.
            let mut temporal_view = layers;
            if c.kind == MediaKind::Video && p.svc {
                let highest = p.last_seen.len() - 1;
                let target = if keyframe {
                    // A keyframe picture starts every layer up to the cap at
                    // once: its upper layers, not seen for a while (a start,
                    // a resume), would otherwise be taken one by one inside
                    // the picture, each ending it with a marker of its own.
                    // If they do not come, the sender's marker ends it and
                    // the next picture goes down to what is active (in K-SVC
                    // too: nothing below was left out yet).
                    c.layer_cap().map_or(highest, |cap| cap.min(highest))
                } else {
                    p.highest_active(now, c.layer_cap()).unwrap_or(0)
                };
                let l = layers.unwrap_or(PacketLayers {
                    tid: 0,
                    sid: 0,
                    picture_start: false,
                    frame_start: false,
                    frame_end: false,
                    intra_start: false,
                    // Nothing to judge it by: never left out as a lower
                    // layer's.
                    inter_picture: false,
                });
                let top = match c.late_picture_layer(packet.timestamp) {
                    Some(earlier) => earlier,
                    None => {
                        wants_keyframe |= c.follow_spatial_layer(
                            target,
                            l,
                            (keyframe, p.ksvc),
                            packet.timestamp,
                            out,
                        );
                        c.current_layer
                    }
                };
                let sid = usize::from(l.sid);
                let Some(top) = top.filter(|&top| sid <= top) else {
                    c.rewriter.seq.drop_input(packet.seq_no);
                    continue;
                };
                if p.ksvc && l.inter_picture {
                    if sid < top {
                        // A lower layer's frame that only that layer's
                        // later frames refer to.
                        c.ksvc_intact = false;
                        c.rewriter.seq.drop_input(packet.seq_no);
                        continue;
                    }
                    // The picture it sees begins with its top layer's
                    // frame: where its temporal layers may change.
                    temporal_view = temporal_view.map(|t| PacketLayers {
                        picture_start: l.frame_start,
                        ..t
                    });
                }
                // The end of its top layer's frame ends the picture it sees.
                marker |= l.frame_end && top == sid;
            } else if c.kind == MediaKind::Video && c.current_layer != Some(encoding) {
                let target = p.highest_active(now, c.layer_cap()).unwrap_or(encoding);
                // Start, or switch, only onto the target layer and only on
                // a keyframe: the decoder cannot use anything else.
                if encoding != target {
                    continue;
                }
                if !keyframe {
                    wants_keyframe = true;
                    continue;
                }
                c.current_layer = Some(encoding);
                c.rewriter.resync();
                // Another encoding's pictures: no earlier ones of its own.
                c.temporal_change = None;
                out.layer_changes.push((c.id.clone(), Some(encoding)));
            }
            if let Some(t) = temporal_view
                && !c.follow_temporal_layer(t, (keyframe, packet.timestamp), out)
            {
                c.rewriter.seq.drop_input(packet.seq_no);
                continue;
            }
            let Some((seq, ts)) =
                c.rewriter
                    .rewrite(packet.seq_no, packet.timestamp, packet.arrival)
            else {
                continue;
            };
            out.forwards.push(Forward {
                route: c.route,
                packet: ForwardedRtp {
                    payload_type: router_pt,
                    seq_no: seq,
                    timestamp: ts,
                    marker,
                    payload: packet.payload.clone(),
                    ext_vals: forwarded_ext,
                    wallclock: packet.arrival,
                    stream: 0,
                },
            });
        }
        if wants_keyframe {
            let (pid, tid) = (p.id.clone(), p.transport_id.clone());
            self.request(pid, tid, encoding, KeyframeRequestKind::Pli, now, out);
        }
    }

    // -- internals ----------------------------------------------------------

    fn consumer_mut(&mut self, consumer_id: &str) -> Option<&mut Consumer> {
        let idx = *self.consumer_index.get(consumer_id)?;
        self.consumers[idx].as_mut()
    }

    /// (Re)start after creation, resume or producer resume: a new run for
    /// the rewriter and, for video, wait for a keyframe.
    fn restart_consumer(&mut self, idx: usize, now: Instant, out: &mut RouteOutput) {
        let Some(c) = self.consumers[idx].as_mut() else {
            return;
        };
        c.rewriter.resync();
        c.spatial_change = None;
        c.temporal_change = None;
        c.ksvc_intact = false;
        // A pipe consumer forwards what comes; the far router's consumers
        // ask for the keyframes they need.
        if c.kind != MediaKind::Video || !c.active() || c.pipe {
            return;
        }
        if c.current_layer.take().is_some() {
            out.layer_changes.push((c.id.clone(), None));
        }
        self.request_target_keyframe(idx, now, out);
    }

    fn request_target_keyframe(&mut self, idx: usize, now: Instant, out: &mut RouteOutput) {
        let Some(c) = self.consumers[idx].as_ref() else {
            return;
        };
        if c.kind != MediaKind::Video || !c.active() {
            return;
        }
        let Some(p) = self.producers.get(&c.producer) else {
            return;
        };
        let (pid, tid) = (p.id.clone(), p.transport_id.clone());
        match p.highest_active(now, c.layer_cap()) {
            Some(layer) if p.svc && !c.svc_needs_keyframe(layer, p.ksvc) => {}
            Some(layer) => {
                let encoding = p.encoding_of(layer);
                self.request(pid, tid, encoding, KeyframeRequestKind::Pli, now, out)
            }
            // Nothing seen yet: ask every encoding, the first to arrive wins.
            None => {
                for encoding in 0..p.encodings {
                    self.request(
                        pid.clone(),
                        tid.clone(),
                        encoding,
                        KeyframeRequestKind::Pli,
                        now,
                        out,
                    );
                }
            }
        }
    }

    fn request(
        &mut self,
        pid: Id,
        tid: Id,
        encoding: usize,
        kind: KeyframeRequestKind,
        now: Instant,
        out: &mut RouteOutput,
    ) {
        if self.throttle.request((pid.clone(), encoding), now) {
            out.keyframe_requests.push(KeyframeRequestAction {
                transport_id: tid,
                producer_id: pid,
                encoding,
                kind,
            });
        }
    }
}

#[cfg(test)]
mod tests;
