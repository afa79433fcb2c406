//! Validation of user-given parameters, filling in the defaults mediasoup
//! fills in. Type shapes are already enforced by deserialization; what
//! remains are the rules serde cannot express.

use serde_json::Value;

use super::error::OrtcError;
use super::types::{
    MediaKind, Parameters, RtcpFeedback, RtcpParameters, RtpCapabilities, RtpCodecCapability,
    RtpCodecParameters, RtpEncodingParameters, RtpHeaderExtension, RtpHeaderExtensionParameters,
    RtpParameters, SctpStreamParameters,
};

pub fn validate_rtp_capabilities(caps: &mut RtpCapabilities) -> Result<(), OrtcError> {
    for codec in &mut caps.codecs {
        validate_rtp_codec_capability(codec)?;
    }
    for ext in &mut caps.header_extensions {
        validate_rtp_header_extension(ext)?;
    }
    Ok(())
}

pub fn validate_rtp_parameters(params: &mut RtpParameters) -> Result<(), OrtcError> {
    for codec in &mut params.codecs {
        validate_rtp_codec_parameters(codec)?;
    }
    for ext in &mut params.header_extensions {
        validate_rtp_header_extension_parameters(ext)?;
    }
    for encoding in &mut params.encodings {
        validate_rtp_encoding_parameters(encoding);
    }
    validate_rtcp_parameters(&mut params.rtcp);
    Ok(())
}

/// Data channel reliability: at most one of maxPacketLifeTime and
/// maxRetransmits, and a partially reliable channel cannot be ordered.
/// `ordered` defaults to true, or to false when a limit is given.
pub fn validate_sctp_stream_parameters(params: &mut SctpStreamParameters) -> Result<(), OrtcError> {
    // Zero means unset, as in mediasoup's truthiness checks.
    let has_life_time = params.max_packet_life_time.is_some_and(|v| v != 0);
    let has_retransmits = params.max_retransmits.is_some_and(|v| v != 0);
    if has_life_time && has_retransmits {
        return Err(OrtcError::type_error(
            "cannot provide both maxPacketLifeTime and maxRetransmits",
        ));
    }
    match params.ordered {
        Some(true) if has_life_time || has_retransmits => Err(OrtcError::type_error(
            "cannot be ordered with maxPacketLifeTime or maxRetransmits",
        )),
        Some(_) => Ok(()),
        None => {
            params.ordered = Some(!(has_life_time || has_retransmits));
            Ok(())
        }
    }
}

/// The kind a mimeType announces (`audio/...` or `video/...`, any case,
/// with a non-empty subtype).
pub(crate) fn kind_of_mime_type(mime_type: &str) -> Result<MediaKind, OrtcError> {
    if mime_type.is_empty() {
        return Err(OrtcError::type_error("missing codec.mimeType"));
    }
    let invalid = || OrtcError::type_error("invalid codec.mimeType");
    let (kind, subtype) = mime_type.split_once('/').ok_or_else(invalid)?;
    if subtype.is_empty() {
        return Err(invalid());
    }
    match kind.to_ascii_lowercase().as_str() {
        "audio" => Ok(MediaKind::Audio),
        "video" => Ok(MediaKind::Video),
        _ => Err(invalid()),
    }
}

pub(crate) fn validate_rtp_codec_capability(
    codec: &mut RtpCodecCapability,
) -> Result<(), OrtcError> {
    // The mimeType is authoritative: a given `kind` is overridden.
    codec.kind = kind_of_mime_type(&codec.mime_type)?;
    codec.channels = default_channels(codec.kind, codec.channels);
    validate_codec_parameters(&codec.parameters)?;
    validate_rtcp_feedback(&codec.rtcp_feedback)
}

fn validate_rtp_codec_parameters(codec: &mut RtpCodecParameters) -> Result<(), OrtcError> {
    let kind = kind_of_mime_type(&codec.mime_type)?;
    codec.channels = default_channels(kind, codec.channels);
    validate_codec_parameters(&codec.parameters)?;
    validate_rtcp_feedback(&codec.rtcp_feedback)
}

/// Audio defaults to mono; video has no channels at all.
fn default_channels(kind: MediaKind, channels: Option<u8>) -> Option<u8> {
    match kind {
        MediaKind::Audio => Some(channels.unwrap_or(1)),
        MediaKind::Video => None,
    }
}

fn validate_codec_parameters(parameters: &Parameters) -> Result<(), OrtcError> {
    for (key, value) in parameters {
        if !matches!(value, Value::String(_) | Value::Number(_)) {
            return Err(OrtcError::type_error(format!(
                "invalid codec parameter [key:{key}, value:{value}]"
            )));
        }
        // RTX's apt is compared to payload types, which are numbers.
        if key == "apt" && !value.is_number() {
            return Err(OrtcError::type_error("invalid codec apt parameter"));
        }
    }
    Ok(())
}

fn validate_rtcp_feedback(feedback: &[RtcpFeedback]) -> Result<(), OrtcError> {
    if feedback.iter().any(|fb| fb.r#type.is_empty()) {
        return Err(OrtcError::type_error("missing fb.type"));
    }
    Ok(())
}

fn validate_rtp_header_extension(ext: &mut RtpHeaderExtension) -> Result<(), OrtcError> {
    if ext.uri.is_empty() {
        return Err(OrtcError::type_error("missing ext.uri"));
    }
    Ok(())
}

fn validate_rtp_header_extension_parameters(
    ext: &mut RtpHeaderExtensionParameters,
) -> Result<(), OrtcError> {
    if ext.uri.is_empty() {
        return Err(OrtcError::type_error("missing ext.uri"));
    }
    if ext
        .parameters
        .values()
        .any(|v| !matches!(v, Value::String(_) | Value::Number(_)))
    {
        return Err(OrtcError::type_error("invalid header extension parameter"));
    }
    Ok(())
}

fn validate_rtp_encoding_parameters(encoding: &mut RtpEncodingParameters) {
    encoding.dtx.get_or_insert(false);
}

/// mediasoup forces reduced-size RTCP on: it treats a given `false` like an
/// absent value, so both end up `true`.
fn validate_rtcp_parameters(rtcp: &mut RtcpParameters) {
    rtcp.reduced_size = Some(true);
}
