//! opencall: a mediasoup-compatible SFU. Module list only; see ARCHITECTURE.

pub mod error;
pub mod id_map;
#[cfg(feature = "node")]
pub mod napi;
pub mod ortc;
pub mod ortc_calls;
pub mod prefetch;
pub mod router;
pub mod rtp;
pub mod testclient;
pub mod transport;
pub mod worker;
