//! Router capabilities → str0m's build-time codec config and extension map.
//!
//! str0m freezes both when the `Rtc` is built. Consumers use the router's
//! payload types and extension ids directly; producers' browser-chosen ones
//! are remapped later through the synthesized SDP offer, which only works for
//! codecs and extensions already present here — so everything the router
//! supports is registered.

use std::num::NonZeroU32;

use str0m::format::{Codec, CodecConfig, FormatParams};
use str0m::media::{Frequency, Pt};
use str0m::rtp::{Extension, ExtensionMap, ExtensionSerializer, ExtensionValues};

use crate::error::{CoreError, CoreResult};
use crate::ortc::types::{MediaKind, Parameters, RtpCapabilities, RtpCodecCapability};

/// Where transport-cc is parked in addition to the router's own id: on send
/// transports the remap swaps whatever sits at the browser's twcc id into the
/// old slot, and a slot no browser uses (16 needs two-byte headers) can never
/// misparse a packet. The router id stays too, because consumers write the
/// extension at the lowest registered id, which must be the router's.
pub const TWCC_PARKING_ID: u8 = 16;

/// Extensions str0m knows by type. Anything else is registered opaquely.
const KNOWN: &[Extension] = &[
    Extension::AbsoluteSendTime,
    Extension::AbsoluteCaptureTime,
    Extension::AudioLevel,
    Extension::TransmissionTimeOffset,
    Extension::VideoOrientation,
    Extension::TransportSequenceNumber,
    Extension::PlayoutDelay,
    Extension::VideoContentType,
    Extension::VideoTiming,
    Extension::RtpStreamId,
    Extension::RepairedRtpStreamId,
    Extension::RtpMid,
    Extension::FrameMarking,
    Extension::ColorSpace,
];

/// An extension str0m cannot parse: registered so that the SDP remap can
/// place it, but neither parsed nor written (not forwarded to consumers).
#[derive(Debug)]
struct OpaqueExtension {
    audio: bool,
    video: bool,
}

impl ExtensionSerializer for OpaqueExtension {
    fn write_to(&self, _buf: &mut [u8], _ev: &ExtensionValues) -> usize {
        0
    }
    fn parse_value(&self, _buf: &[u8], _ev: &mut ExtensionValues) -> bool {
        true
    }
    fn is_video(&self) -> bool {
        self.video
    }
    fn is_audio(&self) -> bool {
        self.audio
    }
}

/// str0m's extension for a URI, if it knows it by type.
pub fn known_extension(uri: &str) -> Option<Extension> {
    KNOWN.iter().find(|e| e.as_uri() == uri).cloned()
}

/// Builds the session extension map from the router's header extensions.
pub fn extension_map(caps: &RtpCapabilities) -> ExtensionMap {
    let mut map = ExtensionMap::empty();
    let mut uris: Vec<(&str, u8, bool, bool)> = vec![];
    for h in &caps.header_extensions {
        let audio = h.kind == MediaKind::Audio;
        match uris.iter_mut().find(|(u, ..)| *u == h.uri) {
            Some(entry) => {
                entry.2 |= audio;
                entry.3 |= !audio;
            }
            None => uris.push((h.uri.as_str(), h.preferred_id, audio, !audio)),
        }
    }
    for (uri, id, audio, video) in uris {
        let ext = known_extension(uri)
            .unwrap_or_else(|| Extension::with_serializer(uri, OpaqueExtension { audio, video }));
        if ext == Extension::TransportSequenceNumber {
            map.set(TWCC_PARKING_ID, ext.clone());
        }
        map.set(id, ext);
    }
    map
}

/// mediasoup `parameters` as an fmtp line ("k=v;k=v").
pub fn fmtp_line(parameters: &Parameters) -> String {
    let mut s = String::new();
    for (k, v) in parameters {
        if !s.is_empty() {
            s.push(';');
        }
        s.push_str(k);
        s.push('=');
        match v {
            serde_json::Value::String(t) => s.push_str(t),
            other => s.push_str(&other.to_string()),
        }
    }
    s
}

/// The codec name of a mimeType ("video/VP8" → "VP8").
pub fn codec_name(mime_type: &str) -> &str {
    mime_type.split_once('/').map_or(mime_type, |(_, n)| n)
}

pub fn is_rtx(mime_type: &str) -> bool {
    codec_name(mime_type).eq_ignore_ascii_case("rtx")
}

/// The `apt` parameter of an RTX codec.
pub fn apt(parameters: &Parameters) -> Option<u8> {
    match parameters.get("apt")? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|v| u8::try_from(v).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn frequency(clock_rate: u32) -> CoreResult<Frequency> {
    NonZeroU32::new(clock_rate)
        .map(Frequency::from_nonzero)
        .ok_or_else(|| CoreError::type_error("codec clockRate must be positive"))
}

/// Adds every router codec (with its RTX) under the router's payload types.
/// Codecs str0m cannot carry are skipped: the router never offers them to a
/// consumer of this transport anyway.
pub fn codec_config(caps: &RtpCapabilities, config: &mut CodecConfig) -> CoreResult<()> {
    config.clear();
    for c in caps.codecs.iter().filter(|c| !is_rtx(&c.mime_type)) {
        let Some(pt) = c.preferred_payload_type else {
            return Err(CoreError::type_error(
                "router codec without preferredPayloadType",
            ));
        };
        let codec = Codec::from(codec_name(&c.mime_type));
        if matches!(
            codec,
            Codec::Unknown | Codec::Rtx | Codec::Red | Codec::Null
        ) {
            continue;
        }
        let rtx = rtx_for(caps, pt);
        config.add_config(
            Pt::new_with_value(pt),
            rtx.map(Pt::new_with_value),
            codec,
            frequency(c.clock_rate)?,
            c.channels,
            FormatParams::parse_line(&fmtp_line(&c.parameters)),
        );
    }
    Ok(())
}

fn rtx_for(caps: &RtpCapabilities, pt: u8) -> Option<u8> {
    caps.codecs
        .iter()
        .filter(|c: &&RtpCodecCapability| is_rtx(&c.mime_type))
        .find(|c| apt(&c.parameters) == Some(pt))
        .and_then(|c| c.preferred_payload_type)
}

/// Refuses a producer whose codecs (or their RTX) are not among the
/// router's: str0m could never give them a payload type.
pub fn payload_pairs_supported(
    params: &crate::ortc::types::RtpParameters,
    config: &CodecConfig,
) -> CoreResult<()> {
    for c in params.codecs.iter().filter(|c| !is_rtx(&c.mime_type)) {
        let codec = Codec::from(codec_name(&c.mime_type));
        let wants_rtx = params
            .codecs
            .iter()
            .any(|r| is_rtx(&r.mime_type) && apt(&r.parameters) == Some(c.payload_type));
        let ok = config
            .params()
            .iter()
            .any(|p| p.spec().codec == codec && (!wants_rtx || p.resend().is_some()));
        if !ok {
            return Err(CoreError::unsupported(format!(
                "codec {} is not supported by the router",
                c.mime_type
            )));
        }
    }
    Ok(())
}
