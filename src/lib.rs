//! opencall: a mediasoup-compatible SFU. Module list only; see ARCHITECTURE.

pub mod error;
pub mod napi;
pub mod ortc;
pub mod ortc_calls;
pub mod worker;
pub mod rtp;
