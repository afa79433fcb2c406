//! From a producer's RTP parameters to the router's: which router payload
//! type each producer payload type becomes, which SSRC each encoding gets,
//! and the "consumable" parameters consumers are derived from.

use super::codec_matching::{Codec, is_h264_codec, is_rtx_codec, match_codecs};
use super::codec_parameters::is_number;
use super::error::OrtcError;
use super::h264;
use super::ssrc::generate_random_ssrc;
use super::types::{
    MediaKind, Parameters, RtcpParameters, RtpCapabilities, RtpCodecParameters,
    RtpHeaderExtensionDirection, RtpHeaderExtensionParameters, RtpMapping, RtpMappingCodec,
    RtpMappingEncoding, RtpParameters,
};

/// mediasoup's `getProducerRtpParametersMapping()`, leaving `params` as is.
/// See [`negotiate_producer_rtp_parameters`] for the variant that also
/// rewrites H264 profile-level-ids as mediasoup does.
pub fn get_producer_rtp_parameters_mapping(
    params: &RtpParameters,
    caps: &RtpCapabilities,
) -> Result<RtpMapping, OrtcError> {
    negotiate_producer_rtp_parameters(&mut params.clone(), caps)
}

/// mediasoup's `getProducerRtpParametersMapping()` with its side effect:
/// each H264 codec of the producer gets the profile-level-id answered
/// against the router's codec (mediasoup stores the producer's parameters
/// modified that way, and consumers inherit them).
///
/// Errors with `Unsupported` for a media codec the router lacks, or an RTX
/// codec when the router has none for that media codec, and with
/// `TypeError` for an RTX codec whose `apt` names no codec.
pub fn negotiate_producer_rtp_parameters(
    params: &mut RtpParameters,
    caps: &RtpCapabilities,
) -> Result<RtpMapping, OrtcError> {
    // Index in params.codecs -> index in caps.codecs; media codecs first.
    let mut codec_to_cap_codec: Vec<(usize, usize)> = Vec::new();

    for (index, codec) in params.codecs.iter_mut().enumerate() {
        if is_rtx_codec(codec) {
            continue;
        }
        let cap_index = caps
            .codecs
            .iter()
            .position(|cap_codec| match_codecs(codec, cap_codec, true))
            .ok_or_else(|| {
                OrtcError::unsupported(format!(
                    "unsupported codec [mimeType:{}, payloadType:{}]",
                    codec.mime_type, codec.payload_type
                ))
            })?;
        if is_h264_codec(codec) {
            adopt_h264_answer(&mut codec.parameters, &caps.codecs[cap_index].parameters);
        }
        codec_to_cap_codec.push((index, cap_index));
    }

    for (index, codec) in params.codecs.iter().enumerate() {
        if !is_rtx_codec(codec) {
            continue;
        }
        let apt = codec.parameters.get("apt");
        let media_index = params
            .codecs
            .iter()
            .position(|media_codec| is_number(apt, media_codec.payload_type))
            .ok_or_else(|| {
                OrtcError::type_error(format!(
                    "missing media codec found for RTX PT {}",
                    codec.payload_type
                ))
            })?;
        // An RTX codec pointing at another RTX codec has no capability codec.
        let cap_media_pt = codec_to_cap_codec
            .iter()
            .find(|(i, _)| *i == media_index)
            .and_then(|&(_, cap_index)| caps.codecs[cap_index].preferred_payload_type);
        let cap_rtx_index = cap_media_pt
            .and_then(|pt| {
                caps.codecs.iter().position(|cap_codec| {
                    is_rtx_codec(cap_codec) && is_number(cap_codec.parameters.get("apt"), pt)
                })
            })
            .ok_or_else(|| {
                OrtcError::unsupported(format!(
                    "no RTX codec for capability codec PT {}",
                    cap_media_pt.map_or_else(|| "undefined".to_owned(), |pt| pt.to_string())
                ))
            })?;
        codec_to_cap_codec.push((index, cap_rtx_index));
    }

    let codecs = codec_to_cap_codec
        .iter()
        .map(|&(index, cap_index)| {
            let mapped_payload_type =
                caps.codecs[cap_index]
                    .preferred_payload_type
                    .ok_or_else(|| {
                        OrtcError::type_error("capability codec without preferredPayloadType")
                    })?;
            Ok(RtpMappingCodec {
                payload_type: params.codecs[index].payload_type,
                mapped_payload_type,
            })
        })
        .collect::<Result<Vec<_>, OrtcError>>()?;

    // Consecutive SSRCs from a random base, one per encoding.
    let base_ssrc = generate_random_ssrc();
    let encodings = params
        .encodings
        .iter()
        .zip(0u32..)
        .map(|(encoding, i)| RtpMappingEncoding {
            ssrc: encoding.ssrc.filter(|&ssrc| ssrc != 0),
            rid: encoding.rid.clone().filter(|rid| !rid.is_empty()),
            scalability_mode: encoding.scalability_mode.clone().filter(|m| !m.is_empty()),
            mapped_ssrc: base_ssrc + i,
        })
        .collect();

    Ok(RtpMapping { codecs, encodings })
}

/// Sets the producer's profile-level-id to the one answered against the
/// router's codec, or removes it when neither side has one.
fn adopt_h264_answer(producer_params: &mut Parameters, cap_params: &Parameters) {
    match h264::generate_profile_level_id_for_answer(producer_params, cap_params) {
        Ok(Some(profile_level_id)) => {
            producer_params.insert("profile-level-id".into(), profile_level_id.into());
        }
        Ok(None) => {
            producer_params.remove("profile-level-id");
        }
        // Unreachable: the codecs matched, which requires a valid answer.
        Err(_) => {}
    }
}

/// mediasoup's `getConsumableRtpParameters()`: the producer's streams as
/// the router forwards them (router payload types, mapped SSRCs, the
/// header extensions the router can send for this kind, reduced-size RTCP).
///
/// `mapping` must come from [`get_producer_rtp_parameters_mapping`] on the
/// same `params`; codecs or encodings it does not cover are left out.
pub fn get_consumable_rtp_parameters(
    kind: MediaKind,
    params: &RtpParameters,
    caps: &RtpCapabilities,
    mapping: &RtpMapping,
) -> RtpParameters {
    let mut consumable = RtpParameters::default();

    for codec in params.codecs.iter().filter(|c| !is_rtx_codec(*c)) {
        let Some(cap_codec) = mapping
            .codecs
            .iter()
            .find(|entry| entry.payload_type == codec.payload_type)
            .and_then(|entry| {
                caps.codecs
                    .iter()
                    .find(|c| c.preferred_payload_type == Some(entry.mapped_payload_type))
            })
        else {
            continue;
        };
        let payload_type = cap_codec.preferred_payload_type.unwrap_or_default();
        consumable.codecs.push(RtpCodecParameters {
            mime_type: cap_codec.mime_type.clone(),
            payload_type,
            clock_rate: cap_codec.clock_rate,
            channels: cap_codec.channels,
            // The producer's parameters, since they describe its stream.
            parameters: codec.parameters.clone(),
            rtcp_feedback: cap_codec.rtcp_feedback.clone(),
        });

        let cap_rtx = caps
            .codecs
            .iter()
            .find(|c| is_rtx_codec(*c) && is_number(c.parameters().get("apt"), payload_type));
        if let Some(cap_rtx) = cap_rtx {
            consumable.codecs.push(RtpCodecParameters {
                mime_type: cap_rtx.mime_type.clone(),
                payload_type: cap_rtx.preferred_payload_type.unwrap_or_default(),
                clock_rate: cap_rtx.clock_rate,
                channels: None,
                parameters: cap_rtx.parameters.clone(),
                rtcp_feedback: cap_rtx.rtcp_feedback.clone(),
            });
        }
    }

    consumable.header_extensions = caps
        .header_extensions
        .iter()
        .filter(|ext| {
            ext.kind == kind
                && matches!(
                    ext.direction,
                    RtpHeaderExtensionDirection::Sendrecv | RtpHeaderExtensionDirection::Sendonly
                )
        })
        .map(|ext| RtpHeaderExtensionParameters {
            uri: ext.uri.clone(),
            id: ext.preferred_id,
            encrypt: ext.preferred_encrypt,
            parameters: Parameters::new(),
        })
        .collect();

    consumable.encodings = params
        .encodings
        .iter()
        .zip(&mapping.encodings)
        .map(|(encoding, mapped)| {
            let mut encoding = encoding.clone();
            encoding.rid = None;
            encoding.rtx = None;
            encoding.codec_payload_type = None;
            encoding.ssrc = Some(mapped.mapped_ssrc);
            encoding
        })
        .collect();

    consumable.rtcp = RtcpParameters {
        cname: params.rtcp.cname.clone(),
        reduced_size: Some(true),
    };

    consumable
}
