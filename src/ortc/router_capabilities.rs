//! A router's RTP capabilities, built from the media codecs its creator asks
//! for and the codecs the SFU supports.

use serde_json::Value;

use super::codec_matching::match_codecs;
use super::error::OrtcError;
use super::supported::supported_rtp_capabilities;
use super::types::{MediaKind, Parameters, RtpCapabilities, RtpCodecCapability};
use super::validation::validate_rtp_codec_capability;

/// Dynamic payload types in the order mediasoup hands them out: 100..=127
/// first, then 96..=99 (browsers commonly use the low ones themselves).
const DYNAMIC_PAYLOAD_TYPES: [u8; 32] = [
    100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118,
    119, 120, 121, 122, 123, 124, 125, 126, 127, 96, 97, 98, 99,
];

/// mediasoup's `generateRouterRtpCapabilities()`.
///
/// Each media codec takes the first supported codec with the same mimeType,
/// clock rate and channels (and multiopus stream layout); its parameters are
/// merged over the supported ones, its rtcpFeedback ignored. The payload
/// type is the one asked for, else the supported codec's static one, else
/// the next free dynamic one. Each video codec is followed by its RTX codec.
/// All supported header extensions are offered.
pub fn generate_router_rtp_capabilities(
    media_codecs: &[RtpCodecCapability],
) -> Result<RtpCapabilities, OrtcError> {
    let supported = supported_rtp_capabilities();
    let mut dynamic_payload_types: Vec<u8> = DYNAMIC_PAYLOAD_TYPES.to_vec();
    let mut caps = RtpCapabilities {
        codecs: Vec::new(),
        header_extensions: supported.header_extensions,
    };

    for media_codec in media_codecs {
        let mut media_codec = media_codec.clone();
        validate_rtp_codec_capability(&mut media_codec)?;

        let mut codec = supported
            .codecs
            .iter()
            .find(|supported_codec| match_codecs(&media_codec, *supported_codec, false))
            .cloned()
            .ok_or_else(|| {
                OrtcError::unsupported(format!(
                    "media codec not supported [mimeType:{}]",
                    media_codec.mime_type
                ))
            })?;

        if let Some(payload_type) = media_codec.preferred_payload_type {
            codec.preferred_payload_type = Some(payload_type);
            dynamic_payload_types.retain(|&pt| pt != payload_type);
        } else if codec.preferred_payload_type.is_none() {
            codec.preferred_payload_type =
                Some(take_dynamic_payload_type(&mut dynamic_payload_types)?);
        }

        if caps
            .codecs
            .iter()
            .any(|c| c.preferred_payload_type == codec.preferred_payload_type)
        {
            return Err(OrtcError::type_error(
                "duplicated codec.preferredPayloadType",
            ));
        }

        for (key, value) in media_codec.parameters {
            codec.parameters.insert(key, value);
        }

        let rtx = (codec.kind == MediaKind::Video)
            .then(|| rtx_codec_for(&codec, &mut dynamic_payload_types))
            .transpose()?;
        caps.codecs.push(codec);
        caps.codecs.extend(rtx);
    }

    Ok(caps)
}

fn take_dynamic_payload_type(available: &mut Vec<u8>) -> Result<u8, OrtcError> {
    if available.is_empty() {
        return Err(OrtcError::type_error(
            "cannot allocate more dynamic codec payload types",
        ));
    }
    Ok(available.remove(0))
}

fn rtx_codec_for(
    codec: &RtpCodecCapability,
    dynamic_payload_types: &mut Vec<u8>,
) -> Result<RtpCodecCapability, OrtcError> {
    let mut parameters = Parameters::new();
    parameters.insert(
        "apt".into(),
        codec
            .preferred_payload_type
            .map_or(Value::Null, Value::from),
    );
    Ok(RtpCodecCapability {
        kind: codec.kind,
        mime_type: format!("{}/rtx", codec.kind),
        preferred_payload_type: Some(take_dynamic_payload_type(dynamic_payload_types)?),
        clock_rate: codec.clock_rate,
        channels: None,
        parameters,
        rtcp_feedback: Vec::new(),
    })
}
