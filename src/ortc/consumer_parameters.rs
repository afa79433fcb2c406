//! From a producer's consumable parameters to what one consumer receives,
//! given the receiving endpoint's capabilities (or, for pipe transports,
//! another router that takes everything).

use super::codec_matching::{is_rtx_codec, match_codecs};
use super::codec_parameters::is_number;
use super::error::OrtcError;
use super::scalability_mode::parse_scalability_mode;
use super::ssrc::generate_random_ssrc;
use super::supported::{ABS_SEND_TIME_URI, MID_URI, TRANSPORT_WIDE_CC_URI};
use super::types::{
    RtcpFeedback, RtpCapabilities, RtpCodecParameters, RtpEncodingParameters, RtpParameters,
    RtxParameters,
};
use super::validation::{validate_rtp_capabilities, validate_rtp_codec_capability};

/// mediasoup's `canConsume()`: whether the endpoint supports the first
/// media codec among the consumable ones it matches. Errors only when
/// `caps` is invalid.
pub fn can_consume(consumable: &RtpParameters, caps: &RtpCapabilities) -> Result<bool, OrtcError> {
    let mut caps = caps.clone();
    validate_rtp_capabilities(&mut caps)?;
    let first_match = consumable.codecs.iter().find(|codec| {
        caps.codecs
            .iter()
            .any(|cap| match_codecs(cap, *codec, true))
    });
    Ok(first_match.is_some_and(|codec| !is_rtx_codec(codec)))
}

/// mediasoup's `getConsumerRtpParameters()`.
///
/// Keeps the consumable codecs the endpoint supports (with the endpoint's
/// RTCP feedback; without plain NACK and RTX when `enable_rtx` is false),
/// the header extensions it supports with the same id, and one congestion
/// control feedback (transport-cc if its extension survives, else REMB if
/// abs-send-time does, else none). A regular consumer gets one encoding with
/// a fresh SSRC (its simulcast streams become spatial layers of it); a pipe
/// consumer keeps every encoding.
///
/// Errors with `Unsupported` ("no compatible media codecs") when nothing
/// matches.
pub fn get_consumer_rtp_parameters(
    consumable: &RtpParameters,
    caps: &RtpCapabilities,
    pipe: bool,
    enable_rtx: bool,
) -> Result<RtpParameters, OrtcError> {
    let mut caps = caps.clone();
    for cap_codec in &mut caps.codecs {
        validate_rtp_codec_capability(cap_codec)?;
    }

    let mut codecs: Vec<RtpCodecParameters> = Vec::new();
    for codec in &consumable.codecs {
        if !enable_rtx && is_rtx_codec(codec) {
            continue;
        }
        let Some(cap_codec) = caps
            .codecs
            .iter()
            .find(|cap| match_codecs(*cap, codec, true))
        else {
            continue;
        };
        let mut codec = codec.clone();
        codec.rtcp_feedback = cap_codec
            .rtcp_feedback
            .iter()
            .filter(|fb| enable_rtx || fb.r#type != "nack" || !fb.parameter.is_empty())
            .cloned()
            .collect();
        codecs.push(codec);
    }

    // RTX is only useful next to the media codec it repairs.
    let media_payload_types: Vec<u8> = codecs.iter().map(|c| c.payload_type).collect();
    codecs.retain(|codec| {
        !is_rtx_codec(codec)
            || media_payload_types
                .iter()
                .any(|&pt| is_number(codec.parameters.get("apt"), pt))
    });
    let rtx_supported = codecs.iter().any(is_rtx_codec);

    if codecs.first().is_none_or(is_rtx_codec) {
        return Err(OrtcError::unsupported("no compatible media codecs"));
    }

    let header_extensions: Vec<_> = consumable
        .header_extensions
        .iter()
        .filter(|ext| {
            caps.header_extensions
                .iter()
                .any(|cap| cap.preferred_id == ext.id && cap.uri == ext.uri)
        })
        .cloned()
        .collect();

    let has_extension = |uri: &str| header_extensions.iter().any(|ext| ext.uri == uri);
    let unused_feedback: &[&str] = if has_extension(TRANSPORT_WIDE_CC_URI) {
        &["goog-remb"]
    } else if has_extension(ABS_SEND_TIME_URI) {
        &["transport-cc"]
    } else {
        &["transport-cc", "goog-remb"]
    };
    for codec in &mut codecs {
        codec
            .rtcp_feedback
            .retain(|fb| !unused_feedback.contains(&fb.r#type.as_str()));
    }

    let encodings = if pipe {
        renumbered_encodings(&consumable.encodings, rtx_supported)
    } else {
        vec![single_consumer_encoding(
            &consumable.encodings,
            rtx_supported,
        )]
    };

    Ok(RtpParameters {
        mid: None,
        codecs,
        header_extensions,
        encodings,
        rtcp: consumable.rtcp.clone(),
        msid: None,
    })
}

/// The one encoding of a regular consumer. Simulcast streams are exposed as
/// spatial layers (`L<streams>T<temporal layers>`), and the highest
/// maxBitrate of any stream is kept.
fn single_consumer_encoding(
    consumable_encodings: &[RtpEncodingParameters],
    rtx_supported: bool,
) -> RtpEncodingParameters {
    let ssrc = generate_random_ssrc();
    let mut scalability_mode = consumable_encodings
        .iter()
        .filter_map(|e| e.scalability_mode.clone())
        .find(|mode| !mode.is_empty());
    if consumable_encodings.len() > 1 {
        let temporal_layers = parse_scalability_mode(scalability_mode.as_deref()).temporal_layers;
        scalability_mode = Some(format!(
            "L{}T{}",
            consumable_encodings.len(),
            temporal_layers
        ));
    }
    let max_bitrate = consumable_encodings
        .iter()
        .filter_map(|e| e.max_bitrate)
        .max()
        .filter(|&bitrate| bitrate > 0);
    RtpEncodingParameters {
        ssrc: Some(ssrc),
        rtx: rtx_supported.then_some(RtxParameters { ssrc: ssrc + 1 }),
        scalability_mode,
        max_bitrate,
        ..Default::default()
    }
}

/// Every consumable encoding, on consecutive fresh SSRCs (and RTX SSRCs).
fn renumbered_encodings(
    consumable_encodings: &[RtpEncodingParameters],
    with_rtx: bool,
) -> Vec<RtpEncodingParameters> {
    let base_ssrc = generate_random_ssrc();
    let base_rtx_ssrc = generate_random_ssrc();
    consumable_encodings
        .iter()
        .zip(0u32..)
        .map(|(encoding, i)| RtpEncodingParameters {
            ssrc: Some(base_ssrc + i),
            rtx: with_rtx.then_some(RtxParameters {
                ssrc: base_rtx_ssrc + i,
            }),
            ..encoding.clone()
        })
        .collect()
}

/// mediasoup's `getPipeConsumerRtpParameters()`: every codec and encoding,
/// for another router. Congestion control stays on each router's own
/// transports, so BWE feedback and extensions (and the transport-level MID)
/// are dropped; without `enable_rtx`, so are RTX and NACK.
pub fn get_pipe_consumer_rtp_parameters(
    consumable: &RtpParameters,
    enable_rtx: bool,
) -> RtpParameters {
    let keep_feedback = |fb: &RtcpFeedback| {
        (fb.r#type == "nack" && fb.parameter == "pli")
            || (fb.r#type == "ccm" && fb.parameter == "fir")
            || (enable_rtx && fb.r#type == "nack" && fb.parameter.is_empty())
    };
    let codecs = consumable
        .codecs
        .iter()
        .filter(|codec| enable_rtx || !is_rtx_codec(*codec))
        .map(|codec| RtpCodecParameters {
            rtcp_feedback: codec
                .rtcp_feedback
                .iter()
                .filter(|fb| keep_feedback(fb))
                .cloned()
                .collect(),
            ..codec.clone()
        })
        .collect();
    let header_extensions = consumable
        .header_extensions
        .iter()
        .filter(|ext| {
            ![MID_URI, ABS_SEND_TIME_URI, TRANSPORT_WIDE_CC_URI].contains(&ext.uri.as_str())
        })
        .cloned()
        .collect();

    RtpParameters {
        mid: None,
        codecs,
        header_extensions,
        encodings: renumbered_encodings(&consumable.encodings, enable_rtx),
        rtcp: consumable.rtcp.clone(),
        msid: None,
    }
}
