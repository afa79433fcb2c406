//! mediasoup's ORTC logic as pure functions: the supported and router RTP
//! capabilities, validation of user parameters, and the mapping from a
//! producer's parameters to the router's and on to each consumer's.
//!
//! Behaviour and JSON shapes follow mediasoup v3 (`ortc.ts`,
//! `supportedRtpCapabilities.ts`, `scalabilityModes.ts`), so that
//! mediasoup-client talks to this SFU unchanged.

mod codec_matching;
mod codec_parameters;
mod consumer_parameters;
pub mod error;
pub mod h264;
mod json;
mod producer_mapping;
mod router_capabilities;
mod scalability_mode;
mod ssrc;
pub mod supported;
pub mod types;
mod validation;

#[cfg(test)]
mod tests;

pub use codec_matching::{Codec, is_rtx_codec, match_codecs};
pub use consumer_parameters::{
    can_consume, get_consumer_rtp_parameters, get_pipe_consumer_rtp_parameters,
};
pub use error::OrtcError;
pub use json::from_json_value;
pub use producer_mapping::{
    get_consumable_rtp_parameters, get_producer_rtp_parameters_mapping,
    negotiate_producer_rtp_parameters,
};
pub use router_capabilities::generate_router_rtp_capabilities;
pub use scalability_mode::parse_scalability_mode;
pub use ssrc::generate_random_ssrc;
pub use supported::supported_rtp_capabilities;
pub use types::*;
pub use validation::{
    validate_rtp_capabilities, validate_rtp_parameters, validate_sctp_stream_parameters,
};
