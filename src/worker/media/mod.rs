//! The worker's media plane: its routers, their transports and sockets, and
//! the packet path between them. Everything here runs on the worker thread;
//! socket tasks and the timer task borrow the worker state one event at a
//! time, so nothing is locked.
//!
//! Packet path: socket → `on_datagram` → transport (str0m: decrypt) →
//! `ProducerRtp` → router (`route_packet`: which consumers, rewritten) →
//! each consumer's transport (`write_rtp`: encrypt) → socket.

mod base64;
mod data;
mod net;
mod observers;
mod plain;
mod ports;
mod requests;
mod server;
mod stats;
mod trace;

use super::outbox;
use super::state::WorkerState;
use crate::error::{CoreError, CoreResult};
use crate::id_map::{IdMap, SlotMap};
use crate::ortc::types::{MediaKind, RtpCapabilities, RtpParameters};
use crate::prefetch;
use crate::router::{ConsumerRoute, Forward, IncomingRtp, RouteOutput, Router};
use crate::rtp::{VideoCodec, is_keyframe};
use crate::transport::{ForwardedRtp, SendPrefetch, Transport, TransportEvent, TransportOutput};
use net::{ListenSocket, SocketKind, SocketOwner, TcpConnection};
use serde_json::{Value, json};
use server::WebRtcServerSlot;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Instant;
use str0m::media::KeyframeRequestKind;
use str0m::net::Protocol;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use trace::{PacketTrace, TraceType, TraceTypes};

pub use data::{DataConsumerSlot, DataProducerSlot, DirectTransportSlot};
pub use ports::PortRange;
pub use stats::RateSnapshot;

pub type Id = Arc<str>;
pub type SharedState = Weak<RefCell<WorkerState>>;

pub struct RouterSlot {
    pub rtp_capabilities: RtpCapabilities,
    pub routing: Router,
    pub transports: Vec<Id>,
}

/// Laid out in declaration order: what a forwarded copy reads of the slot
/// first, together.
#[repr(C)]
pub struct TransportSlot {
    /// This transport's earliest live entry in the timer heap; it may be
    /// earlier than the transport's deadline (see `needs_push`).
    scheduled: Option<Instant>,
    /// Its first UDP socket's address and descriptor, for the packet path
    /// (`net::send_to_fd`); open while `sockets` holds it, and cleared with
    /// them.
    udp_send: Option<(SocketAddr, RawFd)>,
    pub transport: Transport,
    pub id: Id,
    pub router_id: Id,
    sockets: Vec<ListenSocket>,
    tcp_connections: HashMap<(SocketAddr, SocketAddr), Rc<TcpConnection>>,
    tasks: Vec<AbortHandle>,
    /// The WebRtcServer whose sockets this transport uses, if any.
    pub server_id: Option<Id>,
    pub producers: Vec<Id>,
    pub consumers: Vec<Id>,
    pub next_mid: u32,
    pub max_incoming_bitrate: Option<u64>,
    pub min_outgoing_bitrate: Option<u64>,
    pub max_outgoing_bitrate: Option<u64>,
    /// The trace event types enabled (`enableTraceEvent`).
    pub trace: TraceTypes,
    pub rates: RateSnapshot,
    /// `initialAvailableOutgoingBitrate`, and the bytes sent at the last
    /// `bwe` trace (for the rate consumers asked of the estimate since).
    pub start_outgoing_bitrate: u64,
    bwe_sample: Option<(Instant, u64)>,
    /// With `enableSctp`: how many SCTP streams DataConsumers may use.
    pub sctp_streams: Option<u16>,
    pub data_producers: Vec<Id>,
    pub data_consumers: Vec<Id>,
}

impl TransportSlot {
    /// A transport on its sockets, with no producers or consumers yet.
    fn new(
        id: Id,
        router_id: Id,
        transport: Transport,
        (sockets, tasks): (Vec<ListenSocket>, Vec<AbortHandle>),
        now: Instant,
    ) -> Self {
        let udp_send = sockets.iter().find_map(|s| match &s.kind {
            SocketKind::Udp(port) => Some((s.announced, port.raw_fd())),
            SocketKind::Tcp => None,
        });
        Self {
            id,
            router_id,
            transport,
            sockets,
            udp_send,
            tcp_connections: HashMap::new(),
            tasks,
            scheduled: None,
            server_id: None,
            producers: Vec::new(),
            consumers: Vec::new(),
            next_mid: 0,
            max_incoming_bitrate: None,
            min_outgoing_bitrate: None,
            max_outgoing_bitrate: None,
            trace: TraceTypes::default(),
            rates: RateSnapshot::new(now),
            start_outgoing_bitrate: 0,
            bwe_sample: None,
            sctp_streams: None,
            data_producers: Vec::new(),
            data_consumers: Vec::new(),
        }
    }
}

pub struct ProducerSlot {
    pub transport_id: Id,
    pub router_id: Id,
    pub kind: MediaKind,
    pub producer_type: &'static str,
    pub rtp_parameters: RtpParameters,
    pub consumable_rtp_parameters: RtpParameters,
    pub paused: bool,
    pub consumers: Vec<Id>,
    /// The trace event types enabled (`enableTraceEvent`).
    pub trace: TraceTypes,
    pub rates: RateSnapshot,
}

pub struct ConsumerSlot {
    pub transport_id: Id,
    pub router_id: Id,
    pub producer_id: Id,
    pub kind: MediaKind,
    pub consumer_type: &'static str,
    pub rtp_parameters: RtpParameters,
    pub paused: bool,
    pub priority: u8,
    /// (spatial, temporal) the consumer asked for, clamped to what exists.
    pub preferred_layers: Option<(usize, usize)>,
    /// The trace event types enabled (`enableTraceEvent`).
    pub trace: TraceTypes,
    pub rates: RateSnapshot,
}

pub struct Media {
    shared: SharedState,
    timer: Rc<Notify>,
    pub port_range: PortRange,
    pub certificate: str0m::config::DtlsCert,
    pub routers: IdMap<Id, RouterSlot>,
    /// By id, and on the packet path by the key a consumer's `ConsumerRoute` keeps.
    pub transports: SlotMap<TransportSlot>,
    pub producers: IdMap<Id, ProducerSlot>,
    pub consumers: IdMap<Id, ConsumerSlot>,
    pub servers: HashMap<Id, WebRtcServerSlot>,
    pub direct_transports: HashMap<Id, DirectTransportSlot>,
    pub data_producers: HashMap<Id, DataProducerSlot>,
    pub data_consumers: HashMap<Id, DataConsumerSlot>,
    /// RTP observer → its router.
    pub observers: HashMap<Id, Id>,
    deadlines: BinaryHeap<Reverse<(Instant, Id)>>,
    /// Reusable outputs; a stack because handling one transport's output
    /// may drive another transport (forwarding), which needs its own.
    outputs: Vec<TransportOutput>,
    routes: Vec<RouteOutput>,
    /// Some consumer has had a per-packet trace enabled: only then does a
    /// forward look its consumer up for tracing.
    packet_traces: bool,
    /// When the REMB caps of `setMaxIncomingBitrate` are next repeated.
    next_remb: Option<Instant>,
}

/// REMB is one-shot: browsers keep the last value, but a lost packet would
/// lose the cap, so it is repeated at this pace.
const REMB_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Media {
    pub fn new(
        shared: SharedState,
        timer: Rc<Notify>,
        port_range: PortRange,
        certificate: str0m::config::DtlsCert,
    ) -> Self {
        Self {
            shared,
            timer,
            port_range,
            certificate,
            routers: IdMap::default(),
            transports: SlotMap::default(),
            producers: IdMap::default(),
            consumers: IdMap::default(),
            servers: HashMap::new(),
            direct_transports: HashMap::new(),
            data_producers: HashMap::new(),
            data_consumers: HashMap::new(),
            observers: HashMap::new(),
            deadlines: BinaryHeap::new(),
            outputs: Vec::new(),
            routes: Vec::new(),
            packet_traces: false,
            next_remb: None,
        }
    }

    // -- the packet path ----------------------------------------------------

    /// A datagram (or RFC 4571 frame) from a socket task: straight to its
    /// transport, or through a WebRtcServer's demultiplexing.
    pub fn on_socket_datagram(
        &mut self,
        owner: &SocketOwner,
        proto: Protocol,
        source: SocketAddr,
        local: SocketAddr,
        buf: &[u8],
        conn: Option<&Rc<TcpConnection>>,
    ) {
        match owner {
            SocketOwner::Transport(id) => self.on_datagram(id, proto, source, local, buf),
            SocketOwner::Server(server_id) => {
                let Some(id) = self
                    .servers
                    .get_mut(server_id)
                    .and_then(|s| s.route(proto, source, local, buf))
                else {
                    return;
                };
                if let (Some(conn), Some(slot)) = (conn, self.transports.get_mut(&id)) {
                    slot.tcp_connections
                        .entry((local, source))
                        .or_insert_with(|| conn.clone());
                }
                self.on_datagram(&id, proto, source, local, buf);
            }
        }
    }

    pub fn on_datagram(
        &mut self,
        transport_id: &Id,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        buf: &[u8],
    ) {
        let now = Instant::now();
        self.drive(transport_id, now, |t, out| {
            t.handle_receive(now, proto, source, destination, buf, out)
        });
    }

    /// Runs `f` on one transport, then sends what it produced and handles
    /// its events (which may drive other transports in turn).
    fn drive(
        &mut self,
        transport_id: &Id,
        now: Instant,
        f: impl FnOnce(&mut Transport, &mut TransportOutput),
    ) {
        let mut out = self.outputs.pop().unwrap_or_default();
        let Some(slot) = self.transports.get_mut(transport_id) else {
            self.outputs.push(out);
            return;
        };
        f(&mut slot.transport, &mut out);
        self.send_transmits(transport_id, &mut out);
        for event in out.events.drain(..) {
            self.on_transport_event(transport_id, event, now);
        }
        out.clear();
        self.outputs.push(out);
        self.reschedule(transport_id);
    }

    /// `drive` for a call whose result the caller needs; an error if the
    /// transport is gone.
    fn drive_result<R>(
        &mut self,
        transport_id: &Id,
        f: impl FnOnce(&mut Transport, &mut TransportOutput) -> CoreResult<R>,
    ) -> CoreResult<R> {
        let mut result = Err(CoreError::invalid_state("transport closed"));
        self.drive(transport_id, Instant::now(), |t, out| result = f(t, out));
        result
    }

    /// Before copy `i` of a fan-out, asks for the state of the copies
    /// after it (see `crate::prefetch`): five copies ahead the transport's
    /// slot, four ahead what the slot holds first, then the transport's
    /// fields, its consumer's sender, and what the sender points to, each
    /// step reading what the step before (one copy earlier) asked for, as
    /// far as the layout is known (see `SendPrefetch`).
    fn prefetch_ahead(&self, forwards: &[Forward], i: usize) {
        let ahead = |d: usize| forwards.get(i + d).map(|f| f.route);
        if let Some(r) = ahead(5) {
            self.transports.prefetch(r.transport, 1);
        }
        if let Some(r) = ahead(4)
            && let Some((_, slot)) = self.transports.at(r.transport)
        {
            prefetch::line(&slot.transport);
            prefetch::line(&slot.udp_send);
            prefetch::line(&slot.scheduled);
        }
        for (d, step) in [
            (3, SendPrefetch::Fields),
            (2, SendPrefetch::Consumer),
            (1, SendPrefetch::History),
        ] {
            if let Some(r) = ahead(d)
                && let Some((_, slot)) = self.transports.at(r.transport)
            {
                slot.transport.prefetch(step, r.consumer);
            }
        }
    }

    /// One routed packet to one consumer: `drive` specialised for the
    /// hottest call, with one transport lookup instead of three (drive,
    /// send, reschedule), since a fan-out runs this once per consumer.
    fn forward(&mut self, route: ConsumerRoute, packet: &ForwardedRtp, now: Instant) {
        let mut out = self.outputs.pop().unwrap_or_default();
        let Some((transport_id, slot)) = self.transports.at_mut(route.transport) else {
            self.outputs.push(out);
            return;
        };
        let _ = slot
            .transport
            .write_rtp(route.consumer, packet, now, &mut out);
        if self.packet_traces
            && let Some(consumer_id) = slot.transport.consumer_id(route.consumer)
        {
            Self::trace_forward(&self.consumers, consumer_id, packet);
        }
        Self::send_from(slot, &mut out);
        let deadline = slot.transport.poll_timeout();
        let push = Self::needs_push(slot, deadline);
        if out.events.is_empty() && !push {
            out.clear();
            self.outputs.push(out);
            return;
        }
        let transport_id = transport_id.clone();
        for event in out.events.drain(..) {
            self.on_transport_event(&transport_id, event, now);
        }
        out.clear();
        self.outputs.push(out);
        if push {
            self.push_deadline(&transport_id, deadline);
        }
    }

    fn trace_forward(
        consumers: &IdMap<Id, ConsumerSlot>,
        consumer_id: &str,
        packet: &ForwardedRtp,
    ) {
        let Some(c) = consumers.get(consumer_id) else {
            return;
        };
        if !c.trace.per_packet() {
            return;
        }
        let info = PacketTrace {
            payload_type: packet.payload_type,
            sequence_number: packet.seq_no as u16,
            timestamp: packet.timestamp,
            marker: packet.marker,
            ssrc: c
                .rtp_parameters
                .encodings
                .first()
                .and_then(|e| e.ssrc)
                .unwrap_or(0),
            keyframe: keyframe_of(&c.rtp_parameters, packet.payload_type, &packet.payload),
            payload_size: packet.payload.len(),
        };
        trace::packet(consumer_id, c.trace, "out", &info);
    }

    fn send_transmits(&mut self, transport_id: &Id, out: &mut TransportOutput) {
        if let Some(slot) = self.transports.get(transport_id) {
            Self::send_from(slot, out);
        }
    }

    /// Sends what a transport produced; the buffers go back to `out` for
    /// the next packets.
    fn send_from(slot: &TransportSlot, out: &mut TransportOutput) {
        let mut transmits = std::mem::take(&mut out.transmits);
        for transmit in transmits.drain(..) {
            Self::send_one(slot, &transmit);
            out.recycle(transmit.contents.into());
        }
        out.transmits = transmits;
    }

    fn send_one(slot: &TransportSlot, transmit: &str0m::net::Transmit) {
        if let Some((source, fd)) = slot.udp_send
            && source == transmit.source
            && transmit.proto == Protocol::Udp
        {
            net::send_to_fd(fd, &transmit.contents, transmit.destination);
            return;
        }
        let Some(socket) = slot
            .sockets
            .iter()
            .find(|s| s.announced == transmit.source && s.protocol == transmit.proto)
        else {
            return;
        };
        match &socket.kind {
            SocketKind::Udp(udp) => {
                udp.send_to(&transmit.contents, transmit.destination);
            }
            SocketKind::Tcp => {
                if let Some(conn) = slot
                    .tcp_connections
                    .get(&(transmit.source, transmit.destination))
                {
                    conn.send(&transmit.contents);
                }
            }
        }
    }

    fn on_transport_event(&mut self, transport_id: &Id, event: TransportEvent, now: Instant) {
        match event {
            TransportEvent::ProducerRtp {
                producer_id,
                encoding,
                packet,
            } => {
                let incoming = IncomingRtp::from(&packet);
                self.on_producer_packet(
                    &producer_id,
                    encoding,
                    &incoming,
                    *packet.header.ssrc,
                    now,
                );
            }
            TransportEvent::ProducerPacket {
                producer_id,
                encoding,
                packet,
            } => {
                let incoming = IncomingRtp::from(&packet);
                self.on_producer_packet(&producer_id, encoding, &incoming, packet.ssrc, now);
            }
            TransportEvent::TupleLearned(tuple) => {
                outbox::emit(&**transport_id, "tuple", json!({ "tuple": tuple }));
            }
            TransportEvent::RtcpTupleLearned(tuple) => {
                outbox::emit(&**transport_id, "rtcptuple", json!({ "rtcpTuple": tuple }));
            }
            TransportEvent::KeyframeRequest {
                consumer_id,
                kind,
                stream,
            } => {
                let Some(c) = self.consumers.get(&consumer_id) else {
                    return;
                };
                let router_id = c.router_id.clone();
                let ssrc = c
                    .rtp_parameters
                    .encodings
                    .get(stream.unwrap_or(0))
                    .and_then(|e| e.ssrc);
                trace::keyframe_request(&consumer_id, c.trace, kind, "in", ssrc);
                self.route_with(&router_id, None, now, |router, route| {
                    router.on_consumer_keyframe_request(&consumer_id, kind, stream, now, route)
                });
            }
            TransportEvent::IceStateChange(state) => {
                outbox::emit(
                    &*transport_id.clone(),
                    "icestatechange",
                    json!({ "iceState": state }),
                );
            }
            TransportEvent::IceSelectedTupleChange(tuple) => {
                outbox::emit(
                    &**transport_id,
                    "iceselectedtuplechange",
                    json!({ "iceSelectedTuple": tuple }),
                );
            }
            TransportEvent::DtlsStateChange(state) => {
                outbox::emit(
                    &**transport_id,
                    "dtlsstatechange",
                    json!({ "dtlsState": state }),
                );
            }
            TransportEvent::Connected => self.on_transport_connected(transport_id, now),
            TransportEvent::ProducerStreamPaused { .. } => {}
            TransportEvent::ProducerScore { producer_id, .. } => {
                if let Some(slot) = self.transports.get(transport_id) {
                    let scores = stats::producer_scores(&slot.transport, &producer_id);
                    outbox::emit(&*producer_id, "score", scores);
                }
            }
            TransportEvent::ConsumerScore { consumer_id, score } => {
                let producer_score = self.consumer_producer_score(&consumer_id);
                outbox::emit(
                    &*consumer_id,
                    "score",
                    json!({ "score": score, "producerScore": producer_score.0, "producerScores": producer_score.1 }),
                );
            }
            TransportEvent::ProducerSenderReport {
                producer_id,
                report: r,
            } => {
                if self
                    .producers
                    .get(&producer_id)
                    .is_some_and(|p| p.trace.has(TraceType::Sr))
                {
                    let info = json!({
                        "ssrc": r.ssrc, "ntpSec": r.ntp_sec, "ntpFrac": r.ntp_frac, "rtpTs": r.rtp_ts,
                        "packetCount": r.packet_count, "octetCount": r.octet_count,
                    });
                    trace::emit(&producer_id, TraceType::Sr, "in", info);
                }
            }
            TransportEvent::ConsumerNack { consumer_id } => {
                if self
                    .consumers
                    .get(&consumer_id)
                    .is_some_and(|c| c.trace.has(TraceType::Nack))
                {
                    trace::emit(&consumer_id, TraceType::Nack, "in", Value::Null);
                }
            }
            TransportEvent::ProducerNack { producer_id, count } => {
                if self
                    .producers
                    .get(&producer_id)
                    .is_some_and(|p| p.trace.has(TraceType::Nack))
                {
                    for _ in 0..count {
                        trace::emit(&producer_id, TraceType::Nack, "out", Value::Null);
                    }
                }
            }
            TransportEvent::BandwidthEstimate => {
                self.trace_bwe(transport_id, now);
                self.allocate_bandwidth(transport_id, now);
            }
            TransportEvent::SctpStateChange(state) => {
                outbox::emit(
                    &**transport_id,
                    "sctpstatechange",
                    json!({ "sctpState": state }),
                );
            }
            TransportEvent::DataMessage {
                data_producer_id,
                binary,
                data,
            } => self.on_data_message(&data_producer_id, binary, &data),
            TransportEvent::DataBufferedAmountLow { data_consumer_id } => {
                self.on_data_buffered_amount_low(&data_consumer_id)
            }
            TransportEvent::DirectRtp {
                consumer_id,
                packet,
            } => outbox::emit(
                &*consumer_id,
                "rtp",
                json!({ "data": base64::base64_encode(&packet) }),
            ),
            TransportEvent::DirectRtcp { packet } => outbox::emit(
                &**transport_id,
                "rtcp",
                json!({ "data": base64::base64_encode(&packet) }),
            ),
            TransportEvent::DataChannelClosed { id } => {
                tracing::debug!(transport_id = %transport_id, "the peer closed the data channel of {id}");
            }
            TransportEvent::Fatal(reason) => {
                tracing::warn!(transport_id = %transport_id, "transport failed: {reason}");
                outbox::emit(
                    &**transport_id,
                    "dtlsstatechange",
                    json!({ "dtlsState": "failed" }),
                );
            }
        }
    }

    /// A producer's packet: traced if asked, then routed to its consumers.
    fn on_producer_packet(
        &mut self,
        producer_id: &Id,
        encoding: usize,
        packet: &IncomingRtp<'_>,
        ssrc: u32,
        now: Instant,
    ) {
        let Some(p) = self.producers.get(producer_id) else {
            return;
        };
        let router_id = p.router_id.clone();
        if p.trace.per_packet() {
            let info = PacketTrace {
                payload_type: packet.payload_type,
                sequence_number: packet.seq_no as u16,
                timestamp: packet.timestamp,
                marker: packet.marker,
                ssrc,
                keyframe: keyframe_of(&p.rtp_parameters, packet.payload_type, packet.payload),
                payload_size: packet.payload.len(),
            };
            trace::packet(producer_id, p.trace, "in", &info);
        }
        self.route_with(&router_id, None, now, |router, route| {
            router.route(producer_id, encoding, packet, now, route)
        });
    }

    /// mediasoup's `bwe` trace; what consumers desire is taken to be what
    /// they were sent.
    fn trace_bwe(&mut self, transport_id: &Id, now: Instant) {
        let Some(slot) = self.transports.get_mut(transport_id) else {
            return;
        };
        if !slot.trace.has(TraceType::Bwe) {
            slot.bwe_sample = None;
            return;
        }
        let stats = slot.transport.stats();
        let sent = stats.rtp_bytes_sent;
        let desired = match slot.bwe_sample.replace((now, sent)) {
            Some((at, bytes)) if now > at => {
                (sent.saturating_sub(bytes) as f64 * 8.0 / now.duration_since(at).as_secs_f64())
                    as u64
            }
            _ => 0,
        };
        let info = json!({
            "desiredBitrate": desired,
            "effectiveDesiredBitrate": desired,
            "minBitrate": slot.min_outgoing_bitrate.unwrap_or(0),
            "maxBitrate": slot.max_outgoing_bitrate.unwrap_or(0),
            "startBitrate": slot.start_outgoing_bitrate,
            "maxPaddingBitrate": 0,
            "availableBitrate": stats.available_outgoing_bitrate.unwrap_or(0),
        });
        trace::emit(transport_id, TraceType::Bwe, "out", info);
    }

    /// A new estimate (about once a second): the transport's simulcast
    /// consumers get the layers it allows (`Router::allocate_bandwidth`).
    fn allocate_bandwidth(&mut self, transport_id: &Id, now: Instant) {
        let Some(slot) = self.transports.get(transport_id) else {
            return;
        };
        if slot.consumers.is_empty() {
            return;
        }
        let Some(available) = slot.transport.stats().available_outgoing_bitrate else {
            return;
        };
        let router_id = slot.router_id.clone();
        let demand = self.route_with(&router_id, None, now, |router, route| {
            router.allocate_bandwidth(transport_id, available, now, route)
        });
        if let Some(demand) = demand {
            self.drive(transport_id, now, |t, _| {
                if let Ok(t) = t.webrtc() {
                    t.set_bwe_demand(demand)
                }
            });
        }
    }

    /// Consumers resumed before their transport finished DTLS lost the
    /// keyframe they asked for (nothing can be sent before SRTP keys exist):
    /// ask again now, as mediasoup does when a transport connects.
    fn on_transport_connected(&mut self, transport_id: &Id, now: Instant) {
        tracing::debug!(transport_id = %transport_id, "transport connected");
        let Some(slot) = self.transports.get(transport_id) else {
            return;
        };
        let (router_id, consumers) = (slot.router_id.clone(), slot.consumers.clone());
        if consumers.is_empty() {
            return;
        }
        self.route_with(&router_id, None, now, |router, route| {
            for consumer_id in &consumers {
                router.on_consumer_keyframe_request(
                    consumer_id,
                    KeyframeRequestKind::Pli,
                    None,
                    now,
                    route,
                );
            }
        });
    }

    /// Runs `f` on a router with a reusable route output, then carries out
    /// what it routed. `starting`: the transport of a consumer that (re)starts.
    /// Before that transport has finished DTLS the keyframe it asks for could
    /// not be sent, and asking would only make the sender ignore the next
    /// request (it honours one per ~300 ms): the requests are withdrawn, and
    /// the transport's connection asks instead (`on_transport_connected`).
    /// None when the router is gone.
    fn route_with<R>(
        &mut self,
        router_id: &Id,
        starting: Option<&Id>,
        now: Instant,
        f: impl FnOnce(&mut Router, &mut RouteOutput) -> R,
    ) -> Option<R> {
        let mut route = self.routes.pop().unwrap_or_default();
        let result = self
            .routers
            .get_mut(router_id)
            .map(|r| f(&mut r.routing, &mut route));
        let unconnected = starting.is_some_and(|t| {
            self.transports
                .get(t)
                .is_some_and(|s| !s.transport.is_connected())
        });
        if unconnected && !route.keyframe_requests.is_empty() {
            if let Some(router) = self.routers.get_mut(router_id) {
                router
                    .routing
                    .withdraw_keyframe_requests(&route.keyframe_requests);
            }
            route.keyframe_requests.clear();
        }
        self.apply_route(&mut route, now);
        route.clear();
        self.routes.push(route);
        result
    }

    /// Writes routed packets to their consumers and sends keyframe requests
    /// to producers.
    fn apply_route(&mut self, route: &mut RouteOutput, now: Instant) {
        for (i, forward) in route.forwards.iter().enumerate() {
            self.prefetch_ahead(&route.forwards, i);
            self.forward(forward.route, &forward.packet, now);
        }
        route.forwards.clear();
        for request in route.keyframe_requests.drain(..) {
            tracing::debug!(producer_id = %request.producer_id, encoding = request.encoding, "keyframe requested");
            if let Some(p) = self.producers.get(&request.producer_id) {
                let ssrc = p
                    .rtp_parameters
                    .encodings
                    .get(request.encoding)
                    .and_then(|e| e.ssrc);
                trace::keyframe_request(&request.producer_id, p.trace, request.kind, "out", ssrc);
            }
            self.drive(&request.transport_id, now, |t, out| {
                t.request_keyframe(
                    &request.producer_id,
                    Some(request.encoding),
                    request.kind,
                    out,
                )
            });
        }
        for (consumer_id, layer) in route.layer_changes.drain(..) {
            // The temporal layers forwarded: all of the encoding's unless fewer were chosen.
            let temporal = self.consumers.get(&consumer_id).map_or(0, |c| {
                let all = requests::max_layers(&c.rtp_parameters).1;
                let chosen = self
                    .routers
                    .get(&c.router_id)
                    .and_then(|r| r.routing.temporal_layer(&consumer_id));
                chosen.map_or(all, |t| all.min(usize::from(t)))
            });
            let data = match layer {
                Some(spatial) => json!({ "spatialLayer": spatial, "temporalLayer": temporal }),
                None => Value::Null,
            };
            outbox::emit(&*consumer_id, "layerschange", data);
        }
        for report in route.observer_reports.drain(..) {
            observers::emit(report);
        }
    }

    fn consumer_producer_score(&self, consumer_id: &str) -> (u8, Value) {
        let Some(c) = self.consumers.get(consumer_id) else {
            return (0, json!([]));
        };
        let Some(p) = self.producers.get(&c.producer_id) else {
            return (0, json!([]));
        };
        let Some(t) = self.transports.get(&p.transport_id) else {
            return (0, json!([]));
        };
        let stats = t.transport.producer_stats(&c.producer_id);
        let scores: Vec<u8> = stats.iter().map(|s| s.score).collect();
        (scores.iter().copied().max().unwrap_or(0), json!(scores))
    }

    // -- timers -------------------------------------------------------------

    fn reschedule(&mut self, transport_id: &Id) {
        let Some(slot) = self.transports.get_mut(transport_id) else {
            return;
        };
        let deadline = slot.transport.poll_timeout();
        if Self::needs_push(slot, deadline) {
            self.push_deadline(transport_id, deadline);
        }
    }

    /// Whether the heap lacks an entry at or before `deadline` for this
    /// transport. An earlier entry is kept when the deadline moves later
    /// (each forwarded packet may move it): when it fires, `handle_timeouts`
    /// finds nothing due and pushes the real deadline. That is one heap push
    /// per wake-up instead of one per packet.
    fn needs_push(slot: &mut TransportSlot, deadline: Instant) -> bool {
        if slot.scheduled.is_some_and(|s| s <= deadline) {
            return false;
        }
        slot.scheduled = Some(deadline);
        true
    }

    fn push_deadline(&mut self, transport_id: &Id, deadline: Instant) {
        let earliest = self.deadlines.peek().map(|Reverse((t, _))| *t);
        self.deadlines
            .push(Reverse((deadline, transport_id.clone())));
        if earliest.is_none_or(|e| deadline < e) {
            self.timer.notify_one();
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let transports = self.deadlines.peek().map(|Reverse((t, _))| *t);
        let routers = self
            .routers
            .values()
            .filter_map(|r| r.routing.poll_timeout())
            .min();
        match (transports, routers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends every capped transport's REMB now and plans the next round.
    pub fn send_rembs(&mut self, now: Instant) {
        let capped: Vec<(Id, u64)> = self
            .transports
            .values()
            .filter_map(|s| s.max_incoming_bitrate.map(|b| (s.id.clone(), b)))
            .collect();
        self.next_remb = (!capped.is_empty()).then(|| now + REMB_INTERVAL);
        for (id, bitrate) in capped {
            self.drive(&id, now, |t, out| {
                if let Ok(t) = t.webrtc() {
                    t.request_remb(bitrate, out)
                }
            });
        }
    }

    /// Runs every transport (and router) whose deadline has passed.
    pub fn handle_timeouts(&mut self, now: Instant) {
        if self.next_remb.is_some_and(|t| t <= now) {
            self.send_rembs(now);
        }
        while let Some(Reverse((deadline, id))) = self.deadlines.peek().cloned() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            // Stale entry: the transport was rescheduled or closed since.
            let current = self.transports.get(&id).and_then(|s| s.scheduled);
            if current != Some(deadline) {
                continue;
            }
            let Some(slot) = self.transports.get_mut(&id) else {
                continue;
            };
            slot.scheduled = None;
            if slot.transport.poll_timeout() > now {
                // An early entry kept by `needs_push`: not due yet.
                self.reschedule(&id);
                continue;
            }
            self.drive(&id, now, |t, out| t.handle_timeout(now, out));
        }
        let due: Vec<Id> = self
            .routers
            .iter()
            .filter(|(_, r)| r.routing.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for router_id in due {
            self.route_with(&router_id, None, now, |router, route| {
                router.handle_timeout(now, route)
            });
        }
    }

    // -- TCP connections ----------------------------------------------------

    /// A new ICE-TCP connection: a transport's own listener hands it to the
    /// transport; a WebRtcServer's keeps its tasks and hands the connection
    /// to a transport on its first STUN request (`on_socket_datagram`).
    fn add_tcp_connection(
        &mut self,
        owner: &SocketOwner,
        local: SocketAddr,
        remote: SocketAddr,
        conn: Rc<TcpConnection>,
        tasks: [AbortHandle; 2],
    ) -> bool {
        match owner {
            SocketOwner::Transport(id) => {
                let Some(slot) = self.transports.get_mut(id) else {
                    return false;
                };
                slot.tcp_connections.insert((local, remote), conn);
                slot.tasks.extend(tasks);
                true
            }
            SocketOwner::Server(id) => self.servers.get_mut(id).is_some_and(|s| {
                s.add_tasks(tasks);
                true
            }),
        }
    }

    fn remove_tcp_connection(
        &mut self,
        owner: &SocketOwner,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let transport_id = match owner {
            SocketOwner::Transport(id) => Some(id.clone()),
            SocketOwner::Server(id) => self
                .servers
                .get_mut(id)
                .and_then(|s| s.forget_tuple(Protocol::Tcp, remote, local)),
        };
        if let Some(slot) = transport_id.and_then(|id| self.transports.get_mut(&id)) {
            slot.tcp_connections.remove(&(local, remote));
        }
    }

    /// Stops a transport's socket tasks; its sockets close when the last
    /// reference (held by those tasks and the slot) goes.
    fn stop_tasks(slot: &mut TransportSlot) {
        for task in slot.tasks.drain(..) {
            task.abort();
        }
        slot.tcp_connections.clear();
        slot.udp_send = None;
        slot.sockets.clear();
    }
}

/// Whether a packet of these parameters is a keyframe (video codecs whose
/// keyframes the router can recognise; false otherwise).
fn keyframe_of(params: &RtpParameters, payload_type: u8, payload: &[u8]) -> bool {
    params
        .codecs
        .iter()
        .find(|c| c.payload_type == payload_type)
        .and_then(|c| VideoCodec::from_mime_type(&c.mime_type))
        .is_some_and(|codec| is_keyframe(codec, payload))
}

impl Drop for Media {
    fn drop(&mut self) {
        for slot in self.transports.values_mut() {
            Media::stop_tasks(slot);
        }
        for server in self.servers.values_mut() {
            server.stop_tasks();
        }
    }
}
