//! RTP helpers for forwarding: per-consumer sequence/timestamp rewriting,
//! keyframe detection per codec and keyframe-request throttling.
//!
//! Everything here is sans-IO and independent of str0m's `Rtc`, so it can be
//! unit-tested with plain numbers and `Instant`s.

pub mod keyframe;
pub mod keyframe_request;
pub mod reception;
pub mod retransmission;
pub mod rewrite;
pub mod srtp;
pub mod transport_cc;
pub mod vp8;
pub mod vp9;
pub mod wire;

pub use keyframe::{VideoCodec, is_keyframe};
pub use keyframe_request::KeyframeRequestThrottle;
pub use rewrite::{RtpRewriter, SeqRewriter, TimestampRewriter};
pub use vp8::{Vp8Temporal, vp8_temporal};
pub use vp9::{Vp9Layers, vp9_layers};
