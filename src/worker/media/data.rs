//! mediasoup's data plane: DataProducers and DataConsumers on WebRtcTransports
//! (SCTP data channels) and on DirectTransports (messages to and from Node),
//! and the routing of each message from a DataProducer to its DataConsumers.
//!
//! Messages are few and small next to media, so they travel to and from
//! Node as JSON with base64 payloads; the WebRTC side never touches Node.

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use super::base64::{base64_decode, base64_encode};
use super::requests::producer_consumer_maps;
use super::stats::timestamp_ms;
use super::{Id, Media, TransportSlot};
use crate::error::{CoreError, CoreResult};
use crate::ortc::types::SctpStreamParameters;
use crate::ortc::{from_json_value, validate_sctp_stream_parameters};
use crate::transport::webrtc::data_channels::DataChannelSpec;
use crate::transport::{PlainTransport, Transport};
use crate::worker::outbox;

/// SCTP payload protocol identifiers (RFC 8831): what a message is.
const PPID_STRING: u32 = 51;
const PPID_BINARY: u32 = 53;
const PPID_STRING_EMPTY: u32 = 56;
const PPID_BINARY_EMPTY: u32 = 57;

fn is_binary(ppid: u32) -> bool {
    matches!(ppid, PPID_BINARY | PPID_BINARY_EMPTY)
}

/// What an empty message is carried as: mediasoup's placeholder byte. To
/// Node it comes with its "empty" PPID; to a browser it arrives as that
/// byte (a space, or a zero), because the SCTP stack sends no empty
/// messages (RFC 8831's one-byte "empty" PPIDs are not in its API).
fn placeholder_if_empty(ppid: u32, data: &[u8]) -> &[u8] {
    match (ppid, data.is_empty()) {
        (PPID_STRING_EMPTY, true) => b" ",
        (PPID_BINARY_EMPTY, true) => &[0],
        _ => data,
    }
}

fn ppid_of(binary: bool, len: usize) -> u32 {
    match (binary, len == 0) {
        (true, false) => PPID_BINARY,
        (true, true) => PPID_BINARY_EMPTY,
        (false, false) => PPID_STRING,
        (false, true) => PPID_STRING_EMPTY,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Sctp,
    Direct,
}

impl DataType {
    fn name(self) -> &'static str {
        match self {
            DataType::Sctp => "sctp",
            DataType::Direct => "direct",
        }
    }
}

pub struct DataProducerSlot {
    pub transport_id: Id,
    pub router_id: Id,
    pub data_type: DataType,
    pub sctp_stream_parameters: Option<SctpStreamParameters>,
    pub label: String,
    pub protocol: String,
    pub paused: bool,
    pub consumers: Vec<Id>,
    messages_received: u64,
    bytes_received: u64,
}

pub struct DataConsumerSlot {
    pub transport_id: Id,
    pub data_producer_id: Id,
    pub data_type: DataType,
    pub sctp_stream_parameters: Option<SctpStreamParameters>,
    pub label: String,
    pub protocol: String,
    pub paused: bool,
    /// Only messages sent to one of these reach it, when a message names any.
    pub subchannels: Vec<u16>,
    buffered_amount_low_threshold: usize,
    messages_sent: u64,
    bytes_sent: u64,
}

/// A DirectTransport: no network, its data endpoints are in Node.
pub struct DirectTransportSlot {
    pub router_id: Id,
    pub max_message_size: usize,
    pub data_producers: Vec<Id>,
    pub data_consumers: Vec<Id>,
    bytes_received: u64,
    bytes_sent: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProduceData {
    data_producer_id: String,
    sctp_stream_parameters: Option<SctpStreamParameters>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    paused: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumeData {
    data_consumer_id: String,
    data_producer_id: String,
    ordered: Option<bool>,
    max_packet_life_time: Option<u16>,
    max_retransmits: Option<u16>,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    subchannels: Vec<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendData {
    ppid: u32,
    data: String,
    #[serde(default)]
    subchannels: Option<Vec<u16>>,
    required_subchannel: Option<u16>,
    ignored_subchannel: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateDirectTransportData {
    transport_id: String,
    max_message_size: Option<usize>,
}

/// Which subchannels a message was sent to (DirectTransport DataProducers).
#[derive(Default)]
struct Audience {
    subchannels: Vec<u16>,
    required: Option<u16>,
    ignored: Option<u16>,
}

impl Audience {
    /// mediasoup's rule: a message naming subchannels reaches consumers
    /// subscribed to one of them; a required subchannel must be among the
    /// consumer's, an ignored one must not.
    fn includes(&self, consumer: &DataConsumerSlot) -> bool {
        let subscribed = |s: &u16| consumer.subchannels.contains(s);
        self.required.as_ref().is_none_or(subscribed)
            && !self.ignored.as_ref().is_some_and(subscribed)
            && (self.subchannels.is_empty() || self.subchannels.iter().any(subscribed))
    }
}

#[derive(Deserialize)]
struct SendRtpData {
    /// The RTP (or RTCP) packet, base64.
    data: String,
}

fn not_found(what: &str, id: &str) -> CoreError {
    CoreError::invalid_state(format!("{what} with id \"{id}\" not found"))
}

impl Media {
    // -- DirectTransport --------------------------------------------------

    pub fn create_direct_transport(&mut self, router_id: &str, data: Value) -> CoreResult<Value> {
        let data: CreateDirectTransportData = from_json_value(data)?;
        let router = self
            .routers
            .get_mut(router_id)
            .ok_or_else(|| not_found("Router", router_id))?;
        let id = Id::from(data.transport_id);
        if self.direct_transports.contains_key(&id) || self.transports.contains_key(&id) {
            return Err(CoreError::invalid_state(
                "a transport with that id already exists",
            ));
        }
        router.transports.push(id.clone());
        // Its RTP side (producer.send(), consumer `rtp`): a socketless plain
        // transport under the same id, where produce/consume find it.
        let now = Instant::now();
        let rtp = PlainTransport::direct(now);
        self.transports.insert(
            id.clone(),
            TransportSlot::new(
                id.clone(),
                Id::from(router_id),
                Transport::Plain(rtp),
                (Vec::new(), Vec::new()),
                now,
            ),
        );
        self.direct_transports.insert(
            id,
            DirectTransportSlot {
                router_id: Id::from(router_id),
                max_message_size: data.max_message_size.unwrap_or(262_144),
                data_producers: Vec::new(),
                data_consumers: Vec::new(),
                bytes_received: 0,
                bytes_sent: 0,
            },
        );
        Ok(Value::Null)
    }

    /// Closes a DirectTransport and its data endpoints; false if `id` is
    /// not one.
    pub(super) fn close_direct_transport(&mut self, id: &str) -> bool {
        let Some(slot) = self.direct_transports.get(id) else {
            return false;
        };
        let (producers, consumers) = (slot.data_producers.clone(), slot.data_consumers.clone());
        for p in producers {
            self.close_data_producer(&p);
        }
        for c in consumers {
            self.close_data_consumer(&c);
        }
        if let Some(slot) = self.direct_transports.remove(id)
            && let Some(router) = self.routers.get_mut(&slot.router_id)
        {
            router.transports.retain(|t| **t != *id);
        }
        true
    }

    /// `producer.send(rtpPacket)` for a producer on a DirectTransport.
    pub fn producer_send(&mut self, producer_id: &str, data: Value) -> CoreResult<Value> {
        let data: SendRtpData = from_json_value(data)?;
        let producer = self
            .producers
            .get(producer_id)
            .ok_or_else(|| not_found("Producer", producer_id))?;
        let transport_id = producer.transport_id.clone();
        if !self.direct_transports.contains_key(&transport_id) {
            return Err(CoreError::invalid_state(
                "producer.send() is only for DirectTransport producers",
            ));
        }
        self.feed_direct(&transport_id, &data.data, false)
    }

    /// A packet from Node (base64) into a DirectTransport's RTP side.
    fn feed_direct(&mut self, transport_id: &Id, data: &str, rtcp: bool) -> CoreResult<Value> {
        let what = if rtcp { "rtcpPacket" } else { "rtpPacket" };
        let packet = base64_decode(data)
            .ok_or_else(|| CoreError::type_error(format!("{what} is not valid base64")))?;
        self.drive(transport_id, Instant::now(), |t, out| {
            if let Transport::Plain(plain) = t {
                if rtcp {
                    plain.receive_direct_rtcp(Instant::now(), &packet, out);
                } else {
                    plain.receive_direct(Instant::now(), &packet, out);
                }
            }
        });
        Ok(Value::Null)
    }

    /// `directTransport.sendRtcp(rtcpPacket)`: RTCP from Node, as a peer's.
    pub fn direct_transport_send_rtcp(
        &mut self,
        transport_id: &str,
        data: Value,
    ) -> CoreResult<Value> {
        let data: SendRtpData = from_json_value(data)?;
        let Some((id, _)) = self.direct_transports.get_key_value(transport_id) else {
            return Err(not_found("DirectTransport", transport_id));
        };
        let id = id.clone();
        self.feed_direct(&id, &data.data, true)
    }

    pub(super) fn direct_transport_dump(&self, id: &str) -> Option<Value> {
        let slot = self.direct_transports.get(id)?;
        let ids = |list: Option<&Vec<Id>>| {
            list.map(|l| l.iter().map(|i| i.to_string()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let rtp = self.transports.get(id);
        Some(json!({
            "id": id,
            "direct": true,
            "producerIds": ids(rtp.map(|r| &r.producers)),
            "consumerIds": ids(rtp.map(|r| &r.consumers)),
            "mapSsrcConsumerId": {},
            "mapRtxSsrcConsumerId": {},
            "dataProducerIds": slot.data_producers.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "dataConsumerIds": slot.data_consumers.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "recvRtpHeaderExtensions": {},
            "rtpListener": { "ssrcTable": {}, "midTable": {}, "ridTable": {} },
            "maxMessageSize": slot.max_message_size,
            "traceEventTypes": rtp.map(|r| r.trace.names()).unwrap_or_default(),
        }))
    }

    pub(super) fn direct_transport_stats(&self, id: &str) -> Option<Value> {
        let slot = self.direct_transports.get(id)?;
        // Data counted here, RTP by its RTP side.
        let rtp = self
            .transports
            .get(id)
            .map(|t| t.transport.stats())
            .unwrap_or_default();
        Some(json!([{
            "type": "direct-transport",
            "transportId": id,
            "timestamp": timestamp_ms(),
            "bytesReceived": slot.bytes_received + rtp.bytes_received,
            "recvBitrate": 0,
            "bytesSent": slot.bytes_sent + rtp.bytes_sent,
            "sendBitrate": 0,
            "rtpBytesReceived": rtp.rtp_bytes_received,
            "rtpRecvBitrate": 0,
            "rtpBytesSent": rtp.rtp_bytes_sent,
            "rtpSendBitrate": 0,
            "rtxBytesReceived": rtp.rtx_bytes_received,
            "rtxRecvBitrate": 0,
            "rtxBytesSent": rtp.rtx_bytes_sent,
            "rtxSendBitrate": 0,
            "probationBytesSent": 0,
            "probationSendBitrate": 0,
        }]))
    }

    /// The router and data type of a transport that can carry data.
    fn data_transport(&self, transport_id: &str) -> CoreResult<(Id, DataType)> {
        if let Some(d) = self.direct_transports.get(transport_id) {
            return Ok((d.router_id.clone(), DataType::Direct));
        }
        let slot = self
            .transports
            .get(transport_id)
            .ok_or_else(|| not_found("Transport", transport_id))?;
        if slot.sctp_streams.is_none() {
            return Err(CoreError::invalid_state(
                "transport has no SCTP association (enableSctp is false)",
            ));
        }
        Ok((slot.router_id.clone(), DataType::Sctp))
    }

    // -- DataProducer -----------------------------------------------------

    pub fn produce_data(&mut self, transport_id: &str, data: Value) -> CoreResult<Value> {
        let data: ProduceData = from_json_value(data)?;
        let (router_id, data_type) = self.data_transport(transport_id)?;
        let id = Id::from(data.data_producer_id);
        if self.data_producers.contains_key(&id) {
            return Err(CoreError::invalid_state(
                "a DataProducer with that id already exists",
            ));
        }
        let stream = match (data_type, data.sctp_stream_parameters) {
            (DataType::Sctp, None) => {
                return Err(CoreError::type_error("missing sctpStreamParameters"));
            }
            (DataType::Sctp, Some(mut s)) => {
                validate_sctp_stream_parameters(&mut s)?;
                Some(s)
            }
            // A DirectTransport has no streams: given parameters (a piped
            // SCTP data producer's) are only its SCTP consumers' defaults.
            (DataType::Direct, Some(mut s)) => {
                validate_sctp_stream_parameters(&mut s)?;
                Some(s)
            }
            (DataType::Direct, None) => None,
        };
        let tid = Id::from(transport_id);
        if let (DataType::Sctp, Some(stream)) = (data_type, stream) {
            let spec = DataChannelSpec {
                stream,
                label: data.label.clone(),
                protocol: data.protocol.clone(),
            };
            self.drive_result(&tid, |t, out| {
                t.webrtc()?.add_data_channel(&id, false, &spec, out)
            })?;
        }
        match data_type {
            DataType::Sctp => self
                .transports
                .get_mut(&tid)
                .map(|s| s.data_producers.push(id.clone())),
            DataType::Direct => self
                .direct_transports
                .get_mut(&tid)
                .map(|s| s.data_producers.push(id.clone())),
        };
        let slot = DataProducerSlot {
            transport_id: tid,
            router_id,
            data_type,
            sctp_stream_parameters: stream,
            label: data.label,
            protocol: data.protocol,
            paused: data.paused,
            consumers: Vec::new(),
            messages_received: 0,
            bytes_received: 0,
        };
        let answer = data_producer_dump(&id, &slot);
        self.data_producers.insert(id, slot);
        Ok(answer)
    }

    /// Closes a DataProducer; its DataConsumers close with it and hear
    /// `dataproducerclose`.
    pub fn close_data_producer(&mut self, id: &str) {
        let Some(p) = self.data_producers.remove(id) else {
            return;
        };
        for c in &p.consumers {
            self.forget_data_consumer(c);
            outbox::emit(&**c, "dataproducerclose", Value::Null);
        }
        self.detach_data_endpoint(&p.transport_id, id, false);
    }

    pub fn pause_data_producer(&mut self, id: &str, paused: bool) -> CoreResult<Value> {
        let p = self
            .data_producers
            .get_mut(id)
            .ok_or_else(|| not_found("DataProducer", id))?;
        if p.paused != paused {
            p.paused = paused;
            let event = if paused {
                "dataproducerpause"
            } else {
                "dataproducerresume"
            };
            for c in &p.consumers {
                outbox::emit(&**c, event, Value::Null);
            }
        }
        Ok(Value::Null)
    }

    pub fn dump_data_producer(&self, id: &str) -> CoreResult<Value> {
        let p = self
            .data_producers
            .get(id)
            .ok_or_else(|| not_found("DataProducer", id))?;
        Ok(data_producer_dump(id, p))
    }

    pub fn data_producer_stats(&self, id: &str) -> CoreResult<Value> {
        let p = self
            .data_producers
            .get(id)
            .ok_or_else(|| not_found("DataProducer", id))?;
        Ok(json!([{
            "type": "data-producer",
            "timestamp": timestamp_ms(),
            "label": p.label,
            "protocol": p.protocol,
            "messagesReceived": p.messages_received,
            "bytesReceived": p.bytes_received,
        }]))
    }

    /// `dataProducer.send()` on a DirectTransport: a message from Node.
    pub fn data_producer_send(&mut self, id: &str, data: Value) -> CoreResult<Value> {
        let data: SendData = from_json_value(data)?;
        let p = self
            .data_producers
            .get(id)
            .ok_or_else(|| not_found("DataProducer", id))?;
        if p.data_type != DataType::Direct {
            return Err(CoreError::invalid_state(
                "send() is for DataProducers of a DirectTransport",
            ));
        }
        let payload = base64_decode(&data.data)
            .ok_or_else(|| CoreError::type_error("message is not valid base64"))?;
        let max = self
            .direct_transports
            .get(&p.transport_id)
            .map_or(usize::MAX, |d| d.max_message_size);
        if payload.len() > max {
            return Err(CoreError::type_error(format!(
                "message larger than maxMessageSize ({} > {max})",
                payload.len()
            )));
        }
        if let Some(d) = self.direct_transports.get_mut(&p.transport_id) {
            d.bytes_received += payload.len() as u64;
        }
        let audience = Audience {
            subchannels: data.subchannels.unwrap_or_default(),
            required: data.required_subchannel,
            ignored: data.ignored_subchannel,
        };
        self.route_data(id, data.ppid, &payload, &audience);
        Ok(Value::Null)
    }

    /// A message from a browser's data channel (`TransportEvent::DataMessage`).
    pub(super) fn on_data_message(&mut self, data_producer_id: &Id, binary: bool, data: &[u8]) {
        let ppid = ppid_of(binary, data.len());
        self.route_data(data_producer_id, ppid, data, &Audience::default());
    }

    /// One message from a DataProducer to each of its DataConsumers.
    fn route_data(&mut self, data_producer_id: &str, ppid: u32, data: &[u8], audience: &Audience) {
        let Some(p) = self.data_producers.get_mut(data_producer_id) else {
            return;
        };
        p.messages_received += 1;
        p.bytes_received += data.len() as u64;
        if p.paused {
            return;
        }
        for i in 0..p.consumers.len() {
            let consumer_id = self.data_producers[data_producer_id].consumers[i].clone();
            self.deliver(&consumer_id, ppid, data, audience);
        }
    }

    /// One message to one DataConsumer, as its transport carries it.
    fn deliver(&mut self, consumer_id: &Id, ppid: u32, data: &[u8], audience: &Audience) {
        let Some(c) = self.data_consumers.get(consumer_id) else {
            return;
        };
        if c.paused || !audience.includes(c) {
            return;
        }
        let tid = c.transport_id.clone();
        let sent = match c.data_type {
            DataType::Direct => {
                outbox::emit(
                    &**consumer_id,
                    "message",
                    json!({ "ppid": ppid, "data": base64_encode(placeholder_if_empty(ppid, data)) }),
                );
                if let Some(d) = self.direct_transports.get_mut(&tid) {
                    d.bytes_sent += data.len() as u64;
                }
                true
            }
            DataType::Sctp => {
                let (binary, payload) = (is_binary(ppid), placeholder_if_empty(ppid, data));
                let sent = self.drive_result(&tid, |t, out| {
                    t.webrtc()?.send_data(consumer_id, binary, payload, out)
                });
                match sent {
                    Ok(true) => true,
                    Ok(false) => {
                        // mediasoup's signal that the SCTP send buffer is
                        // full: the message is lost.
                        outbox::emit(&**consumer_id, "sctpsendbufferfull", Value::Null);
                        false
                    }
                    // Not connected yet, or the channel is gone: dropped, as
                    // mediasoup drops what an inactive consumer cannot send.
                    Err(_) => false,
                }
            }
        };
        if let (true, Some(c)) = (sent, self.data_consumers.get_mut(consumer_id)) {
            c.messages_sent += 1;
            c.bytes_sent += data.len() as u64;
        }
    }

    // -- DataConsumer -----------------------------------------------------

    pub fn consume_data(&mut self, transport_id: &str, data: Value) -> CoreResult<Value> {
        let data: ConsumeData = from_json_value(data)?;
        let (router_id, data_type) = self.data_transport(transport_id)?;
        let id = Id::from(data.data_consumer_id);
        if self.data_consumers.contains_key(&id) {
            return Err(CoreError::invalid_state(
                "a DataConsumer with that id already exists",
            ));
        }
        let producer_id = Id::from(data.data_producer_id.as_str());
        let producer = self
            .data_producers
            .get(&producer_id)
            .ok_or_else(|| not_found("DataProducer", &producer_id))?;
        if producer.router_id != router_id {
            return Err(not_found("DataProducer", &producer_id));
        }
        let (label, protocol, producer_paused) = (
            producer.label.clone(),
            producer.protocol.clone(),
            producer.paused,
        );
        let tid = Id::from(transport_id);
        let stream = match data_type {
            DataType::Direct => None,
            DataType::Sctp => {
                // The producer's reliability unless the call overrides it,
                // on a stream id this transport does not use yet.
                let mut s = producer
                    .sctp_stream_parameters
                    .unwrap_or(SctpStreamParameters {
                        stream_id: 0,
                        ordered: Some(true),
                        max_packet_life_time: None,
                        max_retransmits: None,
                    });
                if data.ordered.is_some() {
                    s.ordered = data.ordered;
                }
                if data.max_packet_life_time.is_some() {
                    s.max_packet_life_time = data.max_packet_life_time;
                    s.max_retransmits = None;
                }
                if data.max_retransmits.is_some() {
                    s.max_retransmits = data.max_retransmits;
                    s.max_packet_life_time = None;
                }
                if data.max_packet_life_time.is_some() || data.max_retransmits.is_some() {
                    s.ordered = Some(data.ordered.unwrap_or(false));
                }
                validate_sctp_stream_parameters(&mut s)?;
                s.stream_id = self.free_sctp_stream(&tid)?;
                let spec = DataChannelSpec {
                    stream: s,
                    label: label.clone(),
                    protocol: protocol.clone(),
                };
                self.drive_result(&tid, |t, out| {
                    t.webrtc()?.add_data_channel(&id, true, &spec, out)
                })?;
                Some(s)
            }
        };
        match data_type {
            DataType::Sctp => self
                .transports
                .get_mut(&tid)
                .map(|s| s.data_consumers.push(id.clone())),
            DataType::Direct => self
                .direct_transports
                .get_mut(&tid)
                .map(|s| s.data_consumers.push(id.clone())),
        };
        if let Some(p) = self.data_producers.get_mut(&producer_id) {
            p.consumers.push(id.clone());
        }
        let slot = DataConsumerSlot {
            transport_id: tid,
            data_producer_id: producer_id,
            data_type,
            sctp_stream_parameters: stream,
            label,
            protocol,
            paused: data.paused,
            subchannels: normalized_subchannels(data.subchannels),
            buffered_amount_low_threshold: 0,
            messages_sent: 0,
            bytes_sent: 0,
        };
        let answer = data_consumer_dump(&id, &slot, producer_paused);
        self.data_consumers.insert(id, slot);
        Ok(answer)
    }

    /// The lowest SCTP stream id the transport does not use (mediasoup
    /// hands them out the same way), below its stream count.
    fn free_sctp_stream(&self, transport_id: &Id) -> CoreResult<u16> {
        let slot = self
            .transports
            .get(transport_id)
            .ok_or_else(|| not_found("Transport", transport_id))?;
        let streams = slot.sctp_streams.unwrap_or(0);
        (0..streams)
            .find(|id| {
                !slot
                    .transport
                    .as_webrtc()
                    .is_some_and(|t| t.sctp_stream_in_use(*id))
            })
            .ok_or_else(|| CoreError::other("no more available SCTP stream ids"))
    }

    /// Removes a DataConsumer from its producer and transport.
    fn forget_data_consumer(&mut self, id: &str) {
        let Some(c) = self.data_consumers.remove(id) else {
            return;
        };
        if let Some(p) = self.data_producers.get_mut(&c.data_producer_id) {
            p.consumers.retain(|x| **x != *id);
        }
        self.detach_data_endpoint(&c.transport_id, id, true);
    }

    pub fn close_data_consumer(&mut self, id: &str) {
        self.forget_data_consumer(id);
    }

    /// Drops a data endpoint from its transport's lists (closing its channel).
    fn detach_data_endpoint(&mut self, transport_id: &Id, id: &str, consumer: bool) {
        if let Some(d) = self.direct_transports.get_mut(transport_id) {
            let list = if consumer {
                &mut d.data_consumers
            } else {
                &mut d.data_producers
            };
            list.retain(|x| **x != *id);
            return;
        }
        if let Some(slot) = self.transports.get_mut(transport_id) {
            let list = if consumer {
                &mut slot.data_consumers
            } else {
                &mut slot.data_producers
            };
            list.retain(|x| **x != *id);
        }
        self.drive(transport_id, Instant::now(), |t, out| {
            if let Ok(t) = t.webrtc() {
                t.remove_data_channel(id, out)
            }
        });
    }

    pub fn pause_data_consumer(&mut self, id: &str, paused: bool) -> CoreResult<Value> {
        let c = self
            .data_consumers
            .get_mut(id)
            .ok_or_else(|| not_found("DataConsumer", id))?;
        c.paused = paused;
        Ok(Value::Null)
    }

    pub fn dump_data_consumer(&self, id: &str) -> CoreResult<Value> {
        let c = self
            .data_consumers
            .get(id)
            .ok_or_else(|| not_found("DataConsumer", id))?;
        let producer_paused = self
            .data_producers
            .get(&c.data_producer_id)
            .is_some_and(|p| p.paused);
        Ok(data_consumer_dump(id, c, producer_paused))
    }

    pub fn data_consumer_stats(&mut self, id: &str) -> CoreResult<Value> {
        let buffered = self.data_buffered_amount(id)?;
        let c = &self.data_consumers[id];
        Ok(json!([{
            "type": "data-consumer",
            "timestamp": timestamp_ms(),
            "label": c.label,
            "protocol": c.protocol,
            "messagesSent": c.messages_sent,
            "bytesSent": c.bytes_sent,
            "bufferedAmount": buffered,
        }]))
    }

    fn data_buffered_amount(&mut self, id: &str) -> CoreResult<usize> {
        let c = self
            .data_consumers
            .get(id)
            .ok_or_else(|| not_found("DataConsumer", id))?;
        if c.data_type == DataType::Direct {
            return Ok(0);
        }
        let tid = c.transport_id.clone();
        Ok(self
            .transports
            .get_mut(&tid)
            .and_then(|s| s.transport.webrtc().ok())
            .map_or(0, |t| t.data_buffered_amount(id)))
    }

    pub fn data_consumer_buffered_amount(&mut self, id: &str) -> CoreResult<Value> {
        Ok(json!({ "bufferedAmount": self.data_buffered_amount(id)? }))
    }

    pub fn set_data_consumer_buffered_amount_low_threshold(
        &mut self,
        id: &str,
        data: Value,
    ) -> CoreResult<Value> {
        #[derive(Deserialize)]
        struct Threshold {
            threshold: usize,
        }
        let Threshold { threshold } = from_json_value(data)?;
        let c = self
            .data_consumers
            .get_mut(id)
            .ok_or_else(|| not_found("DataConsumer", id))?;
        c.buffered_amount_low_threshold = threshold;
        if c.data_type == DataType::Sctp {
            let tid = c.transport_id.clone();
            self.drive(&tid, Instant::now(), |t, out| {
                if let Ok(t) = t.webrtc() {
                    t.set_data_buffered_amount_low_threshold(id, threshold, out)
                }
            });
        }
        Ok(Value::Null)
    }

    pub fn set_data_consumer_subchannels(&mut self, id: &str, data: Value) -> CoreResult<Value> {
        #[derive(Deserialize)]
        struct Subchannels {
            subchannels: Vec<u16>,
        }
        let Subchannels { subchannels } = from_json_value(data)?;
        let c = self
            .data_consumers
            .get_mut(id)
            .ok_or_else(|| not_found("DataConsumer", id))?;
        c.subchannels = normalized_subchannels(subchannels);
        Ok(json!({ "subchannels": c.subchannels }))
    }

    /// `dataConsumer.send()`: a message from Node straight to this consumer's
    /// endpoint (its browser over SCTP, or its `message` event).
    pub fn data_consumer_send(&mut self, id: &str, data: Value) -> CoreResult<Value> {
        let data: SendData = from_json_value(data)?;
        if !self.data_consumers.contains_key(id) {
            return Err(not_found("DataConsumer", id));
        }
        let payload = base64_decode(&data.data)
            .ok_or_else(|| CoreError::type_error("message is not valid base64"))?;
        let c = &self.data_consumers[id];
        if c.data_type == DataType::Sctp {
            let tid = c.transport_id.clone();
            let binary = is_binary(data.ppid);
            let payload = placeholder_if_empty(data.ppid, &payload);
            let sent = self.drive_result(&tid, |t, out| {
                t.webrtc()?.send_data(id, binary, payload, out)
            })?;
            if !sent {
                return Err(CoreError::other(
                    "message not sent: the SCTP send buffer is full",
                ));
            }
            if let Some(c) = self.data_consumers.get_mut(id) {
                c.messages_sent += 1;
                c.bytes_sent += payload.len() as u64;
            }
        } else {
            let cid = Id::from(id);
            self.deliver(&cid, data.ppid, &payload, &Audience::default());
        }
        Ok(Value::Null)
    }

    pub(super) fn on_data_buffered_amount_low(&mut self, id: &Id) {
        let amount = self.data_buffered_amount(id).unwrap_or(0);
        outbox::emit(
            &**id,
            "bufferedamountlow",
            json!({ "bufferedAmount": amount }),
        );
    }

    /// Router dump fields: each data producer's consumers, and back.
    pub(super) fn router_data_dump(&self, router_id: &str) -> (Value, Value) {
        let links: Vec<(&Id, &[Id])> = self
            .data_producers
            .iter()
            .filter(|(_, p)| &*p.router_id == router_id)
            .map(|(id, p)| (id, p.consumers.as_slice()))
            .collect();
        producer_consumer_maps(&links)
    }
}

fn normalized_subchannels(mut list: Vec<u16>) -> Vec<u16> {
    list.sort_unstable();
    list.dedup();
    list
}

fn data_producer_dump(id: &str, p: &DataProducerSlot) -> Value {
    let mut dump = json!({
        "id": id,
        "paused": p.paused,
        "type": p.data_type.name(),
        "label": p.label,
        "protocol": p.protocol,
    });
    if let (DataType::Sctp, Some(s)) = (p.data_type, &p.sctp_stream_parameters) {
        dump["sctpStreamParameters"] = json!(s);
    }
    dump
}

fn data_consumer_dump(id: &str, c: &DataConsumerSlot, producer_paused: bool) -> Value {
    let mut dump = json!({
        "id": id,
        "paused": c.paused,
        "dataProducerPaused": producer_paused,
        "subchannels": c.subchannels,
        "dataProducerId": c.data_producer_id.to_string(),
        "type": c.data_type.name(),
        "label": c.label,
        "protocol": c.protocol,
        "bufferedAmountLowThreshold": c.buffered_amount_low_threshold,
    });
    if let Some(s) = &c.sctp_stream_parameters {
        dump["sctpStreamParameters"] = json!(s);
    }
    dump
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppids_say_text_or_binary() {
        assert_eq!(ppid_of(false, 3), PPID_STRING);
        assert_eq!(ppid_of(true, 3), PPID_BINARY);
        assert_eq!(ppid_of(false, 0), PPID_STRING_EMPTY);
        assert_eq!(ppid_of(true, 0), PPID_BINARY_EMPTY);
        assert!(is_binary(PPID_BINARY) && !is_binary(PPID_STRING));
    }

    fn consumer(subchannels: Vec<u16>) -> DataConsumerSlot {
        DataConsumerSlot {
            transport_id: Id::from("t"),
            data_producer_id: Id::from("p"),
            data_type: DataType::Direct,
            sctp_stream_parameters: None,
            label: String::new(),
            protocol: String::new(),
            paused: false,
            subchannels,
            buffered_amount_low_threshold: 0,
            messages_sent: 0,
            bytes_sent: 0,
        }
    }

    #[test]
    fn subchannels_choose_the_audience() {
        let everyone = Audience::default();
        let to_one = Audience {
            subchannels: vec![1],
            ..Audience::default()
        };
        let required = Audience {
            required: Some(2),
            ..Audience::default()
        };
        let ignored = Audience {
            ignored: Some(2),
            ..Audience::default()
        };
        let (none, one, two) = (consumer(vec![]), consumer(vec![1]), consumer(vec![1, 2]));
        assert!(everyone.includes(&none) && everyone.includes(&one));
        assert!(!to_one.includes(&none) && to_one.includes(&one) && to_one.includes(&two));
        assert!(!required.includes(&one) && required.includes(&two));
        assert!(ignored.includes(&none) && ignored.includes(&one) && !ignored.includes(&two));
    }
}
