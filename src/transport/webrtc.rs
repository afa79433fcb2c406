//! `WebRtcTransport`: one str0m `Rtc` per mediasoup WebRtcTransport.
//!
//! ICE-lite, DTLS and SRTP run on str0m's direct API; producers' payload
//! types and extension ids reach str0m through a synthesized SDP offer (see
//! `offer`), consumers are declared directly with the router's ids.
//!
//! Event-loop contract (str0m's single-mutation invariant): every call that
//! mutates the `Rtc` is followed by a full drain of `poll_output`, and
//! timeouts that are already due are fed at once, inline. Each public method
//! here does both, so the caller only has to honour `poll_timeout()`.

pub mod capabilities;
pub mod data_channels;
pub mod egress;
mod nomination;
pub mod offer;
pub mod srtp_keys;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use str0m::change::SdpOffer;
use str0m::config::{DtlsCert, Fingerprint};
use str0m::ice::StunMessage;
use str0m::media::{KeyframeRequestKind, Mid, Pt, Rid};
use str0m::net::{Protocol, Receive, TcpType, Transmit};
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::stats::{MediaIngressStats, PeerStats};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};

use crate::error::{CoreError, CoreResult};
use crate::id_map::SlotKey;
use crate::ortc::types::{MediaKind, RtpCapabilities, RtpParameters};
use crate::prefetch;
use crate::router::ReceivedRtp;

use capabilities::{known_extension, payload_pairs_supported};
use data_channels::{SctpSide, SctpState};
use egress::Egress;
use srtp_keys::{KeySlot, SrtpKeys};

use super::SendPrefetch;
use super::rtp_senders::{RtcpAction, RtpSenders};
use crate::rtp::wire;
use nomination::{Check, LeftAddresses};
use offer::{OfferContext, OfferedProducer};

/// Cheap-to-clone object id (mediasoup UUID strings).
pub type Id = Arc<str>;

/// The remote ICE password is never checked by an ICE-lite agent (it sends
/// no requests), and mediasoup-client never tells it anyway.
const REMOTE_ICE_PWD: &str = "opencallremoteicepassword";
/// Remote ufrag used in an offer applied before the first STUN request.
const PLACEHOLDER_UFRAG: &str = "ocpending";
/// Bound on inline timeout handling per call, so a misbehaving deadline can
/// never spin the worker.
const MAX_INLINE_TIMEOUTS: usize = 256;

/// The egress state a copy reads (SRTP session, congestion record, RTCP
/// deadline): taken to lie within its first lines, which the compiler's
/// field order does not promise (a hint; measured, see benches/README).
const EGRESS_LINES: usize = 12;

// ---------------------------------------------------------------------------
// mediasoup-shaped parameters

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceParameters {
    pub username_fragment: String,
    pub password: String,
    pub ice_lite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub foundation: String,
    pub priority: u32,
    /// mediasoup ≥ 3.13 calls it `address`; `ip` is kept for older clients.
    pub address: String,
    pub ip: String,
    pub protocol: String,
    pub port: u16,
    #[serde(rename = "type")]
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtlsRole {
    Auto,
    Client,
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtlsFingerprint {
    pub algorithm: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtlsParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<DtlsRole>,
    pub fingerprints: Vec<DtlsFingerprint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IceState {
    New,
    Connected,
    Completed,
    Disconnected,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtlsState {
    New,
    Connecting,
    Connected,
    Failed,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportTuple {
    pub local_ip: String,
    pub local_address: String,
    pub local_port: u16,
    pub remote_ip: String,
    pub remote_port: u16,
    pub protocol: String,
}

/// One address the worker listens on, as announced to the peer. For NAT
/// (mediasoup's `announcedAddress`) pass the announced address here and map
/// `Transmit::source` back to the real socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenInfo {
    pub protocol: Protocol,
    pub address: SocketAddr,
}

#[derive(Clone)]
pub struct WebRtcTransportOptions {
    pub listen_infos: Vec<ListenInfo>,
    /// One certificate per worker, shared by all its transports.
    pub dtls_cert: DtlsCert,
    pub router_capabilities: RtpCapabilities,
    /// Enables send-side BWE (TWCC) with this initial estimate, in bps.
    pub initial_available_outgoing_bitrate: Option<u64>,
    /// Turns on str0m's periodic stats (needed for rtt/loss/jitter/score).
    pub stats_interval: Option<Duration>,
    /// `enableSctp`: data channels, with this largest message size.
    pub sctp_max_message_size: Option<usize>,
}

/// A packet ready to be sent to one consumer: already rewritten by the
/// router (router PT, consumer sequence number and timestamp).
#[derive(Debug, Clone)]
pub struct ForwardedRtp {
    pub payload_type: u8,
    /// Extended sequence number (only the low 16 bits go on the wire).
    pub seq_no: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    pub ext_vals: wire::ForwardedExtensions,
    /// The arrival time of the source packet: feeds the SR NTP↔RTP mapping
    /// and dates the packet in its consumer's RTX history.
    pub wallclock: Instant,
    /// Which of the consumer's streams it goes on: always 0, except for
    /// pipe consumers (one stream per producer encoding).
    pub stream: usize,
}

// ---------------------------------------------------------------------------
// Output

// Producer packets move by value, as str0m hands them over: boxing them
// would cost an allocation per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TransportEvent {
    IceStateChange(IceState),
    IceSelectedTupleChange(TransportTuple),
    DtlsStateChange(DtlsState),
    /// ICE, DTLS and SRTP are all up.
    Connected,
    /// Decrypted RTP of a producer; `encoding` indexes its rtpParameters.encodings.
    ProducerRtp {
        producer_id: Id,
        encoding: usize,
        packet: RtpPacket,
    },
    /// RTP of a producer on a transport without str0m (PlainTransport).
    ProducerPacket {
        producer_id: Id,
        encoding: usize,
        packet: ReceivedRtp,
    },
    /// A comedia PlainTransport learned its peer from the first packet.
    TupleLearned(TransportTuple),
    RtcpTupleLearned(TransportTuple),
    /// The consumer's browser asked for a keyframe (PLI/FIR).
    KeyframeRequest {
        consumer_id: Id,
        kind: KeyframeRequestKind,
        /// For a pipe consumer: which of its streams (producer encodings).
        stream: Option<usize>,
    },
    /// The consumer's peer sent a NACK packet about one of its streams
    /// (mediasoup traces one `nack` per packet, whatever it asks for).
    ConsumerNack {
        consumer_id: Id,
    },
    /// NACK packets went to a producer's peer: one from an own receiver, or
    /// for a WebRTC producer (str0m sends those) what its latest statistics
    /// report counted since the ones before.
    ProducerNack {
        producer_id: Id,
        count: u64,
    },
    /// A producer encoding stopped or restarted sending (str0m's 1.5 s threshold).
    ProducerStreamPaused {
        producer_id: Id,
        encoding: usize,
        paused: bool,
    },
    /// A producer encoding's score (0..=10) changed.
    ProducerScore {
        producer_id: Id,
        encoding: usize,
        score: u8,
    },
    /// A consumer's score (0..=10, from the receiver's reports) changed.
    ConsumerScore {
        consumer_id: Id,
        score: u8,
    },
    /// A producer's browser sent a sender report (RTCP SR).
    ProducerSenderReport {
        producer_id: Id,
        report: SenderReport,
    },
    /// The send-side estimate was updated (about once a second).
    BandwidthEstimate,
    SctpStateChange(SctpState),
    /// A message from the browser on a DataProducer's channel.
    DataMessage {
        data_producer_id: Id,
        binary: bool,
        data: Vec<u8>,
    },
    /// A DataConsumer's channel buffer fell to its low threshold.
    DataBufferedAmountLow {
        data_consumer_id: Id,
    },
    /// The browser closed a DataProducer's or DataConsumer's channel.
    DataChannelClosed {
        id: Id,
    },
    /// An RTP packet of a consumer on a DirectTransport: for Node (`rtp`).
    DirectRtp {
        consumer_id: Id,
        packet: Vec<u8>,
    },
    /// An RTCP compound packet a DirectTransport sends: for Node (`rtcp`).
    DirectRtcp {
        packet: Vec<u8>,
    },
    /// The str0m instance failed irrecoverably (a panic was caught); the
    /// transport must be closed.
    Fatal(String),
}

/// The fields of an RTCP sender report, as mediasoup's `sr` trace has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// NTP time: seconds since 1900 and the fraction in 1/2^32 s.
    pub ntp_sec: u32,
    pub ntp_frac: u32,
    pub rtp_ts: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// Collected output of one call: datagrams to send and events to dispatch.
/// Reuse one across calls (`clear()` keeps the allocations).
#[derive(Debug, Default)]
pub struct TransportOutput {
    pub transmits: Vec<Transmit>,
    pub events: Vec<TransportEvent>,
    /// Datagram buffers already sent, for the next packets to be built in:
    /// no allocation per forwarded packet once warm.
    spare: Vec<Vec<u8>>,
}

/// Spare buffers kept per output: a fan-out's packets are sent as each is
/// built, so a few are enough; more would only hold memory.
const SPARE_BUFFERS: usize = 32;

impl TransportOutput {
    pub fn clear(&mut self) {
        self.transmits.clear();
        self.events.clear();
    }

    /// An empty buffer for a datagram (a sent one, or a new one).
    pub fn buffer(&mut self) -> Vec<u8> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(1_500))
    }

    /// Takes back a datagram's buffer once it is sent (or not used).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buf.capacity() >= 1_200 {
            buf.clear();
            self.spare.push(buf);
        }
    }
}

// ---------------------------------------------------------------------------
// Stats

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransportStats {
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub rtp_bytes_received: u64,
    pub rtp_packets_received: u64,
    pub rtp_bytes_sent: u64,
    pub rtp_packets_sent: u64,
    /// Retransmissions (RTX), not counted as RTP above (mediasoup's split).
    pub rtx_bytes_sent: u64,
    /// Only where the transport unwraps RTX itself (plain and pipe): str0m
    /// does not tell a WebRTC producer's RTX apart.
    pub rtx_bytes_received: u64,
    pub malformed_packets_dropped: u64,
    /// Data channel messages dropped: too large, or on no DataProducer.
    pub data_messages_dropped: u64,
    pub rtt: Option<Duration>,
    pub available_outgoing_bitrate: Option<u64>,
    pub ingress_loss_fraction: Option<f32>,
    pub egress_loss_fraction: Option<f32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerStats {
    pub encoding: usize,
    pub ssrc: Option<u32>,
    pub rid: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub jitter: u32,
    pub loss: Option<f32>,
    pub rtt: Option<Duration>,
    /// NACK packets sent, and the sequence numbers they asked for (str0m
    /// counts only packets: for a WebRTC producer both are that count).
    pub nacks: u64,
    pub nack_packets: u64,
    /// Retransmissions (RTX) received, and those that filled a gap, as
    /// mediasoup counts them; the repaired ones are in `packets` and
    /// `bytes`. On a WebRTC transport the two are equal: str0m passes on
    /// only a retransmission that fills a gap (it drops duplicates).
    /// Plain transports drop and count duplicates themselves.
    pub retransmitted: u64,
    pub repaired: u64,
    pub plis: u64,
    pub firs: u64,
    pub score: u8,
    /// Estimated from each report's loss fraction and the packets received
    /// in its interval (str0m reports the fraction, not the cumulative count).
    pub packets_lost: u64,
    /// Packets counted at the previous report, for those intervals.
    pub packets_at_last_report: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerStats {
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub rtt: Option<Duration>,
    pub loss: Option<f32>,
    pub jitter: Option<u32>,
    pub packets_lost: Option<u64>,
    /// NACK packets received, and the sequence numbers they asked for.
    pub nacks: u64,
    pub nack_packets: u64,
    /// Packets resent as RTX, and those resent for the first time.
    pub retransmitted: u64,
    pub repaired: u64,
    pub plis: u64,
    pub firs: u64,
    pub score: u8,
}

/// mediasoup-like score from a loss fraction: 10 when clean, 0 at ≥ 50 %.
pub(crate) fn score_from_loss(loss: Option<f32>) -> u8 {
    let loss = loss.unwrap_or(0.0).clamp(0.0, 1.0);
    (10.0 - loss * 20.0).round().clamp(0.0, 10.0) as u8
}

// ---------------------------------------------------------------------------

struct ProducerEntry {
    id: Id,
    mid: Mid,
    offered: OfferedProducer,
    /// Encoding → (ssrc, rid) as signalled.
    encodings: Vec<(Option<u32>, Option<Rid>)>,
    has_rtx: bool,
    stats: Vec<ProducerStats>,
}

pub struct WebRtcTransport {
    rtc: Rtc,
    dead: bool,
    local_creds: IceCreds,
    remote_ufrag: Option<String>,
    remote_fingerprint: Option<Fingerprint>,
    local_dtls_role: DtlsRole,
    local_fingerprint: DtlsFingerprint,
    candidates: Vec<IceCandidate>,
    ice_state: IceState,
    dtls_state: DtlsState,
    selected_tuple: Option<TransportTuple>,
    /// The selected tuple as addresses: compared on every transmit, where
    /// formatting the tuple's IP strings would allocate twice per packet.
    selected_addrs: Option<(Protocol, SocketAddr, SocketAddr)>,
    /// Remote addresses the browser nominated away from (see `nomination`).
    left_addresses: LeftAddresses,
    producers: Vec<ProducerEntry>,
    producer_by_mid: HashMap<Mid, usize>,
    /// Incoming SSRC → (producer index, encoding), learned on first packet.
    rx_ssrcs: HashMap<u32, (usize, usize)>,
    /// The producers' RTX payload types, one bit each: str0m hands a
    /// retransmission over unwrapped, so it is told apart on arrival.
    rtx_payload_types: u128,
    /// The datagram being handled is a retransmission (RTX): the packet str0m
    /// hands over for it counts as RTX, as mediasoup counts it.
    receiving_rtx: bool,
    /// Consumers: their RTP is ours to send (`egress`), not str0m's.
    consumers: RtpSenders,
    consumer_by_mid: HashMap<Mid, Id>,
    /// Where the handshake's SRTP keys land; `egress` once they have.
    key_slot: Option<KeySlot>,
    egress: Option<Egress>,
    /// `initialAvailableOutgoingBitrate`: the estimate before feedback.
    initial_bitrate: u64,
    registered_uris: Vec<String>,
    next_timeout: Instant,
    /// The time of the latest input (str0m's events carry none).
    last_now: Instant,
    stats: TransportStats,
    peer_stats: Option<PeerStats>,
    /// `setMinOutgoingBitrate` / `setMaxOutgoingBitrate`: bounds on the
    /// estimate (kept for an estimator made once the keys are known).
    min_outgoing_bitrate: Option<u64>,
    max_outgoing_bitrate: Option<u64>,
    /// Data channels, when created with `enableSctp`.
    sctp: Option<SctpSide>,
}

/// What a datagram of our own carries, for the transport's stats.
#[derive(Clone, Copy)]
enum Own {
    Rtp,
    Rtx,
    Rtcp,
}

/// One datagram of our own (the consumers' RTP, or RTCP about them) on the
/// selected pair, counted in the transport's stats.
fn transmit_own(
    stats: &mut TransportStats,
    out: &mut TransportOutput,
    (proto, source, destination): (Protocol, SocketAddr, SocketAddr),
    buf: Vec<u8>,
    what: Own,
) {
    match what {
        Own::Rtp => {
            stats.rtp_packets_sent += 1;
            stats.rtp_bytes_sent += buf.len() as u64;
        }
        Own::Rtx => stats.rtx_bytes_sent += buf.len() as u64,
        Own::Rtcp => {}
    }
    stats.bytes_sent += buf.len() as u64;
    out.transmits.push(Transmit {
        proto,
        source,
        destination,
        contents: buf.into(),
    });
}

/// `AB:CD:...` from raw digest bytes.
fn hex_colon(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

fn parse_hex_colon(value: &str) -> Option<Vec<u8>> {
    value
        .split(':')
        .map(|h| {
            if h.len() == 2 {
                u8::from_str_radix(h, 16).ok()
            } else {
                None
            }
        })
        .collect()
}

/// STUN (RFC 7983: first byte 0 or 1), as ICE demultiplexes it from DTLS
/// and SRTP on one socket.
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= 20 && buf[0] < 2
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "udp",
        _ => "tcp",
    }
}

/// mids and rids go through str0m's fixed-size ids, which replace anything
/// but ASCII alphanumerics and truncate: refuse what would not round-trip.
fn valid_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl WebRtcTransport {
    pub fn new(opts: WebRtcTransportOptions, now: Instant) -> CoreResult<Self> {
        if opts.listen_infos.is_empty() {
            return Err(CoreError::type_error("no listen infos given"));
        }
        let local_creds = IceCreds::new();
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_dtls_cert(opts.dtls_cert.clone())
            .set_local_ice_credentials(local_creds.clone())
            .set_stats_interval(opts.stats_interval)
            .set_crypto_provider(srtp_keys::provider())
            .set_extension_map(capabilities::extension_map(&opts.router_capabilities));
        capabilities::codec_config(&opts.router_capabilities, config.codec_config())?;
        let registered_uris = opts
            .router_capabilities
            .header_extensions
            .iter()
            .map(|h| h.uri.clone())
            .collect();

        let mut rtc = catch_unwind(AssertUnwindSafe(|| config.build(now)))
            .map_err(|_| CoreError::other("failed to build the WebRTC stack"))?;
        let key_slot = srtp_keys::take_last_slot();

        let mut candidates = Vec::new();
        for info in &opts.listen_infos {
            let built = match info.protocol {
                Protocol::Udp => Candidate::host(info.address, "udp"),
                Protocol::Tcp => Candidate::builder()
                    .tcp()
                    .host(info.address)
                    .tcptype(TcpType::Passive)
                    .build(),
                _ => return Err(CoreError::type_error("listen protocol must be udp or tcp")),
            };
            let candidate =
                built.map_err(|e| CoreError::type_error(format!("invalid listen address: {e}")))?;
            let Some(added) = rtc.add_local_candidate(candidate) else {
                return Err(CoreError::type_error(format!(
                    "listen address {} is not usable as a host candidate",
                    info.address
                )));
            };
            let ip = added.addr().ip().to_string();
            candidates.push(IceCandidate {
                foundation: format!("{}candidate", proto_name(info.protocol)),
                priority: added.prio(),
                address: ip.clone(),
                ip,
                protocol: proto_name(info.protocol).to_owned(),
                port: added.addr().port(),
                r#type: "host".to_owned(),
                tcp_type: (info.protocol == Protocol::Tcp).then(|| "passive".to_owned()),
            });
        }
        rtc.direct_api().set_ice_controlling(false);
        let fp = rtc.direct_api().local_dtls_fingerprint().clone();
        let local_fingerprint = DtlsFingerprint {
            algorithm: fp.hash_func.clone(),
            value: hex_colon(&fp.bytes),
        };

        let mut t = Self {
            rtc,
            dead: false,
            local_creds,
            remote_ufrag: None,
            remote_fingerprint: None,
            local_dtls_role: DtlsRole::Auto,
            local_fingerprint,
            candidates,
            ice_state: IceState::New,
            dtls_state: DtlsState::New,
            selected_tuple: None,
            selected_addrs: None,
            left_addresses: LeftAddresses::default(),
            producers: Vec::new(),
            producer_by_mid: HashMap::new(),
            rx_ssrcs: HashMap::new(),
            rtx_payload_types: 0,
            receiving_rtx: false,
            consumers: RtpSenders::default(),
            consumer_by_mid: HashMap::new(),
            key_slot,
            egress: None,
            initial_bitrate: opts.initial_available_outgoing_bitrate.unwrap_or(600_000),
            registered_uris,
            next_timeout: now,
            last_now: now,
            stats: TransportStats::default(),
            peer_stats: None,
            min_outgoing_bitrate: None,
            max_outgoing_bitrate: None,
            sctp: opts.sctp_max_message_size.map(SctpSide::new),
        };
        let mut out = TransportOutput::default();
        t.drain(&mut out);
        Ok(t)
    }

    // -- parameters ---------------------------------------------------------

    pub fn ice_parameters(&self) -> IceParameters {
        IceParameters {
            username_fragment: self.local_creds.ufrag.clone(),
            password: self.local_creds.pass.clone(),
            ice_lite: true,
        }
    }

    pub fn ice_candidates(&self) -> &[IceCandidate] {
        &self.candidates
    }

    pub fn dtls_parameters(&self) -> DtlsParameters {
        DtlsParameters {
            role: Some(self.local_dtls_role),
            fingerprints: vec![self.local_fingerprint.clone()],
        }
    }

    pub fn ice_state(&self) -> IceState {
        self.ice_state
    }

    pub fn dtls_state(&self) -> DtlsState {
        self.dtls_state
    }

    pub fn ice_selected_tuple(&self) -> Option<&TransportTuple> {
        self.selected_tuple.as_ref()
    }

    pub fn is_alive(&self) -> bool {
        !self.dead && self.rtc.is_alive()
    }

    // -- signalling ---------------------------------------------------------

    /// mediasoup `transport.connect({ dtlsParameters })`.
    pub fn connect(
        &mut self,
        remote: &DtlsParameters,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        self.ensure_alive()?;
        if self.remote_fingerprint.is_some() {
            return Err(CoreError::invalid_state("connect() already called"));
        }
        let chosen = remote
            .fingerprints
            .iter()
            .find(|f| f.algorithm.eq_ignore_ascii_case("sha-256"))
            .or_else(|| remote.fingerprints.last())
            .ok_or_else(|| CoreError::type_error("missing dtlsParameters.fingerprints"))?;
        let algorithm = chosen.algorithm.to_ascii_lowercase();
        if !matches!(algorithm.as_str(), "sha-1" | "sha-256") {
            return Err(CoreError::unsupported(format!(
                "unsupported fingerprint algorithm {algorithm}"
            )));
        }
        let bytes = parse_hex_colon(&chosen.value)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| CoreError::type_error("invalid fingerprint value"))?;
        // As mediasoup: a remote client makes us the server; a remote
        // server, or a remote that leaves it to us, makes us the client.
        let (local_role, active) = match remote.role.unwrap_or(DtlsRole::Auto) {
            DtlsRole::Client => (DtlsRole::Server, false),
            DtlsRole::Server | DtlsRole::Auto => (DtlsRole::Client, true),
        };
        let fingerprint = Fingerprint {
            hash_func: algorithm,
            bytes,
        };
        self.remote_fingerprint = Some(fingerprint.clone());
        self.local_dtls_role = local_role;
        self.guarded(out, |rtc| {
            let mut api = rtc.direct_api();
            api.set_remote_fingerprint(fingerprint);
            api.start_dtls(active)
        })?
        .map_err(|e| CoreError::other(format!("start DTLS: {e}")))?;
        self.set_dtls_state(DtlsState::Connecting, out);
        self.start_sctp(active, out);
        self.drain(out);
        // Producers that came before connect() wait for the fingerprint.
        if !self.producers.is_empty() {
            self.apply_offer(out)?;
        }
        Ok(())
    }

    /// mediasoup `transport.restartIce()`: new local credentials; the current
    /// connection keeps working until the peer moves to them.
    pub fn restart_ice(&mut self, out: &mut TransportOutput) -> CoreResult<IceParameters> {
        self.ensure_alive()?;
        let creds = IceCreds::new();
        self.local_creds = creds.clone();
        self.guarded(out, |rtc| rtc.direct_api().set_local_ice_credentials(creds))?;
        self.drain(out);
        Ok(self.ice_parameters())
    }

    // -- network ------------------------------------------------------------

    /// One datagram (or one RFC 4571 frame for TCP) from the network.
    /// `destination` must be the announced local address it arrived on.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        buf: &[u8],
        out: &mut TransportOutput,
    ) {
        if self.dead {
            return;
        }
        self.last_now = now;
        self.stats.bytes_received += buf.len() as u64;
        // Parsed once: for the browser's ufrag, and as a check to follow.
        let check = match is_stun(buf).then(|| StunMessage::parse(buf)) {
            Some(Ok(msg)) => {
                self.learn_remote_ufrag(&msg, out);
                Check::of(&msg, &self.local_creds)
            }
            _ => None,
        };
        if let Some(check) = &check {
            self.readmit(proto, source, check, out);
        }
        if self.egress.is_some() && !self.consumers.is_empty() && wire::is_rtcp(buf) {
            self.on_consumer_rtcp(now, buf, out);
            if self.producers.is_empty() {
                // str0m has no stream such RTCP could be about (the
                // consumers' streams are ours): decrypting and parsing it
                // again there would be wasted. A receiving transport gets
                // the browser's feedback ~10 times a second per consumer.
                return;
            }
        }
        let Ok(receive) = Receive::new(proto, source, destination, buf) else {
            self.stats.malformed_packets_dropped += 1;
            return;
        };
        self.receiving_rtx = self.is_rtx(buf);
        let res = self.guarded(out, |rtc| rtc.handle_input(Input::Receive(now, receive)));
        if let Ok(Err(e)) = res {
            tracing::debug!("dropping packet from {source}: {e}");
            self.stats.malformed_packets_dropped += 1;
        }
        self.drain(out);
        self.receiving_rtx = false;
        if check.is_some_and(|c| c.nominates) {
            self.follow_nomination(now, proto, source, destination, out);
        }
        self.run_due_timeouts(now, out);
    }

    /// An RTP datagram with one of the producers' RTX payload types (the
    /// header is not encrypted).
    fn is_rtx(&self, buf: &[u8]) -> bool {
        self.rtx_payload_types != 0
            && buf.len() >= 12
            && buf[0] >> 6 == 2
            && !wire::is_rtcp(buf)
            && self.rtx_payload_types >> (buf[1] & 0x7f) & 1 == 1
    }

    /// An authenticated check from an address the browser had nominated
    /// away from: str0m gets it back as a candidate before it sees the check
    /// (it would ignore it otherwise).
    fn readmit(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        check: &Check,
        out: &mut TransportOutput,
    ) {
        if let Some(back) = self.left_addresses.come_back(proto, source, check.priority) {
            tracing::debug!("checked from {source} again");
            let _ = self.guarded(out, |rtc| rtc.add_remote_candidate(back));
        }
    }

    /// An authenticated nominating check from another address than the one
    /// we send to: that address becomes the selected tuple at once, as in
    /// mediasoup (see `nomination`). str0m drops the old address and
    /// nominates the new pair at its next timeout pass, run here.
    fn follow_nomination(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        out: &mut TransportOutput,
    ) {
        let Some((selected_proto, _, selected)) = self.selected_addrs else {
            return;
        };
        if (selected_proto, selected) == (proto, source) {
            return;
        }
        let Some(old) = LeftAddresses::to_leave(selected_proto, selected) else {
            return;
        };
        let dropped = self.guarded(out, |rtc| {
            let dropped = rtc.direct_api().invalidate_candidate(&old);
            let _ = rtc.handle_input(Input::Timeout(now));
            dropped
        });
        self.drain(out);
        if !matches!(dropped, Ok(true)) {
            // Not a candidate str0m made of a check: left to str0m.
            tracing::debug!("nominated from {source}: {selected} not dropped");
            return;
        }
        tracing::debug!("nominated from {source}: left {selected}");
        self.left_addresses.left(selected_proto, selected);
        // A transport that only consumes sends its RTP itself, and str0m
        // might send nothing on the new pair for a while to show it.
        self.follow_pair(proto, destination, source, out);
    }

    /// mediasoup-client never signals the browser's ICE ufrag, but str0m
    /// queues binding requests until remote credentials are set: take the
    /// ufrag from each STUN USERNAME, and follow it when it changes (ICE
    /// restart on the browser side).
    fn learn_remote_ufrag(&mut self, msg: &StunMessage<'_>, out: &mut TransportOutput) {
        let Some((local, remote)) = msg.split_username() else {
            return;
        };
        if local != self.local_creds.ufrag || self.remote_ufrag.as_deref() == Some(remote) {
            return;
        }
        let creds = IceCreds {
            ufrag: remote.to_owned(),
            pass: REMOTE_ICE_PWD.to_owned(),
        };
        self.remote_ufrag = Some(remote.to_owned());
        let _ = self.guarded(out, |rtc| {
            rtc.direct_api().set_remote_ice_credentials(creds)
        });
        self.drain(out);
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut TransportOutput) {
        if self.dead {
            return;
        }
        self.last_now = now;
        if self.egress.as_ref().is_some_and(|e| now >= e.next_rtcp) {
            self.on_rtcp_timer(now, out);
        }
        let _ = self.guarded(out, |rtc| rtc.handle_input(Input::Timeout(now)));
        self.drain(out);
        self.run_due_timeouts(now, out);
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Instant {
        if self.dead {
            self.next_timeout + Duration::from_secs(3600)
        } else if let Some(e) = &self.egress {
            self.next_timeout.min(e.next_rtcp)
        } else {
            self.next_timeout
        }
    }

    /// Graceful close: DTLS close_notify (and str0m's RTCP BYE for what it
    /// sends; the consumers' streams, sent by the transport itself, end with
    /// no BYE: a browser ends its tracks on the DTLS close or ICE timeout).
    pub fn close(&mut self, out: &mut TransportOutput) {
        if self.dead {
            return;
        }
        let _ = self.guarded(out, |rtc| rtc.close());
        self.drain(out);
        self.set_ice_state(IceState::Closed, out);
        self.set_dtls_state(DtlsState::Closed, out);
        self.dead = true;
    }

    // -- producers ----------------------------------------------------------

    /// `transport.produce()`: browser-chosen PTs and extension ids are
    /// installed through an SDP offer and verified; on failure the producer
    /// is refused and its m-line left inactive.
    pub fn add_producer(
        &mut self,
        producer_id: Id,
        kind: MediaKind,
        rtp_parameters: &RtpParameters,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        self.ensure_alive()?;
        if !self.consumers.is_empty() {
            // Consumers' m-lines come from the direct API; mixing them with
            // offer-made m-lines breaks str0m's m-line indexes.
            return Err(CoreError::unsupported(
                "producing on a transport that already consumes is not supported",
            ));
        }
        if self.producers.iter().any(|p| p.id == producer_id) {
            return Err(CoreError::invalid_state("producer already exists"));
        }
        let mid_str = match &rtp_parameters.mid {
            Some(m) => m.clone(),
            None => format!("p{}", self.producers.len()),
        };
        if !valid_token(&mid_str, 16) {
            return Err(CoreError::type_error(format!(
                "unsupported mid {mid_str:?}"
            )));
        }
        let mid = Mid::from(mid_str.as_str());
        if self.producer_by_mid.contains_key(&mid) {
            return Err(CoreError::type_error(format!(
                "mid {mid_str} already in use"
            )));
        }
        if rtp_parameters.encodings.is_empty() {
            return Err(CoreError::type_error("missing encodings"));
        }
        let mut encodings = Vec::new();
        for e in &rtp_parameters.encodings {
            let rid = match &e.rid {
                Some(r) if valid_token(r, 8) => Some(Rid::from(r.as_str())),
                Some(r) => return Err(CoreError::type_error(format!("unsupported rid {r:?}"))),
                None => None,
            };
            if e.ssrc.is_none() && rid.is_none() && rtp_parameters.encodings.len() > 1 {
                return Err(CoreError::type_error("encoding without ssrc or rid"));
            }
            encodings.push((e.ssrc, rid));
        }
        payload_pairs_supported(rtp_parameters, self.rtc.codec_config())?;
        let rtx_payload_types = rtp_parameters
            .codecs
            .iter()
            .filter(|c| capabilities::is_rtx(&c.mime_type) && c.payload_type < 128)
            .fold(0u128, |bits, c| bits | 1 << c.payload_type);
        let has_rtx = rtx_payload_types != 0;
        self.rtx_payload_types |= rtx_payload_types;
        let stats = (0..encodings.len())
            .map(|i| ProducerStats {
                encoding: i,
                ssrc: encodings[i].0,
                rid: encodings[i].1.map(|r| r.to_string()),
                score: 10,
                ..Default::default()
            })
            .collect();
        let mut offered_params = rtp_parameters.clone();
        offered_params.mid = Some(mid_str.clone());
        self.producers.push(ProducerEntry {
            id: producer_id,
            mid,
            offered: OfferedProducer {
                mid: mid_str,
                kind,
                rtp_parameters: offered_params,
                closed: false,
            },
            encodings,
            has_rtx,
            stats,
        });
        let idx = self.producers.len() - 1;
        self.producer_by_mid.insert(mid, idx);
        if self.remote_fingerprint.is_none() {
            // Applied by connect(): the offer must not carry a fingerprint
            // and setup that str0m would adopt instead of connect()'s.
            return Ok(());
        }
        if let Err(e) = self.apply_offer(out) {
            self.producers[idx].offered.closed = true;
            // Keep the refused m-line, inactive, so the order stays stable.
            let _ = self.apply_offer(out);
            return Err(e);
        }
        Ok(())
    }

    /// `producer.close()`: its m-line stays in the offer as inactive.
    pub fn remove_producer(&mut self, producer_id: &str, out: &mut TransportOutput) {
        let Some(idx) = self.producers.iter().position(|p| &*p.id == producer_id) else {
            return;
        };
        if self.producers[idx].offered.closed {
            return;
        }
        self.producers[idx].offered.closed = true;
        self.rx_ssrcs.retain(|_, (p, _)| *p != idx);
        if self.remote_fingerprint.is_some() && !self.dead {
            let _ = self.apply_offer(out);
        }
    }

    fn apply_offer(&mut self, out: &mut TransportOutput) -> CoreResult<()> {
        let remote_fp = self
            .remote_fingerprint
            .as_ref()
            .ok_or_else(|| CoreError::invalid_state("not connected"))?;
        let fp = format!("{} {}", remote_fp.hash_func, hex_colon(&remote_fp.bytes));
        let uris = &self.registered_uris;
        let is_registered = |u: &str| uris.iter().any(|r| r == u);
        let offered: Vec<OfferedProducer> =
            self.producers.iter().map(|p| p.offered.clone()).collect();
        let sdp = offer::synthesize(
            &OfferContext {
                remote_ufrag: self.remote_ufrag.as_deref().unwrap_or(PLACEHOLDER_UFRAG),
                remote_pwd: REMOTE_ICE_PWD,
                remote_fingerprint: &fp,
                is_registered_uri: &is_registered,
            },
            &offered,
        );
        let offer = SdpOffer::from_sdp_string(&sdp)
            .map_err(|e| CoreError::type_error(format!("invalid rtpParameters: {e}")))?;
        let before = self.local_creds.clone();
        let accepted = self.guarded(out, |rtc| rtc.sdp_api().accept_offer(offer).map(|_| ()))?;
        self.drain(out);
        accepted.map_err(|e| CoreError::type_error(format!("rtpParameters refused: {e}")))?;

        // A ufrag mismatch makes str0m restart ICE with new local
        // credentials; put ours back so the running session is kept.
        let now_creds = self.rtc.direct_api().local_ice_credentials();
        if now_creds != before {
            let remote = IceCreds {
                ufrag: self
                    .remote_ufrag
                    .clone()
                    .unwrap_or_else(|| PLACEHOLDER_UFRAG.to_owned()),
                pass: REMOTE_ICE_PWD.to_owned(),
            };
            let _ = self.guarded(out, |rtc| {
                let mut api = rtc.direct_api();
                api.set_local_ice_credentials(before);
                api.set_remote_ice_credentials(remote);
            });
            self.drain(out);
        }
        self.verify_producers()?;
        // NACKs are useless without RTX: browsers answer them over RTX only.
        let no_rtx: Vec<u32> = self
            .producers
            .iter()
            .filter(|p| !p.has_rtx && !p.offered.closed)
            .flat_map(|p| p.encodings.iter().filter_map(|e| e.0))
            .collect();
        if !no_rtx.is_empty() {
            let _ = self.guarded(out, |rtc| {
                let mut api = rtc.direct_api();
                for ssrc in no_rtx {
                    if let Some(s) = api.stream_rx(&Ssrc::from(ssrc)) {
                        s.suppress_nack(true);
                    }
                }
            });
            self.drain(out);
        }
        Ok(())
    }

    /// Checks through str0m's public API that every open producer's
    /// extension ids and payload types are now in force.
    fn verify_producers(&self) -> CoreResult<()> {
        for p in self.producers.iter().filter(|p| !p.offered.closed) {
            let media = self
                .rtc
                .media(p.mid)
                .ok_or_else(|| CoreError::other(format!("mid {} was not created", p.mid)))?;
            let params = &p.offered.rtp_parameters;
            for h in &params.header_extensions {
                if known_extension(&h.uri).is_none() && !self.registered_uris.contains(&h.uri) {
                    continue;
                }
                let ok = media
                    .remote_extmap()
                    .lookup(h.id)
                    .is_some_and(|e| e.as_uri() == h.uri);
                if !ok {
                    return Err(CoreError::unsupported(format!(
                        "header extension {} could not be mapped to id {}",
                        h.uri, h.id
                    )));
                }
            }
            for (pt, rtx) in offer::payload_pairs(params) {
                let pt_ok = media.remote_pts().contains(&Pt::new_with_value(pt));
                let cfg_ok = self.rtc.codec_config().params().iter().any(|c| {
                    *c.pt() == pt && rtx.is_none_or(|r| c.resend().is_some_and(|x| *x == r))
                });
                if !pt_ok || !cfg_ok {
                    return Err(CoreError::unsupported(format!(
                        "payload type {pt} could not be installed"
                    )));
                }
            }
        }
        Ok(())
    }

    /// mediasoup's `setMinOutgoingBitrate` / `setMaxOutgoingBitrate` (None:
    /// unset) for the send-side estimator: the minimum is the rate it keeps
    /// sending at (padding if need be), the maximum the rate it probes up to
    /// and the cap on the available bitrate it reports.
    pub fn set_outgoing_bitrate_bounds(&mut self, min: Option<u64>, max: Option<u64>) {
        self.max_outgoing_bitrate = max;
        self.min_outgoing_bitrate = min;
        if let Some(e) = self.egress.as_mut() {
            e.cc.estimator.set_bounds(min, max);
        }
    }

    /// What this transport's consumers would take at their preferred layers,
    /// while some are held below them (None: none is): the estimate may grow
    /// past what is sent only towards it (nothing is probed with padding).
    pub fn set_bwe_demand(&mut self, demand: Option<u64>) {
        if let Some(e) = self.egress.as_mut() {
            e.cc.estimator.set_desired(demand);
        }
    }

    /// Tells every producer's browser, by REMB, not to send this transport
    /// more than `bitrate` bps per stream (mediasoup's `setMaxIncomingBitrate`).
    /// REMB is a one-shot message, so the worker repeats it periodically.
    pub fn request_remb(&mut self, bitrate: u64, out: &mut TransportOutput) {
        if self.dead {
            return;
        }
        let streams: Vec<(Mid, Option<Rid>)> = self
            .producers
            .iter()
            .filter(|p| !p.offered.closed)
            .flat_map(|p| p.encodings.iter().map(move |(_, rid)| (p.mid, *rid)))
            .collect();
        let _ = self.guarded(out, |rtc| {
            let mut api = rtc.direct_api();
            for (mid, rid) in streams {
                if let Some(stream) = api.stream_rx_by_mid(mid, rid) {
                    stream.request_remb(str0m::bwe::Bitrate::bps(bitrate));
                }
            }
        });
        self.drain(out);
    }

    /// Ask the producer's browser for a keyframe on one encoding (or all).
    pub fn request_keyframe(
        &mut self,
        producer_id: &str,
        encoding: Option<usize>,
        kind: KeyframeRequestKind,
        out: &mut TransportOutput,
    ) {
        if self.dead {
            return;
        }
        let Some((idx, p)) = self
            .producers
            .iter()
            .enumerate()
            .find(|(_, p)| &*p.id == producer_id && !p.offered.closed)
        else {
            return;
        };
        let mid = p.mid;
        let mut targets: Vec<(Option<u32>, Option<Rid>)> = Vec::new();
        for (i, (ssrc, rid)) in p.encodings.iter().enumerate() {
            if encoding.is_some_and(|e| e != i) {
                continue;
            }
            // Learned SSRC (rid-based simulcast) first, then the signalled one.
            let learned = self
                .rx_ssrcs
                .iter()
                .find(|(_, v)| **v == (idx, i))
                .map(|(s, _)| *s);
            targets.push((learned.or(*ssrc), *rid));
        }
        let _ = self.guarded(out, |rtc| {
            let mut api = rtc.direct_api();
            for (ssrc, rid) in targets {
                let stream = match ssrc {
                    Some(s) if api.stream_rx(&Ssrc::from(s)).is_some() => {
                        api.stream_rx(&Ssrc::from(s))
                    }
                    _ => api.stream_rx_by_mid(mid, rid),
                };
                if let Some(s) = stream {
                    s.request_keyframe(kind);
                }
            }
        });
        self.drain(out);
    }

    pub fn producer_stats(&self, producer_id: &str) -> Vec<ProducerStats> {
        self.producers
            .iter()
            .find(|p| &*p.id == producer_id)
            .map(|p| p.stats.clone())
            .unwrap_or_default()
    }

    // -- consumers ----------------------------------------------------------

    /// `transport.consume()`: `rtp_parameters` are the consumer's (router
    /// PTs and ids, its own SSRC and RTX SSRC, and the CNAME its sender
    /// reports carry).
    pub fn add_consumer(
        &mut self,
        consumer_id: Id,
        kind: MediaKind,
        rtp_parameters: &RtpParameters,
    ) -> CoreResult<SlotKey> {
        self.ensure_alive()?;
        if self.consumers.contains(&consumer_id) {
            return Err(CoreError::invalid_state("consumer already exists"));
        }
        let mid_str = rtp_parameters
            .mid
            .clone()
            .ok_or_else(|| CoreError::type_error("consumer rtpParameters without mid"))?;
        if !valid_token(&mid_str, 16) {
            return Err(CoreError::type_error(format!(
                "unsupported mid {mid_str:?}"
            )));
        }
        let mid = Mid::from(mid_str.as_str());
        if self.rtc.media(mid).is_some() || self.consumer_by_mid.contains_key(&mid) {
            return Err(CoreError::type_error(format!(
                "mid {mid_str} already in use"
            )));
        }
        let encoding = rtp_parameters
            .encodings
            .first()
            .ok_or_else(|| CoreError::type_error("consumer rtpParameters without encodings"))?;
        if encoding.ssrc.is_none() {
            return Err(CoreError::type_error("consumer encoding without ssrc"));
        }
        for (pt, rtx_pt) in offer::payload_pairs(rtp_parameters) {
            let known = self.rtc.codec_config().params().iter().any(|c| {
                *c.pt() == pt && rtx_pt.is_none_or(|r| c.resend().is_some_and(|x| *x == r))
            });
            if !known {
                return Err(CoreError::unsupported(format!(
                    "payload type {pt} is not a router payload type"
                )));
            }
        }
        let key = self
            .consumers
            .add(consumer_id.clone(), kind, rtp_parameters)?;
        self.consumer_by_mid.insert(mid, consumer_id);
        Ok(key)
    }

    pub fn consumer_id(&self, consumer: SlotKey) -> Option<&Id> {
        self.consumers.id_at(consumer)
    }

    pub fn remove_consumer(&mut self, consumer_id: &str) {
        self.consumer_by_mid.retain(|_, id| &**id != consumer_id);
        let egress = &mut self.egress;
        self.consumers.remove(consumer_id, |ssrc| {
            if let Some(e) = egress.as_mut() {
                e.tx.forget(ssrc);
            }
        });
    }

    /// Sends one packet to a consumer's browser. The caller has rewritten
    /// sequence number, timestamp and PT; SSRC comes from the consumer.
    pub fn write_rtp(
        &mut self,
        consumer: SlotKey,
        pkt: &ForwardedRtp,
        now: Instant,
        out: &mut TransportOutput,
    ) -> CoreResult<()> {
        if self.dead {
            return Err(CoreError::invalid_state("transport closed"));
        }
        let sending = self.sending();
        let (Some(egress), Some(pair), true) = (self.egress.as_mut(), self.selected_addrs, sending)
        else {
            // Nothing goes out before the handshake has given the keys, nor
            // while ICE has lost the peer or after DTLS has closed.
            return if self.consumers.id_at(consumer).is_some() {
                Ok(())
            } else {
                Err(CoreError::invalid_state("no such consumer"))
            };
        };
        let mut buf = out.buffer();
        let size = 40 + pkt.payload.len();
        let Egress { tx, cc, .. } = egress;
        let sent = self.consumers.send(
            consumer,
            pkt,
            |transport_cc| cc.extensions(now, size, transport_cc),
            &mut buf,
            |b, seq_no, stream| tx.protect_rtp_on(stream, b, seq_no),
        )?;
        if sent {
            transmit_own(&mut self.stats, out, pair, buf, Own::Rtp);
        } else {
            out.recycle(buf);
        }
        Ok(())
    }

    /// See [`SendPrefetch`]: what `write_rtp` reads, step by step.
    pub fn prefetch(&self, step: SendPrefetch, consumer: SlotKey) {
        match step {
            SendPrefetch::Fields => {
                prefetch::line(&self.dead);
                prefetch::line(&self.dtls_state);
                prefetch::line(&self.ice_state);
                prefetch::line(&self.selected_addrs);
                prefetch::line(&self.stats);
                prefetch::line(&self.next_timeout);
                prefetch::line(&self.consumers);
                prefetch::lines(&self.egress, EGRESS_LINES);
            }
            SendPrefetch::Consumer => {
                self.consumers.prefetch_sender(consumer);
                if let Some(e) = &self.egress {
                    e.cc.estimator.prefetch_next();
                }
            }
            SendPrefetch::History => self.consumers.prefetch_history(consumer),
        }
    }

    /// The peer's RTCP about our consumers' streams, which str0m does not
    /// know: receiver reports, keyframe requests, NACKs, transport feedback.
    fn on_consumer_rtcp(&mut self, now: Instant, packet: &[u8], out: &mut TransportOutput) {
        let Some(egress) = self.egress.as_mut() else {
            return;
        };
        let Some(plain) = egress.decrypt_rtcp(packet) else {
            return;
        };
        wire::for_each_transport_feedback(&plain, |fci| {
            egress.cc.estimator.on_feedback(now, fci);
        });
        let mut nacks = Vec::new();
        let consumers = &mut self.consumers;
        wire::parse_rtcp(&plain, |item| {
            if let RtcpAction::Nack { ssrc, pid, blp } =
                consumers.on_rtcp(now, &item, &mut out.events)
            {
                nacks.push((ssrc, pid, blp));
            }
        });
        egress.recycle(plain);
        for nack in nacks {
            self.answer_nack(now, nack, out);
        }
    }

    /// Resends as RTX what a NACK entry asks for, if the stream keeps it.
    fn answer_nack(&mut self, now: Instant, nack: (u32, u16, u16), out: &mut TransportOutput) {
        let sending = self.sending();
        let (Some(egress), Some(pair), true) = (self.egress.as_mut(), self.selected_addrs, sending)
        else {
            return;
        };
        let mut resends = Vec::new();
        self.consumers.resend(
            now,
            nack,
            // The size is the feedback's only use of it: a typical packet.
            |transport_cc| egress.cc.extensions(now, 1_200, transport_cc),
            |_, buf, rtx_seq| resends.push((buf, rtx_seq)),
        );
        for (mut buf, rtx_seq) in resends {
            if egress.tx.protect_rtp(&mut buf, rtx_seq) {
                transmit_own(&mut self.stats, out, pair, buf, Own::Rtx);
            }
        }
    }

    /// Every second: sender reports for the consumers' streams, and the
    /// bandwidth estimate for their layers.
    fn on_rtcp_timer(&mut self, now: Instant, out: &mut TransportOutput) {
        let sending = self.sending();
        let Some(egress) = self.egress.as_mut() else {
            return;
        };
        // Moved on even when nothing is sent: a deadline left in the past
        // would be due again at once, forever.
        egress.next_rtcp = now + egress::RTCP_INTERVAL;
        if self.consumers.is_empty() {
            return;
        }
        out.events.push(TransportEvent::BandwidthEstimate);
        let (Some(pair), true) = (self.selected_addrs, sending) else {
            return;
        };
        let stats = &mut self.stats;
        self.consumers.sender_reports(now, |mut buf| {
            if egress.tx.protect_rtcp(&mut buf) {
                transmit_own(stats, out, pair, buf, Own::Rtcp);
            }
        });
    }

    pub fn consumer_stats(&self, consumer_id: &str) -> Option<ConsumerStats> {
        self.consumers.stats(consumer_id)
    }

    pub fn stats(&self) -> TransportStats {
        let mut s = self.stats.clone();
        if let Some(p) = &self.peer_stats {
            s.rtt = p.rtt;
            s.ingress_loss_fraction = p.ingress_loss_fraction;
        }
        match &self.egress {
            Some(e) => {
                s.rtt = self.consumers.rtt().or(s.rtt);
                s.available_outgoing_bitrate = Some(e.cc.estimator.estimate());
                s.egress_loss_fraction = Some(e.cc.estimator.loss());
            }
            None => {
                let initial = self.initial_bitrate;
                s.available_outgoing_bitrate = Some(
                    self.max_outgoing_bitrate
                        .map_or(initial, |max| initial.min(max)),
                );
            }
        }
        s
    }

    // -- internals ----------------------------------------------------------

    fn ensure_alive(&self) -> CoreResult<()> {
        if self.dead {
            Err(CoreError::invalid_state("transport closed"))
        } else {
            Ok(())
        }
    }

    /// Runs a str0m call; a panic inside str0m kills this transport only.
    fn guarded<R>(
        &mut self,
        out: &mut TransportOutput,
        f: impl FnOnce(&mut Rtc) -> R,
    ) -> CoreResult<R> {
        match catch_unwind(AssertUnwindSafe(|| f(&mut self.rtc))) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.fail("panic inside the WebRTC stack", out);
                Err(CoreError::other("WebRTC stack failure"))
            }
        }
    }

    fn fail(&mut self, why: &str, out: &mut TransportOutput) {
        if self.dead {
            return;
        }
        self.dead = true;
        out.events.push(TransportEvent::Fatal(why.to_owned()));
        let state = if self.dtls_state == DtlsState::Connected {
            DtlsState::Closed
        } else {
            DtlsState::Failed
        };
        self.set_dtls_state(state, out);
    }

    fn run_due_timeouts(&mut self, now: Instant, out: &mut TransportOutput) {
        let mut n = 0;
        while !self.dead && self.next_timeout <= now && n < MAX_INLINE_TIMEOUTS {
            let _ = self.guarded(out, |rtc| rtc.handle_input(Input::Timeout(now)));
            self.drain(out);
            n += 1;
        }
    }

    /// Polls str0m until it names its next timeout.
    fn drain(&mut self, out: &mut TransportOutput) {
        while !self.dead {
            let polled = match catch_unwind(AssertUnwindSafe(|| self.rtc.poll_output())) {
                Ok(p) => p,
                Err(_) => {
                    self.fail("panic inside the WebRTC stack", out);
                    return;
                }
            };
            match polled {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => self.on_transmit(t, out),
                Ok(Output::Event(e)) => self.on_event(e, out),
                Err(e) => {
                    // E.g. a fingerprint mismatch: str0m disconnects.
                    tracing::debug!("transport failed: {e}");
                    self.dead = true;
                    let state = if self.dtls_state == DtlsState::Connected {
                        DtlsState::Closed
                    } else {
                        DtlsState::Failed
                    };
                    self.set_dtls_state(state, out);
                    return;
                }
            }
        }
    }

    fn on_transmit(&mut self, t: Transmit, out: &mut TransportOutput) {
        self.stats.bytes_sent += t.contents.len() as u64;
        // STUN answers go to whoever checks; other traffic follows the
        // nominated pair, which is mediasoup's "selected tuple".
        if !is_stun(&t.contents) {
            self.follow_pair(t.proto, t.source, t.destination, out);
        }
        out.transmits.push(t);
    }

    /// The pair str0m sends on: the selected tuple, and where the
    /// consumers' RTP goes.
    fn follow_pair(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        out: &mut TransportOutput,
    ) {
        let addrs = (proto, source, destination);
        if self.selected_addrs == Some(addrs) {
            return;
        }
        let tuple = TransportTuple {
            local_ip: source.ip().to_string(),
            local_address: source.ip().to_string(),
            local_port: source.port(),
            remote_ip: destination.ip().to_string(),
            remote_port: destination.port(),
            protocol: proto_name(proto).to_owned(),
        };
        self.selected_addrs = Some(addrs);
        self.selected_tuple = Some(tuple.clone());
        out.events
            .push(TransportEvent::IceSelectedTupleChange(tuple));
    }

    fn on_event(&mut self, e: Event, out: &mut TransportOutput) {
        if self.on_channel_event(&e, out) {
            return;
        }
        match e {
            Event::Connected => {
                self.start_egress();
                self.set_dtls_state(DtlsState::Connected, out);
                out.events.push(TransportEvent::Connected);
            }
            Event::IceConnectionStateChange(s) => {
                let mapped = match s {
                    IceConnectionState::New | IceConnectionState::Checking => None,
                    IceConnectionState::Connected => Some(IceState::Connected),
                    IceConnectionState::Completed => Some(IceState::Completed),
                    IceConnectionState::Disconnected => Some(IceState::Disconnected),
                };
                if let Some(m) = mapped {
                    self.set_ice_state(m, out);
                }
            }
            Event::RtpPacket(packet) => self.on_producer_rtp(packet, out),
            Event::StreamPaused(p) => {
                if let Some((idx, enc)) = self.locate(p.ssrc, p.mid, p.rid) {
                    out.events.push(TransportEvent::ProducerStreamPaused {
                        producer_id: self.producers[idx].id.clone(),
                        encoding: enc,
                        paused: p.paused,
                    });
                }
            }
            Event::PeerStats(s) => {
                // A transport that only consumes may send str0m nothing to
                // carry: its stats name the nominated pair (after an ICE
                // restart or a move to another candidate).
                if let Some(pair) = &s.selected_candidate_pair {
                    self.follow_pair(pair.protocol, pair.local.addr, pair.remote.addr, out);
                }
                self.peer_stats = Some(s);
            }
            Event::SenderFeedback(f) => {
                let Some(&idx) = self.producer_by_mid.get(&f.mid) else {
                    return;
                };
                let info = f.sender_info;
                // NTP counts from 1900, Unix time from 1970.
                const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
                let unix = info
                    .ntp_time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let report = SenderReport {
                    ssrc: *info.ssrc,
                    ntp_sec: (unix.as_secs() + NTP_UNIX_OFFSET) as u32,
                    ntp_frac: ((u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000) as u32,
                    rtp_ts: info.rtp_time.numer() as u32,
                    packet_count: info.sender_packet_count,
                    octet_count: info.sender_octet_count,
                };
                out.events.push(TransportEvent::ProducerSenderReport {
                    producer_id: self.producers[idx].id.clone(),
                    report,
                });
            }
            Event::MediaIngressStats(s) => self.on_ingress_stats(s, out),
            Event::Closed => self.set_dtls_state(DtlsState::Closed, out),
            _ => {}
        }
    }

    /// Whether our own packets may go out: as mediasoup's `IsConnected()`,
    /// ICE connected or completed and DTLS connected (nothing after its
    /// close). A peer whose checks stopped gets nothing once ICE says so:
    /// str0m (ICE-lite) drops a pair after 15 s without a check, where
    /// mediasoup waits 30 s (RFC 7675's consent timeout).
    pub fn sending(&self) -> bool {
        self.dtls_state == DtlsState::Connected
            && matches!(self.ice_state, IceState::Connected | IceState::Completed)
    }

    /// The handshake is done: its keys let the consumers' RTP go out.
    fn start_egress(&mut self) {
        let dtls_client = self.local_dtls_role == DtlsRole::Client;
        let keys =
            self.key_slot
                .as_ref()
                .and_then(|slot| slot.get())
                .and_then(|(material, profile)| {
                    SrtpKeys::from_material(material, *profile, dtls_client)
                });
        let Some(keys) = keys else {
            tracing::warn!("DTLS connected without SRTP keys: consumers cannot send");
            return;
        };
        let mut egress = Egress::new(&keys, self.initial_bitrate, self.last_now);
        egress
            .cc
            .estimator
            .set_bounds(self.min_outgoing_bitrate, self.max_outgoing_bitrate);
        self.egress = Some(egress);
        self.key_slot = None;
    }

    /// Producer and encoding of an incoming stream.
    fn locate(&self, ssrc: Ssrc, mid: Mid, rid: Option<Rid>) -> Option<(usize, usize)> {
        if let Some(v) = self.rx_ssrcs.get(&*ssrc) {
            return Some(*v);
        }
        let idx = *self.producer_by_mid.get(&mid)?;
        let p = &self.producers[idx];
        if p.offered.closed {
            return None;
        }
        let enc = p
            .encodings
            .iter()
            .position(|(s, r)| *s == Some(*ssrc) || (rid.is_some() && *r == rid))
            .or_else(|| (p.encodings.len() == 1).then_some(0))?;
        Some((idx, enc))
    }

    fn on_producer_rtp(&mut self, packet: RtpPacket, out: &mut TransportOutput) {
        let ssrc = *packet.header.ssrc;
        let found = match self.rx_ssrcs.get(&ssrc) {
            Some(v) => Some(*v),
            None => self.learn_rx_ssrc(packet.header.ssrc, &packet, out),
        };
        let Some((idx, enc)) = found else {
            return;
        };
        let p = &mut self.producers[idx];
        if p.offered.closed {
            // A port-0 m-line still delivers packets.
            return;
        }
        // The RTP packet's size (header and payload, no SRTP tag), as
        // mediasoup counts it; a retransmission's as str0m unwrapped it.
        let size = (packet.header.header_len + packet.payload.len()) as u64;
        if self.receiving_rtx {
            self.stats.rtx_bytes_received += size;
        } else {
            self.stats.rtp_packets_received += 1;
            self.stats.rtp_bytes_received += size;
        }
        if let Some(s) = p.stats.get_mut(enc) {
            if self.receiving_rtx {
                s.retransmitted += 1;
                s.repaired += 1;
            }
            s.packets += 1;
            s.bytes += size;
        }
        out.events.push(TransportEvent::ProducerRtp {
            producer_id: p.id.clone(),
            encoding: enc,
            packet,
        });
    }

    /// First packet of an SSRC: find its producer/encoding through str0m's
    /// stream (mid/rid known from the header extensions or the SDP).
    fn learn_rx_ssrc(
        &mut self,
        ssrc: Ssrc,
        packet: &RtpPacket,
        out: &mut TransportOutput,
    ) -> Option<(usize, usize)> {
        let looked_up = self
            .guarded(out, |rtc| {
                rtc.direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| (s.mid(), s.rid()))
            })
            .ok()
            .flatten();
        let (mid, rid) = match looked_up {
            Some(v) => v,
            None => (packet.header.ext_vals.mid?, packet.header.ext_vals.rid),
        };
        let found = self.locate(ssrc, mid, rid)?;
        let p = &mut self.producers[found.0];
        if let Some(s) = p.stats.get_mut(found.1) {
            s.ssrc = Some(*ssrc);
        }
        if !p.has_rtx {
            let _ = self.guarded(out, |rtc| {
                if let Some(s) = rtc.direct_api().stream_rx(&ssrc) {
                    s.suppress_nack(true);
                }
            });
        }
        self.rx_ssrcs.insert(*ssrc, found);
        Some(found)
    }

    fn on_ingress_stats(&mut self, s: MediaIngressStats, out: &mut TransportOutput) {
        let Some(&idx) = self.producer_by_mid.get(&s.mid) else {
            return;
        };
        let p = &mut self.producers[idx];
        let enc = p
            .encodings
            .iter()
            .position(|(_, r)| *r == s.rid)
            .or_else(|| (p.encodings.len() == 1).then_some(0));
        let Some(st) = enc.and_then(|e| p.stats.get_mut(e)) else {
            return;
        };
        st.jitter = s.jitter;
        st.loss = s.loss;
        if let Some(loss) = s.loss.filter(|l| *l > 0.0 && *l < 1.0) {
            let received = s.packets.saturating_sub(st.packets_at_last_report) as f32;
            st.packets_lost += (received * loss / (1.0 - loss)).round() as u64;
        }
        st.packets_at_last_report = s.packets;
        st.rtt = s.rtt;
        if s.nacks > st.nacks {
            out.events.push(TransportEvent::ProducerNack {
                producer_id: p.id.clone(),
                count: s.nacks - st.nacks,
            });
        }
        st.nacks = s.nacks;
        st.nack_packets = s.nacks;
        st.plis = s.plis;
        st.firs = s.firs;
        let score = score_from_loss(s.loss);
        if score != st.score {
            st.score = score;
            out.events.push(TransportEvent::ProducerScore {
                producer_id: p.id.clone(),
                encoding: st.encoding,
                score,
            });
        }
    }

    fn set_ice_state(&mut self, s: IceState, out: &mut TransportOutput) {
        if self.ice_state != s {
            let was_sending = self.sending();
            self.ice_state = s;
            out.events.push(TransportEvent::IceStateChange(s));
            if !was_sending && self.sending() {
                // ICE is back after an outage: what the consumers sent
                // meanwhile was dropped, so their pictures need a keyframe
                // (as when the transport first connected).
                out.events.push(TransportEvent::Connected);
            }
        }
    }

    fn set_dtls_state(&mut self, s: DtlsState, out: &mut TransportOutput) {
        if self.dtls_state != s {
            self.dtls_state = s;
            out.events.push(TransportEvent::DtlsStateChange(s));
        }
        // SCTP runs over DTLS: it ends with it.
        match s {
            DtlsState::Failed => self.set_sctp_state(SctpState::Failed, out),
            DtlsState::Closed => self.set_sctp_state(SctpState::Closed, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_through_hex() {
        let bytes = vec![0xab, 0x01, 0xff];
        let s = hex_colon(&bytes);
        assert_eq!(s, "AB:01:FF");
        assert_eq!(parse_hex_colon(&s), Some(bytes));
        assert_eq!(parse_hex_colon("AB:1"), None);
        assert_eq!(parse_hex_colon("zz"), None);
    }

    fn options(listen: Vec<ListenInfo>) -> WebRtcTransportOptions {
        WebRtcTransportOptions {
            listen_infos: listen,
            dtls_cert: str0m::crypto::from_feature_flags()
                .dtls_provider
                .generate_certificate()
                .unwrap(),
            router_capabilities:
                crate::testclient::capabilities::mediasoup_like_router_capabilities(),
            initial_available_outgoing_bitrate: Some(600_000),
            stats_interval: None,
            sctp_max_message_size: None,
        }
    }

    #[test]
    fn parameters_have_mediasoup_shapes() {
        let t = WebRtcTransport::new(
            options(vec![
                ListenInfo {
                    protocol: Protocol::Udp,
                    address: "192.0.2.1:40000".parse().unwrap(),
                },
                ListenInfo {
                    protocol: Protocol::Tcp,
                    address: "192.0.2.1:40001".parse().unwrap(),
                },
            ]),
            Instant::now(),
        )
        .unwrap();
        let ice = serde_json::to_value(t.ice_parameters()).unwrap();
        assert_eq!(ice["iceLite"], true);
        assert!(ice["usernameFragment"].as_str().unwrap().len() >= 4);
        let c = serde_json::to_value(t.ice_candidates()).unwrap();
        assert_eq!(c[0]["protocol"], "udp");
        assert_eq!(c[0]["type"], "host");
        assert_eq!(c[0]["ip"], "192.0.2.1");
        assert_eq!(c[0]["port"], 40000);
        assert!(c[0].get("tcpType").is_none());
        assert_eq!(c[1]["protocol"], "tcp");
        assert_eq!(c[1]["tcpType"], "passive");
        assert!(c[0]["priority"].as_u64().unwrap() > c[1]["priority"].as_u64().unwrap());
        let d = serde_json::to_value(t.dtls_parameters()).unwrap();
        assert_eq!(d["role"], "auto");
        assert_eq!(d["fingerprints"][0]["algorithm"], "sha-256");
        assert_eq!(
            d["fingerprints"][0]["value"].as_str().unwrap().len(),
            32 * 3 - 1
        );
    }

    #[test]
    fn unusable_listen_addresses_are_type_errors() {
        let err = WebRtcTransport::new(
            options(vec![ListenInfo {
                protocol: Protocol::Udp,
                address: "0.0.0.0:40000".parse().unwrap(),
            }]),
            Instant::now(),
        )
        .err()
        .unwrap();
        assert_eq!(err.kind, crate::error::ErrorKind::TypeError);
        assert!(WebRtcTransport::new(options(vec![]), Instant::now()).is_err());
    }

    #[test]
    fn scores_follow_loss() {
        assert_eq!(score_from_loss(None), 10);
        assert_eq!(score_from_loss(Some(0.1)), 8);
        assert_eq!(score_from_loss(Some(0.9)), 0);
    }
}
