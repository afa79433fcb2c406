//! Request handlers of the media plane: routers, WebRTC transports,
//! producers and consumers (see docs/worker-channel.md for the protocol).

use super::net::{self, ListenSocket, SocketKind, SocketOwner};
use super::plain::plain_transport_dump;
use super::ports::{self, PortRange};
use super::stats::{self, RateSnapshot};
use super::trace::TraceTypes;
use super::{ConsumerSlot, Id, Media, ProducerSlot, RouterSlot, TransportSlot};
use crate::error::{CoreError, CoreResult};
use crate::ortc::{self, from_json_value, types::*};
use crate::router::{ConsumerOptions, ConsumerRoute, ProducerOptions, Router};
use crate::transport::{
    DtlsParameters, ListenInfo, Transport, WebRtcTransport, WebRtcTransportOptions,
};
use crate::worker::outbox;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};
use str0m::net::Protocol;

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct PortRangeData {
    min: u16,
    max: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListenInfoData {
    protocol: String,
    ip: String,
    announced_address: Option<String>,
    announced_ip: Option<String>,
    port: Option<u16>,
    port_range: Option<PortRangeData>,
}

impl ListenInfoData {
    pub(super) fn is_udp(&self) -> bool {
        self.protocol == "udp"
    }

    /// The same address, on a port of its own.
    pub(super) fn with_any_port(&self) -> Self {
        Self {
            protocol: self.protocol.clone(),
            ip: self.ip.clone(),
            announced_address: self.announced_address.clone(),
            announced_ip: self.announced_ip.clone(),
            port: None,
            port_range: self.port_range.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateWebRtcTransportData {
    transport_id: String,
    #[serde(default)]
    listen_infos: Vec<ListenInfoData>,
    web_rtc_server_id: Option<String>,
    /// Which of the server's sockets, in preference order ("udp", "tcp").
    #[serde(default)]
    web_rtc_server_protocols: Vec<String>,
    initial_available_outgoing_bitrate: Option<u64>,
    #[serde(default)]
    enable_sctp: bool,
    num_sctp_streams: Option<NumSctpStreams>,
    max_sctp_message_size: Option<usize>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct NumSctpStreams {
    #[serde(rename = "OS")]
    os: u16,
    #[serde(rename = "MIS")]
    mis: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectData {
    dtls_parameters: DtlsParameters,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BitrateData {
    bitrate: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProduceData {
    producer_id: String,
    kind: MediaKind,
    rtp_parameters: Value,
    #[serde(default)]
    paused: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreferredLayers {
    spatial_layer: usize,
    #[serde(default)]
    temporal_layer: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumeData {
    consumer_id: String,
    producer_id: String,
    /// Absent for a PipeTransport's consumers.
    #[serde(default)]
    rtp_capabilities: Value,
    #[serde(default)]
    paused: bool,
    preferred_layers: Option<PreferredLayers>,
    enable_rtx: Option<bool>,
    mid: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TraceData {
    #[serde(default)]
    types: Vec<String>,
}

// The trace event types mediasoup knows per object; unknown ones are dropped.
const TRANSPORT_TRACE_TYPES: &[&str] = &["probation", "bwe"];
const PRODUCER_TRACE_TYPES: &[&str] = &["rtp", "keyframe", "nack", "pli", "fir", "sr"];
const CONSUMER_TRACE_TYPES: &[&str] = &["rtp", "keyframe", "nack", "pli", "fir"];

fn known_trace_types(data: Value, known: &[&str]) -> CoreResult<TraceTypes> {
    let data: TraceData = from_json_value(data)?;
    Ok(TraceTypes::from_names(
        data.types
            .iter()
            .map(String::as_str)
            .filter(|t| known.contains(t)),
    ))
}

/// mediasoup's `[{ key, value(s) }]` form of a map in dumps.
/// mediasoup's router-dump maps of producers (or data producers) and their
/// consumers: each producer's consumers, and each consumer's producer.
pub(super) fn producer_consumer_maps(links: &[(&Id, &[Id])]) -> (Value, Value) {
    let forward = key_values(
        links.iter().map(|(id, consumers)| {
            let consumers: Vec<String> = consumers.iter().map(|c| c.to_string()).collect();
            (id.to_string(), json!(consumers))
        }),
        "values",
    );
    let back = key_values(
        links.iter().flat_map(|(id, consumers)| {
            consumers
                .iter()
                .map(move |c| (c.to_string(), json!(id.to_string())))
        }),
        "value",
    );
    (forward, back)
}

pub(super) fn key_values(pairs: impl Iterator<Item = (String, Value)>, value_name: &str) -> Value {
    Value::Array(
        pairs
            .map(|(k, v)| json!({ "key": k, value_name: v }))
            .collect(),
    )
}

/// The highest (spatial, temporal) layer pair a consumer can get.
pub(super) fn max_layers(params: &RtpParameters) -> (usize, usize) {
    let mode = params
        .encodings
        .first()
        .and_then(|e| e.scalability_mode.as_deref());
    let m = ortc::parse_scalability_mode(mode);
    (
        m.spatial_layers.saturating_sub(1) as usize,
        m.temporal_layers.saturating_sub(1) as usize,
    )
}

/// The temporal layer to stop at, for the router: None when the consumer
/// wants them all.
fn temporal_choice(preferred: Option<(usize, usize)>, max_temporal: usize) -> Option<u8> {
    preferred
        .map(|(_, t)| t)
        .filter(|&t| t < max_temporal)
        .map(|t| t as u8)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriorityData {
    priority: u8,
}

/// Clients sometimes send ids the worker does not know (objects already
/// closed there, e.g. after producerclose): those are InvalidStateError.
fn not_found(what: &str, id: &str) -> CoreError {
    CoreError::invalid_state(format!("{what} with id \"{id}\" not found"))
}

fn producer_type(params: &RtpParameters) -> &'static str {
    if params.encodings.len() > 1 {
        return "simulcast";
    }
    let mode = params
        .encodings
        .first()
        .and_then(|e| e.scalability_mode.as_deref());
    if ortc::parse_scalability_mode(mode).spatial_layers > 1 {
        "svc"
    } else {
        "simple"
    }
}

fn mime_type(params: &RtpParameters) -> String {
    params
        .codecs
        .first()
        .map(|c| c.mime_type.clone())
        .unwrap_or_default()
}

impl Media {
    // -- routers ------------------------------------------------------------

    pub fn create_router(
        &mut self,
        router_id: String,
        media_codecs: &[RtpCodecCapability],
    ) -> CoreResult<Value> {
        if self.routers.contains_key(router_id.as_str()) {
            return Err(CoreError::invalid_state(format!(
                "a router with id {router_id} already exists"
            )));
        }
        let rtp_capabilities = ortc::generate_router_rtp_capabilities(media_codecs)?;
        let answer = json!({ "rtpCapabilities": rtp_capabilities });
        tracing::debug!(router_id = %router_id, "router created");
        self.routers.insert(
            Id::from(router_id),
            RouterSlot {
                rtp_capabilities,
                routing: Router::new(),
                transports: Vec::new(),
            },
        );
        Ok(answer)
    }

    pub fn close_router(&mut self, router_id: &str) {
        let Some(router) = self.routers.get(router_id) else {
            return;
        };
        for transport_id in router.transports.clone() {
            self.close_transport(&transport_id);
        }
        self.routers.remove(router_id);
        self.forget_observers_of(router_id);
    }

    pub fn dump_router(&self, router_id: &str) -> CoreResult<Value> {
        let router = self
            .routers
            .get(router_id)
            .ok_or_else(|| not_found("Router", router_id))?;
        let links: Vec<(&Id, &[Id])> = self
            .producers
            .iter()
            .filter(|(_, p)| &*p.router_id == router_id)
            .map(|(id, p)| (id, p.consumers.as_slice()))
            .collect();
        let (producer_consumers, consumer_producer) = producer_consumer_maps(&links);
        let (data_producer_consumers, data_consumer_producer) = self.router_data_dump(router_id);
        Ok(json!({
            "id": router_id,
            "transportIds": router.transports.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "rtpObserverIds": router.routing.observer_ids(),
            "mapProducerIdConsumerIds": producer_consumers,
            "mapConsumerIdProducerId": consumer_producer,
            "mapProducerIdObserverIds": key_values(router.routing.observers_by_producer(), "values"),
            "mapDataProducerIdDataConsumerIds": data_producer_consumers,
            "mapDataConsumerIdDataProducerId": data_consumer_producer,
        }))
    }

    // -- transports ---------------------------------------------------------

    pub fn create_webrtc_transport(&mut self, router_id: &str, data: Value) -> CoreResult<Value> {
        let data: CreateWebRtcTransportData = from_json_value(data)?;
        let router_capabilities = self
            .routers
            .get(router_id)
            .ok_or_else(|| not_found("Router", router_id))?
            .rtp_capabilities
            .clone();
        let server = match data.web_rtc_server_id.as_deref() {
            Some(id) if !self.servers.contains_key(id) => {
                return Err(not_found("WebRtcServer", id));
            }
            Some(id) => Some(Id::from(id)),
            None if data.listen_infos.is_empty() => {
                return Err(CoreError::type_error("missing listenInfos"));
            }
            None => None,
        };
        let transport_id: Id = Id::from(data.transport_id);
        if self.transports.contains_key(&transport_id) {
            return Err(CoreError::invalid_state(
                "a transport with that id already exists",
            ));
        }
        let (listen, bound) = match &server {
            Some(server_id) => (
                self.servers[server_id].listen_for(&data.web_rtc_server_protocols),
                Vec::new(),
            ),
            None => self.bind_listen_infos(&data.listen_infos)?,
        };
        if listen.is_empty() {
            return Err(CoreError::type_error(
                "the WebRtcServer has no socket of the wanted protocols",
            ));
        }
        let now = Instant::now();
        let start_bitrate = data.initial_available_outgoing_bitrate.unwrap_or(600_000);
        let transport = WebRtcTransport::new(
            WebRtcTransportOptions {
                listen_infos: listen,
                dtls_cert: self.certificate.clone(),
                router_capabilities,
                // Send-side BWE (TWCC) from mediasoup's option (600 kbps by
                // default). Consumer streams are unpaced (see add_consumer):
                // the estimate informs, it never holds forwarded media back.
                initial_available_outgoing_bitrate: Some(start_bitrate),
                stats_interval: Some(Duration::from_secs(1)),
                sctp_max_message_size: data
                    .enable_sctp
                    .then(|| data.max_sctp_message_size.unwrap_or(262_144)),
            },
            now,
        )?;
        let (sockets, tasks) = match &server {
            Some(server_id) => {
                let Some(s) = self.servers.get_mut(server_id) else {
                    return Err(not_found("WebRtcServer", server_id));
                };
                s.add_transport(&transport_id, transport.ice_parameters().username_fragment);
                (s.shared_sockets(), Vec::new())
            }
            None => self.start_sockets(SocketOwner::Transport(transport_id.clone()), bound)?,
        };
        if let Some(router) = self.routers.get_mut(router_id) {
            router.transports.push(transport_id.clone());
        }
        let answer = json!({
            "iceRole": "controlled",
            "iceParameters": transport.ice_parameters(),
            "iceCandidates": ordered_candidates(&transport),
            "iceState": transport.ice_state(),
            "iceSelectedTuple": transport.ice_selected_tuple(),
            "dtlsParameters": transport.dtls_parameters(),
            "dtlsState": transport.dtls_state(),
            "sctpState": if data.enable_sctp { json!("new") } else { Value::Null },
        });
        let mut slot = TransportSlot::new(
            transport_id.clone(),
            Id::from(router_id),
            Transport::WebRtc(transport),
            (sockets, tasks),
            now,
        );
        slot.server_id = server.clone();
        slot.start_outgoing_bitrate = start_bitrate;
        // The server picks DataConsumers' stream ids below this.
        slot.sctp_streams = data
            .enable_sctp
            .then(|| data.num_sctp_streams.map_or(1024, |n| n.os.min(n.mis)));
        self.transports.insert(transport_id.clone(), slot);
        self.reschedule(&transport_id);
        Ok(answer)
    }

    fn transport(&mut self, transport_id: &str) -> CoreResult<&mut TransportSlot> {
        self.transports
            .get_mut(transport_id)
            .ok_or_else(|| not_found("Transport", transport_id))
    }

    /// Binds a socket per listen info; returns what ICE announces and the
    /// bound sockets (not yet registered with the runtime).
    pub(super) fn bind_listen_infos(
        &self,
        infos: &[ListenInfoData],
    ) -> CoreResult<(Vec<ListenInfo>, Vec<BoundAt>)> {
        let mut listen = Vec::new();
        let mut bound = Vec::new();
        for info in infos {
            let ip: IpAddr = info
                .ip
                .parse()
                .map_err(|_| CoreError::type_error(format!("invalid ip '{}'", info.ip)))?;
            let announced_text = info
                .announced_address
                .as_ref()
                .or(info.announced_ip.as_ref());
            let announced_ip: IpAddr = match announced_text {
                Some(a) => a.parse().map_err(|_| {
                    CoreError::type_error(format!("invalid announcedAddress '{a}'"))
                })?,
                None if ip.is_unspecified() => {
                    return Err(CoreError::type_error(format!(
                        "ip {ip} needs an announcedAddress"
                    )));
                }
                None => ip,
            };
            let range = info
                .port_range
                .as_ref()
                .map(|r| PortRange {
                    min: r.min,
                    max: r.max,
                })
                .unwrap_or(self.port_range);
            match info.protocol.as_str() {
                "udp" => {
                    let socket = ports::bind_udp(ip, info.port, range)?;
                    let port = socket
                        .local_addr()
                        .map_err(|e| CoreError::other(e.to_string()))?
                        .port();
                    let announced = SocketAddr::new(announced_ip, port);
                    listen.push(ListenInfo {
                        protocol: Protocol::Udp,
                        address: announced,
                    });
                    bound.push((announced, BoundSocket::Udp(socket)));
                }
                "tcp" => {
                    let listener = ports::bind_tcp(ip, info.port, range)?;
                    let port = listener
                        .local_addr()
                        .map_err(|e| CoreError::other(e.to_string()))?
                        .port();
                    let announced = SocketAddr::new(announced_ip, port);
                    listen.push(ListenInfo {
                        protocol: Protocol::Tcp,
                        address: announced,
                    });
                    bound.push((announced, BoundSocket::Tcp(listener)));
                }
                other => return Err(CoreError::type_error(format!("invalid protocol '{other}'"))),
            }
        }
        Ok((listen, bound))
    }

    /// Registers bound sockets with the runtime and starts their tasks,
    /// delivering what arrives to `owner`.
    pub(super) fn start_sockets(
        &self,
        owner: SocketOwner,
        bound: Vec<BoundAt>,
    ) -> CoreResult<(Vec<ListenSocket>, Vec<tokio::task::AbortHandle>)> {
        let mut tasks = Vec::new();
        let started = self.start_each_socket(owner, bound, &mut tasks);
        if started.is_err() {
            // The sockets already started would otherwise read on for nobody.
            for task in &tasks {
                task.abort();
            }
        }
        started.map(|sockets| (sockets, tasks))
    }

    fn start_each_socket(
        &self,
        owner: SocketOwner,
        bound: Vec<BoundAt>,
        tasks: &mut Vec<tokio::task::AbortHandle>,
    ) -> CoreResult<Vec<ListenSocket>> {
        let mut sockets = Vec::new();
        for (announced, socket) in bound {
            match socket {
                BoundSocket::Udp(std_socket) => {
                    let udp = Rc::new(
                        net::UdpPort::new(std_socket)
                            .map_err(|e| CoreError::other(e.to_string()))?,
                    );
                    let task = tokio::task::spawn_local(net::udp_reader(
                        self.shared.clone(),
                        owner.clone(),
                        udp.clone(),
                        announced,
                    ));
                    tasks.push(task.abort_handle());
                    sockets.push(ListenSocket {
                        protocol: Protocol::Udp,
                        announced,
                        kind: SocketKind::Udp(udp),
                    });
                }
                BoundSocket::Tcp(std_listener) => {
                    let listener = tokio::net::TcpListener::from_std(std_listener)
                        .map_err(|e| CoreError::other(e.to_string()))?;
                    let task = tokio::task::spawn_local(net::tcp_acceptor(
                        self.shared.clone(),
                        owner.clone(),
                        listener,
                        announced,
                    ));
                    tasks.push(task.abort_handle());
                    sockets.push(ListenSocket {
                        protocol: Protocol::Tcp,
                        announced,
                        kind: SocketKind::Tcp,
                    });
                }
            }
        }
        Ok(sockets)
    }

    pub fn close_transport(&mut self, transport_id: &str) {
        // A DirectTransport's data side; its RTP side is closed below.
        self.close_direct_transport(transport_id);
        let Some(slot) = self.transports.get(transport_id) else {
            return;
        };
        let (id, producers, consumers) = (
            slot.id.clone(),
            slot.producers.clone(),
            slot.consumers.clone(),
        );
        let (data_producers, data_consumers) =
            (slot.data_producers.clone(), slot.data_consumers.clone());
        for id in data_producers {
            self.close_data_producer(&id);
        }
        for id in data_consumers {
            self.close_data_consumer(&id);
        }
        for producer_id in producers {
            self.close_producer(&producer_id);
        }
        for consumer_id in consumers {
            self.close_consumer(&consumer_id);
        }
        let now = Instant::now();
        // Graceful close (DTLS close_notify, RTCP BYE) goes out before the
        // sockets do.
        self.drive(&id, now, |t, out| t.close(out));
        if let Some(mut slot) = self.transports.remove(transport_id) {
            Media::stop_tasks(&mut slot);
            if let Some(server) = slot
                .server_id
                .as_ref()
                .and_then(|s| self.servers.get_mut(s))
            {
                server.remove_transport(transport_id);
            }
            if let Some(router) = self.routers.get_mut(&slot.router_id) {
                router.transports.retain(|t| **t != *transport_id);
            }
        }
    }

    pub fn connect_transport(&mut self, transport_id: &str, data: Value) -> CoreResult<Value> {
        let slot = self.transport(transport_id)?;
        let id = slot.id.clone();
        if slot.transport.as_plain().is_some() {
            return self.connect_plain(&id, data);
        }
        let data: ConnectData = from_json_value(data)?;
        self.drive_result(&id, |t, out| {
            t.webrtc()?.connect(&data.dtls_parameters, out)
        })?;
        let role = self
            .transport(transport_id)?
            .transport
            .webrtc()?
            .dtls_parameters()
            .role;
        Ok(json!({ "dtlsLocalRole": role }))
    }

    pub fn restart_ice(&mut self, transport_id: &str) -> CoreResult<Value> {
        let id = self.transport(transport_id)?.id.clone();
        let ice = self.drive_result(&id, |t, out| t.webrtc()?.restart_ice(out))?;
        let server_id = self.transports.get(&id).and_then(|s| s.server_id.clone());
        if let Some(server) = server_id.and_then(|s| self.servers.get_mut(&s)) {
            server.set_ufrag(&id, ice.username_fragment.clone());
        }
        Ok(json!({ "iceParameters": ice }))
    }

    pub fn transport_stats(&mut self, transport_id: &str) -> CoreResult<Value> {
        if let Some(stats) = self.direct_transport_stats(transport_id) {
            return Ok(stats);
        }
        let slot = self.transport(transport_id)?;
        let stat = stats::transport_stats(
            &slot.id,
            &slot.transport,
            &mut slot.rates,
            slot.max_incoming_bitrate,
            Instant::now(),
        );
        Ok(json!([stat]))
    }

    pub fn dump_transport(&mut self, transport_id: &str) -> CoreResult<Value> {
        if let Some(dump) = self.direct_transport_dump(transport_id) {
            return Ok(dump);
        }
        let slot = self.transport(transport_id)?;
        let Some(t) = slot.transport.as_webrtc() else {
            return Ok(plain_transport_dump(slot));
        };
        Ok(json!({
            "id": transport_id,
            "direct": false,
            "producerIds": slot.producers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "consumerIds": slot.consumers.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "mapSsrcConsumerId": {},
            "mapRtxSsrcConsumerId": {},
            "dataProducerIds": slot.data_producers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "dataConsumerIds": slot.data_consumers.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "recvRtpHeaderExtensions": {},
            "rtpListener": { "ssrcTable": {}, "midTable": {}, "ridTable": {} },
            "maxMessageSize": 262144,
            "iceRole": "controlled",
            "iceParameters": t.ice_parameters(),
            "iceCandidates": ordered_candidates(t),
            "iceState": t.ice_state(),
            "iceSelectedTuple": t.ice_selected_tuple(),
            "dtlsParameters": t.dtls_parameters(),
            "dtlsState": t.dtls_state(),
            "sctpState": t.sctp_state(),
            "traceEventTypes": slot.trace.names(),
        }))
    }

    pub fn set_max_incoming_bitrate(
        &mut self,
        transport_id: &str,
        data: Value,
    ) -> CoreResult<Value> {
        let data: BitrateData = from_json_value(data)?;
        self.transport(transport_id)?.max_incoming_bitrate =
            (data.bitrate > 0).then_some(data.bitrate);
        self.send_rembs(Instant::now());
        self.timer.notify_one();
        Ok(Value::Null)
    }

    /// `setMaxOutgoingBitrate` / `setMinOutgoingBitrate` (0 clears); a
    /// minimum above the maximum is refused, as mediasoup does.
    pub fn set_outgoing_bitrate(
        &mut self,
        transport_id: &str,
        data: Value,
        max: bool,
    ) -> CoreResult<Value> {
        let data: BitrateData = from_json_value(data)?;
        let slot = self.transport(transport_id)?;
        let value = (data.bitrate > 0).then_some(data.bitrate);
        let (min, maxv) = if max {
            (slot.min_outgoing_bitrate, value)
        } else {
            (value, slot.max_outgoing_bitrate)
        };
        if let (Some(lo), Some(hi)) = (min, maxv)
            && lo > hi
        {
            return Err(CoreError::type_error(format!(
                "minimum outgoing bitrate {lo} cannot be greater than the maximum {hi}"
            )));
        }
        slot.min_outgoing_bitrate = min;
        slot.max_outgoing_bitrate = maxv;
        let id = slot.id.clone();
        // Only WebRTC transports estimate bandwidth; elsewhere the bounds are kept.
        self.drive(&id, Instant::now(), |t, _| {
            if let Ok(t) = t.webrtc() {
                t.set_outgoing_bitrate_bounds(min, maxv)
            }
        });
        Ok(Value::Null)
    }

    pub fn enable_trace_event(&mut self, kind: &str, id: &str, data: Value) -> CoreResult<Value> {
        match kind {
            "transport" => {
                let t = self.transport(id)?;
                t.trace = known_trace_types(data, TRANSPORT_TRACE_TYPES)?;
            }
            "producer" => {
                let p = self
                    .producers
                    .get_mut(id)
                    .ok_or_else(|| not_found("Producer", id))?;
                p.trace = known_trace_types(data, PRODUCER_TRACE_TYPES)?;
            }
            _ => {
                let c = self
                    .consumers
                    .get_mut(id)
                    .ok_or_else(|| not_found("Consumer", id))?;
                c.trace = known_trace_types(data, CONSUMER_TRACE_TYPES)?;
                self.packet_traces |= c.trace.per_packet();
            }
        }
        Ok(Value::Null)
    }

    // -- producers ----------------------------------------------------------

    pub fn produce(&mut self, transport_id: &str, data: Value) -> CoreResult<Value> {
        let data: ProduceData = from_json_value(data)?;
        let producer_id = Id::from(data.producer_id);
        if self.producers.contains_key(&producer_id) {
            return Err(CoreError::invalid_state(
                "a producer with that id already exists",
            ));
        }
        let slot = self.transport(transport_id)?;
        let (tid, router_id) = (slot.id.clone(), slot.router_id.clone());
        let caps = self
            .routers
            .get(&router_id)
            .ok_or_else(|| not_found("Router", &router_id))?
            .rtp_capabilities
            .clone();
        let mut params: RtpParameters = from_json_value(data.rtp_parameters)?;
        ortc::validate_rtp_parameters(&mut params)?;
        let mapping = ortc::negotiate_producer_rtp_parameters(&mut params, &caps)?;
        let consumable = ortc::get_consumable_rtp_parameters(data.kind, &params, &caps, &mapping);
        self.drive_result(&tid, |t, out| {
            t.add_producer(producer_id.clone(), data.kind, &params, out)
        })?;
        let router = self
            .routers
            .get_mut(&router_id)
            .ok_or_else(|| not_found("Router", &router_id))?;
        if let Err(e) = router.routing.add_producer(ProducerOptions {
            id: producer_id.clone(),
            transport_id: tid.clone(),
            kind: data.kind,
            rtp_parameters: params.clone(),
            rtp_mapping: mapping,
            paused: data.paused,
        }) {
            self.drive(&tid, Instant::now(), |t, out| {
                t.remove_producer(&producer_id, out)
            });
            return Err(e);
        }
        let producer_type = producer_type(&params);
        let answer = json!({
            "type": producer_type,
            "rtpParameters": params,
            "consumableRtpParameters": consumable,
        });
        if let Some(slot) = self.transports.get_mut(&tid) {
            slot.producers.push(producer_id.clone());
        }
        self.producers.insert(
            producer_id,
            ProducerSlot {
                transport_id: tid,
                router_id,
                kind: data.kind,
                producer_type,
                rtp_parameters: params,
                consumable_rtp_parameters: consumable,
                paused: data.paused,
                consumers: Vec::new(),
                trace: TraceTypes::default(),
                rates: RateSnapshot::new(Instant::now()),
            },
        );
        Ok(answer)
    }

    /// Closes a producer in the worker; its consumers close with it and
    /// their JS objects hear `producerclose`.
    pub fn close_producer(&mut self, producer_id: &str) {
        let Some(producer) = self.producers.remove(producer_id) else {
            return;
        };
        let closed = self
            .routers
            .get_mut(&producer.router_id)
            .map(|r| r.routing.remove_producer(producer_id))
            .unwrap_or_default();
        for consumer_id in closed {
            self.forget_consumer(&consumer_id);
            outbox::emit(&*consumer_id, "producerclose", Value::Null);
        }
        let tid = producer.transport_id.clone();
        if let Some(slot) = self.transports.get_mut(&tid) {
            slot.producers.retain(|p| **p != *producer_id);
        }
        self.drive(&tid, Instant::now(), |t, out| {
            t.remove_producer(producer_id, out)
        });
    }

    pub fn pause_producer(&mut self, producer_id: &str, paused: bool) -> CoreResult<Value> {
        let producer = self
            .producers
            .get_mut(producer_id)
            .ok_or_else(|| not_found("Producer", producer_id))?;
        if producer.paused == paused {
            return Ok(Value::Null);
        }
        producer.paused = paused;
        let (router_id, consumers) = (producer.router_id.clone(), producer.consumers.clone());
        let now = Instant::now();
        self.route_with(&router_id, None, now, |router, route| {
            if paused {
                router.pause_producer(producer_id);
            } else {
                router.resume_producer(producer_id, now, route);
            }
        });
        let event = if paused {
            "producerpause"
        } else {
            "producerresume"
        };
        for consumer_id in consumers {
            outbox::emit(&*consumer_id, event, Value::Null);
        }
        Ok(Value::Null)
    }

    pub fn producer_stats(&mut self, producer_id: &str) -> CoreResult<Value> {
        let producer = self
            .producers
            .get_mut(producer_id)
            .ok_or_else(|| not_found("Producer", producer_id))?;
        let Some(slot) = self.transports.get(&producer.transport_id) else {
            return Ok(json!([]));
        };
        // As mediasoup: a stream is listed once RTP has arrived on it.
        let list: Vec<_> = slot
            .transport
            .producer_stats(producer_id)
            .into_iter()
            .filter(|s| s.packets > 0)
            .collect();
        let bytes: Vec<u64> = list.iter().map(|s| s.bytes).collect();
        let rates = producer.rates.rates(Instant::now(), &bytes);
        let (kind, mime) = (producer.kind.as_str(), mime_type(&producer.rtp_parameters));
        Ok(Value::Array(
            list.iter()
                .zip(rates)
                .map(|(s, bitrate)| stats::inbound_rtp(s, kind, &mime, bitrate))
                .collect(),
        ))
    }

    pub fn dump_producer(&self, producer_id: &str) -> CoreResult<Value> {
        let p = self
            .producers
            .get(producer_id)
            .ok_or_else(|| not_found("Producer", producer_id))?;
        Ok(json!({
            "id": producer_id,
            "kind": p.kind,
            "type": p.producer_type,
            "rtpParameters": p.rtp_parameters,
            "rtpMapping": {},
            "rtpStreams": [],
            "traceEventTypes": p.trace.names(),
            "paused": p.paused,
        }))
    }

    // -- consumers ----------------------------------------------------------

    pub fn consume(&mut self, transport_id: &str, data: Value) -> CoreResult<Value> {
        let data: ConsumeData = from_json_value(data)?;
        let consumer_id = Id::from(data.consumer_id);
        if self.consumers.contains_key(&consumer_id) {
            return Err(CoreError::invalid_state(
                "a consumer with that id already exists",
            ));
        }
        let slot = self.transport(transport_id)?;
        let (tid, router_id, mid) = (slot.id.clone(), slot.router_id.clone(), slot.next_mid);
        let plain = slot.transport.as_plain();
        let pipe = plain.is_some_and(|p| p.is_pipe());
        let enable_rtx = data.enable_rtx.unwrap_or(true);
        let rtx = plain.map_or(enable_rtx, |p| p.consumer_rtx(enable_rtx));
        let plain = plain.is_some();
        let producer = self
            .producers
            .get(data.producer_id.as_str())
            .ok_or_else(|| {
                CoreError::other(format!(
                    "Producer with id \"{}\" not found",
                    data.producer_id
                ))
            })?;
        if producer.router_id != router_id {
            return Err(CoreError::other(format!(
                "Producer with id \"{}\" not found",
                data.producer_id
            )));
        }
        let producer_id = Id::from(data.producer_id.as_str());
        let (kind, producer_paused, producer_type) =
            (producer.kind, producer.paused, producer.producer_type);
        let mut params = if pipe {
            // Every encoding as it is, on SSRCs of its own (mediasoup's
            // pipe consumer parameters).
            ortc::get_pipe_consumer_rtp_parameters(&producer.consumable_rtp_parameters, rtx)
        } else {
            let mut caps: RtpCapabilities = from_json_value(data.rtp_capabilities)?;
            ortc::validate_rtp_capabilities(&mut caps)?;
            ortc::get_consumer_rtp_parameters(
                &producer.consumable_rtp_parameters,
                &caps,
                false,
                rtx,
            )?
        };
        if plain {
            plain_consumer_parameters(&mut params, rtx);
        }
        params.mid = Some(data.mid.clone().unwrap_or_else(|| mid.to_string()));
        // Same CNAME as the producer: mediasoup-client groups a peer's audio
        // and video into one stream (for lip sync) by it.
        params.rtcp.cname = Some(
            producer
                .rtp_parameters
                .rtcp
                .cname
                .clone()
                .unwrap_or_else(|| "opencall".to_owned()),
        );
        let transport_key = self
            .transports
            .key(&tid)
            .ok_or_else(|| CoreError::invalid_state("transport closed"))?;
        let mut added = Err(CoreError::invalid_state("transport closed"));
        self.drive(&tid, Instant::now(), |t, _| {
            added = t.add_consumer(consumer_id.clone(), kind, &params)
        });
        let consumer_route = ConsumerRoute {
            transport: transport_key,
            consumer: added?,
        };
        let layered = producer_type != "simple" && !pipe;
        let (max_spatial, max_temporal) = max_layers(&params);
        let preferred_layers = layered.then(|| match &data.preferred_layers {
            Some(l) => (
                l.spatial_layer.min(max_spatial),
                l.temporal_layer.unwrap_or(max_temporal).min(max_temporal),
            ),
            None => (max_spatial, max_temporal),
        });
        let preferred_layer = preferred_layers.map(|l| l.0);
        let preferred_temporal = temporal_choice(preferred_layers, max_temporal);
        let now = Instant::now();
        let added = self.route_with(&router_id, Some(&tid), now, |router, route| {
            router.add_consumer(
                ConsumerOptions {
                    id: consumer_id.clone(),
                    producer_id: producer_id.clone(),
                    transport_id: tid.clone(),
                    paused: data.paused,
                    preferred_layer,
                    preferred_temporal,
                    initial_seq: random_seq(),
                    pipe,
                    route: consumer_route,
                },
                now,
                route,
            )
        });
        if let Some(Err(e)) = added {
            self.drive(&tid, Instant::now(), |t, _| t.remove_consumer(&consumer_id));
            return Err(e);
        }
        if let Some(slot) = self.transports.get_mut(&tid) {
            if data.mid.is_none() {
                slot.next_mid += 1;
            }
            slot.consumers.push(consumer_id.clone());
        }
        if let Some(p) = self.producers.get_mut(&producer_id) {
            p.consumers.push(consumer_id.clone());
        }
        let consumer_type = if pipe { "pipe" } else { producer_type };
        let producer_scores = self.consumer_producer_score(&consumer_id).1;
        let answer = json!({
            "rtpParameters": params,
            "type": consumer_type,
            "paused": data.paused,
            "producerPaused": producer_paused,
            "score": { "score": 10, "producerScore": 10, "producerScores": producer_scores },
            "preferredLayers": preferred_layers.map(|(s, t)| json!({ "spatialLayer": s, "temporalLayer": t })),
        });
        self.consumers.insert(
            consumer_id,
            ConsumerSlot {
                transport_id: tid,
                router_id,
                producer_id,
                kind,
                consumer_type,
                rtp_parameters: params,
                paused: data.paused,
                priority: 1,
                preferred_layers,
                trace: TraceTypes::default(),
                rates: RateSnapshot::new(Instant::now()),
            },
        );
        Ok(answer)
    }

    /// Removes a consumer from its transport and the registries (the router
    /// has already forgotten it, or is told here).
    fn forget_consumer(&mut self, consumer_id: &str) {
        let Some(consumer) = self.consumers.remove(consumer_id) else {
            return;
        };
        if let Some(router) = self.routers.get_mut(&consumer.router_id) {
            router.routing.remove_consumer(consumer_id);
        }
        if let Some(p) = self.producers.get_mut(&consumer.producer_id) {
            p.consumers.retain(|c| **c != *consumer_id);
        }
        if let Some(slot) = self.transports.get_mut(&consumer.transport_id) {
            slot.consumers.retain(|c| **c != *consumer_id);
        }
        let tid = consumer.transport_id.clone();
        self.drive(&tid, Instant::now(), |t, _| t.remove_consumer(consumer_id));
    }

    pub fn close_consumer(&mut self, consumer_id: &str) {
        self.forget_consumer(consumer_id);
    }

    pub fn pause_consumer(&mut self, consumer_id: &str, paused: bool) -> CoreResult<Value> {
        let consumer = self
            .consumers
            .get_mut(consumer_id)
            .ok_or_else(|| not_found("Consumer", consumer_id))?;
        // Resuming a running consumer must not restart it (a restart waits
        // for a keyframe): as mediasoup, a no-op.
        if consumer.paused == paused {
            return Ok(Value::Null);
        }
        consumer.paused = paused;
        let (router_id, tid) = (consumer.router_id.clone(), consumer.transport_id.clone());
        let now = Instant::now();
        self.route_with(&router_id, Some(&tid), now, |router, route| {
            if paused {
                router.pause_consumer(consumer_id);
            } else {
                router.resume_consumer(consumer_id, now, route);
            }
        });
        Ok(Value::Null)
    }

    pub fn request_consumer_keyframe(&mut self, consumer_id: &str) -> CoreResult<Value> {
        let consumer = self
            .consumers
            .get(consumer_id)
            .ok_or_else(|| not_found("Consumer", consumer_id))?;
        let router_id = consumer.router_id.clone();
        let now = Instant::now();
        self.route_with(&router_id, None, now, |router, route| {
            router.on_consumer_keyframe_request(
                consumer_id,
                str0m::media::KeyframeRequestKind::Pli,
                None,
                now,
                route,
            )
        });
        Ok(Value::Null)
    }

    pub fn set_consumer_preferred_layers(
        &mut self,
        consumer_id: &str,
        data: Value,
    ) -> CoreResult<Value> {
        let layers: PreferredLayers = from_json_value(data)?;
        let consumer = self
            .consumers
            .get_mut(consumer_id)
            .ok_or_else(|| not_found("Consumer", consumer_id))?;
        if consumer.consumer_type != "simulcast" && consumer.consumer_type != "svc" {
            return Ok(Value::Null);
        }
        // Clamped to what the producer has, as mediasoup does.
        let (max_spatial, max_temporal) = max_layers(&consumer.rtp_parameters);
        let spatial = layers.spatial_layer.min(max_spatial);
        let temporal = layers
            .temporal_layer
            .unwrap_or(max_temporal)
            .min(max_temporal);
        consumer.preferred_layers = Some((spatial, temporal));
        let router_id = consumer.router_id.clone();
        let now = Instant::now();
        self.route_with(&router_id, None, now, |router, route| {
            router.set_preferred_temporal_layer(
                consumer_id,
                temporal_choice(Some((spatial, temporal)), max_temporal),
            );
            router.set_preferred_layer(consumer_id, Some(spatial), now, route)
        });
        Ok(json!({ "spatialLayer": spatial, "temporalLayer": temporal }))
    }

    pub fn set_consumer_priority(&mut self, consumer_id: &str, data: Value) -> CoreResult<Value> {
        let data: PriorityData = from_json_value(data)?;
        let consumer = self
            .consumers
            .get_mut(consumer_id)
            .ok_or_else(|| not_found("Consumer", consumer_id))?;
        consumer.priority = data.priority.max(1);
        let (router_id, priority) = (consumer.router_id.clone(), consumer.priority);
        if let Some(router) = self.routers.get_mut(&router_id) {
            router.routing.set_consumer_priority(consumer_id, priority);
        }
        Ok(json!({ "priority": priority }))
    }

    pub fn consumer_stats(&mut self, consumer_id: &str) -> CoreResult<Value> {
        let consumer = self
            .consumers
            .get_mut(consumer_id)
            .ok_or_else(|| not_found("Consumer", consumer_id))?;
        let mut list = Vec::new();
        let (kind, mime) = (consumer.kind.as_str(), mime_type(&consumer.rtp_parameters));
        if let Some(s) = self
            .transports
            .get(&consumer.transport_id)
            .and_then(|t| t.transport.consumer_stats(consumer_id))
        {
            let rate = consumer.rates.rates(Instant::now(), &[s.bytes])[0];
            list.push(stats::outbound_rtp(&s, kind, &mime, rate));
        }
        let producer_id = consumer.producer_id.clone();
        if let Ok(Value::Array(inbound)) = self.producer_stats(&producer_id) {
            list.extend(inbound);
        }
        Ok(Value::Array(list))
    }

    pub fn dump_consumer(&self, consumer_id: &str) -> CoreResult<Value> {
        let c = self
            .consumers
            .get(consumer_id)
            .ok_or_else(|| not_found("Consumer", consumer_id))?;
        let producer = self.producers.get(&c.producer_id);
        let consumable_encodings = producer
            .map(|p| json!(p.consumable_rtp_parameters.encodings))
            .unwrap_or(json!([]));
        let payload_types: Vec<u8> = c
            .rtp_parameters
            .codecs
            .iter()
            .map(|codec| codec.payload_type)
            .collect();
        Ok(json!({
            "id": consumer_id,
            "producerId": c.producer_id.to_string(),
            "kind": c.kind,
            "type": c.consumer_type,
            "rtpParameters": c.rtp_parameters,
            "consumableRtpEncodings": consumable_encodings,
            "supportedCodecPayloadTypes": payload_types,
            "traceEventTypes": c.trace.names(),
            "paused": c.paused,
            "producerPaused": producer.map(|p| p.paused).unwrap_or(false),
            "priority": c.priority,
            "preferredLayers": c.preferred_layers.map(|(s, t)| json!({ "spatialLayer": s, "temporalLayer": t })),
        }))
    }
}

/// mediasoup lowers the ICE priority with each listen info, so the order
/// the application gave is the order the browser tries.
fn ordered_candidates(transport: &WebRtcTransport) -> Value {
    const HOST_TYPE_PREFERENCE: u32 = 64;
    let candidates = transport.ice_candidates();
    Value::Array(
        candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let local_preference = 65535u32.saturating_sub(i as u32 * 1000);
                let priority = (HOST_TYPE_PREFERENCE << 24) + (local_preference << 8) + 255;
                let mut v = json!(c);
                v["priority"] = json!(priority);
                v
            })
            .collect(),
    )
}

/// A bound socket and the address its candidate announces.
pub(super) type BoundAt = (SocketAddr, BoundSocket);

pub(super) enum BoundSocket {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpListener),
}

/// Consumers start their sequence numbers at random, like mediasoup, and
/// below 2^15 so that the first wrap is far away.
/// What a PlainTransport (or pipe) consumer really sends: of the header
/// extensions, the audio level and the video orientation; no feedback it
/// would not honour (bandwidth estimation, and NACK unless `rtx`).
fn plain_consumer_parameters(params: &mut RtpParameters, rtx: bool) {
    // NACK only where a packet can come back: RTX is how plain and pipe
    // consumers resend.
    let rtx = rtx && params.codecs.iter().any(ortc::is_rtx_codec);
    params
        .header_extensions
        .retain(|h| PLAIN_EXTENSIONS.contains(&h.uri.as_str()));
    for codec in &mut params.codecs {
        codec.rtcp_feedback.retain(|fb| {
            !matches!(
                (fb.r#type.as_str(), fb.parameter.as_str()),
                ("transport-cc", _) | ("goog-remb", _)
            ) && (rtx || !(fb.r#type == "nack" && fb.parameter.is_empty()))
        });
    }
}

/// The header extensions plain and pipe consumers write.
const PLAIN_EXTENSIONS: [&str; 2] = [
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "urn:3gpp:video-orientation",
];

fn random_seq() -> u16 {
    (ortc::generate_random_ssrc() & 0x7fff) as u16
}
