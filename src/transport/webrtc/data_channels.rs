//! Data channels: SCTP over the transport's DTLS, as mediasoup's
//! DataProducers and DataConsumers use it.
//!
//! mediasoup-client opens every data channel *negotiated* (no DCEP), on the
//! stream id the signaling agreed: the browser picks its DataProducers' ids,
//! the server picks its DataConsumers'. Each side therefore declares the
//! stream itself; here a DataProducer or DataConsumer is one str0m channel
//! created with `negotiated: Some(stream_id)`.

use std::collections::HashMap;

use serde::Serialize;
use str0m::Event;
use str0m::channel::{ChannelConfig, ChannelId, Reliability};

use super::{Id, TransportEvent, TransportOutput, WebRtcTransport};
use crate::error::{CoreError, CoreResult};
use crate::ortc::types::SctpStreamParameters;

/// mediasoup's `sctpState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SctpState {
    New,
    Connecting,
    Connected,
    Failed,
    Closed,
}

/// A data channel to declare: a DataProducer's (the browser sends on it) or a
/// DataConsumer's (the server sends on it).
#[derive(Debug, Clone)]
pub struct DataChannelSpec {
    pub stream: SctpStreamParameters,
    pub label: String,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Producer(Id),
    Consumer(Id),
}

/// The SCTP side of a transport created with `enableSctp`.
#[derive(Debug)]
pub(super) struct SctpSide {
    pub(super) state: SctpState,
    /// Larger messages are dropped, in both directions (`maxSctpMessageSize`).
    pub(super) max_message_size: usize,
    /// Each channel's owner and SCTP stream id.
    channels: HashMap<ChannelId, (Endpoint, u16)>,
    by_endpoint: HashMap<Id, ChannelId>,
    /// Streams str0m still holds that are nobody's here: channels closed
    /// until str0m reports them closed (a channel closed before the
    /// association is up is opened, then closed, once it is), and channels
    /// the browser opened on its own. Their ids cannot be given out again
    /// (str0m refuses a stream id twice).
    held: HashMap<ChannelId, u16>,
}

impl SctpSide {
    pub(super) fn new(max_message_size: usize) -> Self {
        Self {
            state: SctpState::New,
            max_message_size,
            channels: HashMap::new(),
            by_endpoint: HashMap::new(),
            held: HashMap::new(),
        }
    }
}

fn channel_config(spec: &DataChannelSpec) -> ChannelConfig {
    let s = &spec.stream;
    // Zero means "not given", as mediasoup reads these.
    let reliability = match (
        s.max_packet_life_time.filter(|v| *v != 0),
        s.max_retransmits.filter(|v| *v != 0),
    ) {
        (Some(lifetime), _) => Reliability::MaxPacketLifetime { lifetime },
        (None, Some(retransmits)) => Reliability::MaxRetransmits { retransmits },
        (None, None) => Reliability::Reliable,
    };
    ChannelConfig {
        label: spec.label.clone(),
        ordered: s.ordered.unwrap_or(true),
        reliability,
        negotiated: Some(s.stream_id),
        protocol: spec.protocol.clone(),
    }
}

impl WebRtcTransport {
    /// `None` when the transport was created without SCTP.
    pub fn sctp_state(&self) -> Option<SctpState> {
        self.sctp.as_ref().map(|s| s.state)
    }

    /// Whether one of this transport's data channels uses `stream_id`
    /// (SCTP streams carry both directions).
    pub fn sctp_stream_in_use(&self, stream_id: u16) -> bool {
        self.sctp.as_ref().is_some_and(|s| {
            s.channels.values().any(|(_, id)| *id == stream_id)
                || s.held.values().any(|id| *id == stream_id)
        })
    }

    /// Starts the association once DTLS has its role (from `connect()`).
    pub(super) fn start_sctp(&mut self, dtls_client: bool, out: &mut TransportOutput) {
        if self.sctp.is_none() {
            return;
        }
        let _ = self.guarded(out, |rtc| rtc.direct_api().start_sctp(dtls_client));
        self.set_sctp_state(SctpState::Connecting, out);
    }

    pub(super) fn set_sctp_state(&mut self, state: SctpState, out: &mut TransportOutput) {
        let Some(sctp) = &mut self.sctp else {
            return;
        };
        if sctp.state != state {
            sctp.state = state;
            out.events.push(TransportEvent::SctpStateChange(state));
        }
    }

    /// A DataProducer (`data_consumer == false`) or DataConsumer: declares
    /// its negotiated channel.
    pub fn add_data_channel(
        &mut self,
        id: &Id,
        data_consumer: bool,
        spec: &DataChannelSpec,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        self.ensure_alive()?;
        if self.sctp.is_none() {
            return Err(CoreError::invalid_state(
                "transport has no SCTP association (enableSctp is false)",
            ));
        }
        if self.sctp_stream_in_use(spec.stream.stream_id) {
            return Err(CoreError::type_error(format!(
                "sctpStreamParameters.streamId {} already in use",
                spec.stream.stream_id
            )));
        }
        let config = channel_config(spec);
        let channel = self.guarded(out, |rtc| rtc.direct_api().create_data_channel(config))?;
        let endpoint = if data_consumer {
            Endpoint::Consumer(id.clone())
        } else {
            Endpoint::Producer(id.clone())
        };
        let sctp = self.sctp.as_mut().expect("checked above");
        sctp.channels
            .insert(channel, (endpoint, spec.stream.stream_id));
        sctp.by_endpoint.insert(id.clone(), channel);
        self.drain(out);
        Ok(())
    }

    /// Closes a DataProducer's or DataConsumer's channel (an SCTP stream
    /// reset: the browser's data channel closes).
    pub fn remove_data_channel(&mut self, id: &str, out: &mut TransportOutput) {
        let Some(sctp) = &mut self.sctp else {
            return;
        };
        let Some(channel) = sctp.by_endpoint.remove(id) else {
            return;
        };
        if let Some((_, stream)) = sctp.channels.remove(&channel) {
            sctp.held.insert(channel, stream);
        }
        if self.dead {
            return;
        }
        let _ = self.guarded(out, |rtc| rtc.direct_api().close_data_channel(channel));
        self.drain(out);
    }

    /// One message to a DataConsumer's browser. `Ok(false)`: its send
    /// buffer is full; an error: it cannot be sent at all (too large, the
    /// association not up yet, the channel closed).
    pub fn send_data(
        &mut self,
        data_consumer_id: &str,
        binary: bool,
        data: &[u8],
        out: &mut TransportOutput,
    ) -> CoreResult<bool> {
        let Some(sctp) = &self.sctp else {
            return Err(CoreError::invalid_state(
                "transport has no SCTP association",
            ));
        };
        if data.len() > sctp.max_message_size {
            return Err(CoreError::type_error(format!(
                "message larger than maxSctpMessageSize ({} > {})",
                data.len(),
                sctp.max_message_size
            )));
        }
        let Some(&channel) = sctp.by_endpoint.get(data_consumer_id) else {
            return Err(CoreError::invalid_state("data channel closed"));
        };
        let sent = self.guarded(out, |rtc| {
            rtc.channel(channel)
                .map(|mut ch| ch.write(binary, data).map_err(|e| e.to_string()))
        })?;
        self.drain(out);
        match sent {
            None => Err(CoreError::invalid_state("SCTP not connected yet")),
            Some(Ok(accepted)) => Ok(accepted),
            Some(Err(e)) => Err(CoreError::other(format!("SCTP send failed: {e}"))),
        }
    }

    /// What a DataConsumer's channel still holds unsent, in bytes.
    pub fn data_buffered_amount(&mut self, data_consumer_id: &str) -> usize {
        let Some(&channel) = self
            .sctp
            .as_ref()
            .and_then(|s| s.by_endpoint.get(data_consumer_id))
        else {
            return 0;
        };
        self.rtc
            .channel(channel)
            .map(|mut ch| ch.buffered_amount())
            .unwrap_or(0)
    }

    pub fn set_data_buffered_amount_low_threshold(
        &mut self,
        data_consumer_id: &str,
        threshold: usize,
        out: &mut TransportOutput,
    ) {
        let Some(&channel) = self
            .sctp
            .as_ref()
            .and_then(|s| s.by_endpoint.get(data_consumer_id))
        else {
            return;
        };
        let _ = self.guarded(out, |rtc| {
            if let Some(mut ch) = rtc.channel(channel) {
                ch.set_buffered_amount_low_threshold(threshold);
            }
        });
        self.drain(out);
    }

    /// str0m's channel events; false when `e` is not one.
    pub(super) fn on_channel_event(&mut self, e: &Event, out: &mut TransportOutput) -> bool {
        let Some(sctp) = &mut self.sctp else {
            return false;
        };
        match e {
            // A channel opens only over an established association: that
            // is the first sign str0m gives of it.
            Event::ChannelOpen(channel, _) => {
                let channel = *channel;
                if !sctp.channels.contains_key(&channel) {
                    if sctp.held.contains_key(&channel) {
                        // Closed before the association was up: close it now.
                        let _ =
                            self.guarded(out, |rtc| rtc.direct_api().close_data_channel(channel));
                    } else if let Some(stream) =
                        self.rtc.direct_api().sctp_stream_id_by_channel_id(channel)
                    {
                        // The browser's own channel: its stream is taken.
                        self.sctp
                            .as_mut()
                            .expect("checked above")
                            .held
                            .insert(channel, stream);
                    }
                }
                self.set_sctp_state(SctpState::Connected, out);
            }
            Event::ChannelData(d) => {
                if sctp.state != SctpState::Connected {
                    self.set_sctp_state(SctpState::Connected, out);
                }
                let sctp = self.sctp.as_mut().expect("checked above");
                match sctp.channels.get(&d.id) {
                    Some((Endpoint::Producer(id), _)) if d.data.len() <= sctp.max_message_size => {
                        out.events.push(TransportEvent::DataMessage {
                            data_producer_id: id.clone(),
                            binary: d.binary,
                            data: d.data.clone(),
                        });
                    }
                    // Too large, or on a DataConsumer's stream (browsers
                    // cannot send there through mediasoup-client): dropped.
                    _ => self.stats.data_messages_dropped += 1,
                }
            }
            Event::ChannelBufferedAmountLow(channel) => {
                if let Some((Endpoint::Consumer(id), _)) = sctp.channels.get(channel) {
                    out.events.push(TransportEvent::DataBufferedAmountLow {
                        data_consumer_id: id.clone(),
                    });
                }
            }
            Event::ChannelClose(channel) => {
                // Its stream id is free again.
                sctp.held.remove(channel);
                // The browser reset the stream (closed its data channel).
                if let Some((endpoint, _)) = sctp.channels.remove(channel) {
                    let id = match endpoint {
                        Endpoint::Producer(id) | Endpoint::Consumer(id) => id,
                    };
                    sctp.by_endpoint.remove(&id);
                    out.events.push(TransportEvent::DataChannelClosed { id });
                }
            }
            _ => return false,
        }
        true
    }
}
