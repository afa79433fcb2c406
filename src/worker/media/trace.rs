//! mediasoup's trace events: after `enableTraceEvent(types)` a producer,
//! consumer or transport emits `trace` with `{ type, timestamp, direction,
//! info }` for each of those types. Types are kept as bits so that the packet
//! path tests them without touching strings.

use crate::worker::outbox;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use str0m::media::KeyframeRequestKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceType {
    Rtp = 1,
    Keyframe = 2,
    Nack = 4,
    Pli = 8,
    Fir = 16,
    Sr = 32,
    Bwe = 64,
    Probation = 128,
}

impl TraceType {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "rtp" => Self::Rtp,
            "keyframe" => Self::Keyframe,
            "nack" => Self::Nack,
            "pli" => Self::Pli,
            "fir" => Self::Fir,
            "sr" => Self::Sr,
            "bwe" => Self::Bwe,
            "probation" => Self::Probation,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rtp => "rtp",
            Self::Keyframe => "keyframe",
            Self::Nack => "nack",
            Self::Pli => "pli",
            Self::Fir => "fir",
            Self::Sr => "sr",
            Self::Bwe => "bwe",
            Self::Probation => "probation",
        }
    }

    fn keyframe_request(kind: KeyframeRequestKind) -> Self {
        match kind {
            KeyframeRequestKind::Pli => Self::Pli,
            KeyframeRequestKind::Fir => Self::Fir,
        }
    }
}

/// The trace types an object has enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceTypes(u8);

impl TraceTypes {
    /// From type names; unknown names are ignored.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            names
                .into_iter()
                .filter_map(TraceType::from_name)
                .fold(0, |bits, t| bits | t as u8),
        )
    }

    /// The enabled types' names, in the order mediasoup's dumps list them.
    pub fn names(self) -> Vec<&'static str> {
        use TraceType::*;
        [Rtp, Keyframe, Nack, Pli, Fir, Sr, Probation, Bwe]
            .into_iter()
            .filter(|t| self.has(*t))
            .map(TraceType::name)
            .collect()
    }

    pub fn has(self, t: TraceType) -> bool {
        self.0 & t as u8 != 0
    }

    /// Whether any per-packet type (`rtp`, `keyframe`) is on.
    pub fn per_packet(self) -> bool {
        self.has(TraceType::Rtp) || self.has(TraceType::Keyframe)
    }
}

/// The RTP fields of a packet trace, as mediasoup's packet dump names them.
pub struct PacketTrace {
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub ssrc: u32,
    pub keyframe: bool,
    pub payload_size: usize,
}

/// Emits the `rtp` and/or `keyframe` traces one packet is due.
pub fn packet(id: &str, types: TraceTypes, direction: &str, p: &PacketTrace) {
    let wanted = [TraceType::Rtp, TraceType::Keyframe]
        .into_iter()
        .filter(|t| types.has(*t) && (*t == TraceType::Rtp || p.keyframe));
    for t in wanted {
        let info = json!({
            "payloadType": p.payload_type,
            "sequenceNumber": p.sequence_number,
            "timestamp": p.timestamp,
            "marker": p.marker,
            "ssrc": p.ssrc,
            "isKeyFrame": p.keyframe,
            "payloadSize": p.payload_size,
        });
        emit(id, t, direction, info);
    }
}

/// Emits a `pli` or `fir` trace for a keyframe request, if that type is on.
pub fn keyframe_request(
    id: &str,
    types: TraceTypes,
    kind: KeyframeRequestKind,
    direction: &str,
    ssrc: Option<u32>,
) {
    let t = TraceType::keyframe_request(kind);
    if types.has(t) {
        emit(id, t, direction, json!({ "ssrc": ssrc }));
    }
}

/// `info` null: none, as mediasoup gives none for `nack` (its `info` is undefined).
pub fn emit(id: &str, t: TraceType, direction: &str, info: Value) {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut trace = json!({ "type": t.name(), "timestamp": timestamp, "direction": direction });
    if !info.is_null() {
        trace["info"] = info;
    }
    outbox::emit(id, "trace", trace);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_bits() {
        let t = TraceTypes::from_names(["pli", "keyframe", "pli"]);
        assert_eq!(t.names(), ["keyframe", "pli"]);
        assert!(t.has(TraceType::Pli) && t.has(TraceType::Keyframe));
        assert!(!t.has(TraceType::Rtp) && !t.has(TraceType::Fir));
        assert!(t.per_packet());
        assert!(!TraceTypes::from_names(["bwe"]).per_packet());
        assert_eq!(TraceTypes::from_names([]), TraceTypes::default());
        assert!(TraceTypes::from_names(["nope"]).names().is_empty());
    }
}
