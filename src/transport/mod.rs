//! Transports: each one terminates a peer's media (ICE/DTLS/SRTP through
//! str0m for WebRTC, plain RTP for PlainTransport) and turns packets into
//! producer RTP (ingress) or consumer RTP into packets (egress).
//! Sans-IO: the worker loop owns sockets and timers and drives these.

pub mod plain;
pub mod rtp_senders;
pub mod webrtc;

use std::net::SocketAddr;
use std::time::Instant;

use str0m::media::KeyframeRequestKind;
use str0m::net::Protocol;

pub use plain::{PlainTransport, PlainTransportOptions, SrtpKey};
pub use webrtc::{
    ConsumerStats, DtlsFingerprint, DtlsParameters, DtlsRole, DtlsState, ForwardedRtp,
    IceCandidate, IceParameters, IceState, ListenInfo, ProducerStats, TransportEvent,
    TransportOutput, TransportStats, TransportTuple, WebRtcTransport, WebRtcTransportOptions,
    is_stun,
};

use crate::error::{CoreError, CoreResult};
use crate::id_map::SlotKey;
use crate::ortc::types::{MediaKind, RtpParameters};
use webrtc::Id;

/// A router's transport of either kind. What the packet path and the
/// producer/consumer requests need is here; what only one kind has (ICE,
/// DTLS, data channels; the plain peer's address) is reached through
/// `webrtc()` / `plain()`.
// Not boxed: transports stay put in the worker's map, and a box would add a
// pointer chase to every forwarded packet for the few KB a plain transport
// slot leaves unused.
// `repr(u8)`: the tag first, where a prefetch of the enum's start finds it
// (see `SendPrefetch`).
#[allow(clippy::large_enum_variant)]
#[repr(u8)]
pub enum Transport {
    WebRtc(WebRtcTransport),
    Plain(PlainTransport),
}

/// The steps in which a fan-out asks for a coming copy's state, one level
/// of pointers per copy ahead (`Media::prefetch_ahead`): each step reads
/// what the step before asked for, as far as the layout is known (a field
/// the compiler puts elsewhere, e.g. an `Option`'s tag, can still miss).
#[derive(Debug, Clone, Copy)]
pub enum SendPrefetch {
    /// The transport's fields a copy reads, and where its consumers are.
    Fields,
    /// The consumer's sender, and the transport-wide sequence record's next entry.
    Consumer,
    /// Behind the sender: its mid's bytes and its retransmission history's next entry.
    History,
}

impl Transport {
    /// One step of asking for a coming copy's state (a hint; a stale key
    /// asks for nothing). A plain transport asks for nothing: pipes and
    /// plain consumers come a few to a router.
    pub fn prefetch(&self, step: SendPrefetch, consumer: SlotKey) {
        if let Transport::WebRtc(t) = self {
            t.prefetch(step, consumer);
        }
    }

    pub fn webrtc(&mut self) -> CoreResult<&mut WebRtcTransport> {
        match self {
            Transport::WebRtc(t) => Ok(t),
            Transport::Plain(_) => Err(CoreError::invalid_state("not a WebRtcTransport")),
        }
    }

    pub fn as_webrtc(&self) -> Option<&WebRtcTransport> {
        match self {
            Transport::WebRtc(t) => Some(t),
            Transport::Plain(_) => None,
        }
    }

    pub fn plain(&mut self) -> CoreResult<&mut PlainTransport> {
        match self {
            Transport::Plain(t) => Ok(t),
            Transport::WebRtc(_) => Err(CoreError::invalid_state("not a PlainTransport")),
        }
    }

    pub fn as_plain(&self) -> Option<&PlainTransport> {
        match self {
            Transport::Plain(t) => Some(t),
            Transport::WebRtc(_) => None,
        }
    }

    /// Media can flow: ICE and DTLS are up, or the plain peer is known.
    pub fn is_connected(&self) -> bool {
        match self {
            Transport::WebRtc(t) => t.sending(),
            Transport::Plain(t) => t.has_peer(),
        }
    }

    pub fn is_alive(&self) -> bool {
        match self {
            Transport::WebRtc(t) => t.is_alive(),
            Transport::Plain(t) => t.is_alive(),
        }
    }

    pub fn handle_receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        buf: &[u8],
        out: &mut TransportOutput,
    ) {
        match self {
            Transport::WebRtc(t) => t.handle_receive(now, proto, source, destination, buf, out),
            Transport::Plain(t) => t.handle_receive(now, source, destination, buf, out),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut TransportOutput) {
        match self {
            Transport::WebRtc(t) => t.handle_timeout(now, out),
            Transport::Plain(t) => t.handle_timeout(now, out),
        }
    }

    pub fn poll_timeout(&self) -> Instant {
        match self {
            Transport::WebRtc(t) => t.poll_timeout(),
            Transport::Plain(t) => t.poll_timeout(),
        }
    }

    pub fn close(&mut self, out: &mut TransportOutput) {
        match self {
            Transport::WebRtc(t) => t.close(out),
            Transport::Plain(t) => t.close(),
        }
    }

    pub fn stats(&self) -> TransportStats {
        match self {
            Transport::WebRtc(t) => t.stats(),
            Transport::Plain(t) => t.stats(),
        }
    }

    pub fn add_producer(
        &mut self,
        id: Id,
        kind: MediaKind,
        params: &RtpParameters,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        match self {
            Transport::WebRtc(t) => t.add_producer(id, kind, params, out),
            Transport::Plain(t) => t.add_producer(id, params),
        }
    }

    pub fn remove_producer(&mut self, producer_id: &str, out: &mut TransportOutput) {
        match self {
            Transport::WebRtc(t) => t.remove_producer(producer_id, out),
            Transport::Plain(t) => t.remove_producer(producer_id),
        }
    }

    pub fn producer_stats(&self, producer_id: &str) -> Vec<ProducerStats> {
        match self {
            Transport::WebRtc(t) => t.producer_stats(producer_id),
            Transport::Plain(t) => t.producer_stats(producer_id),
        }
    }

    pub fn request_keyframe(
        &mut self,
        producer_id: &str,
        encoding: Option<usize>,
        kind: KeyframeRequestKind,
        out: &mut TransportOutput,
    ) {
        match self {
            Transport::WebRtc(t) => t.request_keyframe(producer_id, encoding, kind, out),
            Transport::Plain(t) => t.request_keyframe(producer_id, encoding, out),
        }
    }

    /// Returns the key `write_rtp` takes for this consumer.
    pub fn add_consumer(
        &mut self,
        id: Id,
        kind: MediaKind,
        params: &RtpParameters,
    ) -> CoreResult<SlotKey> {
        match self {
            Transport::WebRtc(t) => t.add_consumer(id, kind, params),
            Transport::Plain(t) => t.add_consumer(id, kind, params),
        }
    }

    pub fn remove_consumer(&mut self, consumer_id: &str) {
        match self {
            Transport::WebRtc(t) => t.remove_consumer(consumer_id),
            Transport::Plain(t) => t.remove_consumer(consumer_id),
        }
    }

    pub fn consumer_stats(&self, consumer_id: &str) -> Option<ConsumerStats> {
        match self {
            Transport::WebRtc(t) => t.consumer_stats(consumer_id),
            Transport::Plain(t) => t.consumer_stats(consumer_id),
        }
    }

    /// One packet of a consumer, by the key `add_consumer` gave.
    pub fn write_rtp(
        &mut self,
        consumer: SlotKey,
        packet: &ForwardedRtp,
        now: Instant,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        match self {
            Transport::WebRtc(t) => t.write_rtp(consumer, packet, now, out),
            Transport::Plain(t) => t.write_rtp(consumer, packet, out),
        }
    }

    /// The id of the consumer a key from `add_consumer` names.
    pub fn consumer_id(&self, consumer: SlotKey) -> Option<&Id> {
        match self {
            Transport::WebRtc(t) => t.consumer_id(consumer),
            Transport::Plain(t) => t.consumer_id(consumer),
        }
    }
}
