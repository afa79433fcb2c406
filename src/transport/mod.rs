//! Transports: each one terminates a peer's ICE/DTLS/SRTP and turns packets
//! into producer RTP (ingress) or consumer RTP into packets (egress).
//! Sans-IO: the worker loop owns sockets and timers and drives these.

pub mod webrtc;

pub use webrtc::{
    ConsumerStats, DtlsFingerprint, DtlsParameters, DtlsRole, DtlsState, ForwardedRtp,
    IceCandidate, IceParameters, IceState, ListenInfo, ProducerStats, TransportEvent,
    TransportOutput, TransportStats, TransportTuple, WebRtcTransport, WebRtcTransportOptions,
    is_stun,
};
