//! The codecs and RTP header extensions the SFU can route: mediasoup's
//! `supportedRtpCapabilities` table (as of mediasoup 3.27, plus H265), in its normalized form (audio channels
//! default to 1, missing feedback parameters are "", parameters default to
//! {}), which is how mediasoup hands it to routers.

use serde_json::{Value, json};

use super::types::{
    MediaKind, Parameters, RtcpFeedback, RtpCapabilities, RtpCodecCapability, RtpHeaderExtension,
    RtpHeaderExtensionDirection,
};

pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
pub const RTP_STREAM_ID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
pub const REPAIRED_RTP_STREAM_ID_URI: &str =
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
pub const ABS_SEND_TIME_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
pub const TRANSPORT_WIDE_CC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
pub const DEPENDENCY_DESCRIPTOR_URI: &str =
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";
pub const PACKET_ID_URI: &str = "urn:mediasoup:params:rtp-hdrext:packet-id";
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
pub const VIDEO_ORIENTATION_URI: &str = "urn:3gpp:video-orientation";
pub const TIME_OFFSET_URI: &str = "urn:ietf:params:rtp-hdrext:toffset";
pub const ABS_CAPTURE_TIME_URI: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time";
pub const PLAYOUT_DELAY_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";

fn feedback(list: &[(&str, &str)]) -> Vec<RtcpFeedback> {
    list.iter().map(|(t, p)| RtcpFeedback::new(t, p)).collect()
}

fn parameters(value: Value) -> Parameters {
    match value {
        Value::Object(map) => map,
        _ => Parameters::new(),
    }
}

fn audio(
    mime_type: &str,
    preferred_payload_type: Option<u8>,
    clock_rate: u32,
    channels: u8,
    params: Value,
    rtcp_feedback: &[(&str, &str)],
) -> RtpCodecCapability {
    RtpCodecCapability {
        kind: MediaKind::Audio,
        mime_type: mime_type.to_owned(),
        preferred_payload_type,
        clock_rate,
        channels: Some(channels),
        parameters: parameters(params),
        rtcp_feedback: feedback(rtcp_feedback),
    }
}

fn video(mime_type: &str, params: Value) -> RtpCodecCapability {
    RtpCodecCapability {
        kind: MediaKind::Video,
        mime_type: mime_type.to_owned(),
        preferred_payload_type: None,
        clock_rate: 90000,
        channels: None,
        parameters: parameters(params),
        rtcp_feedback: feedback(VIDEO_FEEDBACK),
    }
}

fn extension(
    kind: MediaKind,
    uri: &str,
    preferred_id: u8,
    direction: RtpHeaderExtensionDirection,
) -> RtpHeaderExtension {
    RtpHeaderExtension {
        kind,
        uri: uri.to_owned(),
        preferred_id,
        preferred_encrypt: false,
        direction,
    }
}

const OPUS_FEEDBACK: &[(&str, &str)] = &[("nack", ""), ("transport-cc", "")];
const TRANSPORT_CC: &[(&str, &str)] = &[("transport-cc", "")];
const VIDEO_FEEDBACK: &[(&str, &str)] = &[
    ("nack", ""),
    ("nack", "pli"),
    ("ccm", "fir"),
    ("goog-remb", ""),
    ("transport-cc", ""),
];

/// mediasoup's supported RTP capabilities (a fresh copy each call).
pub fn supported_rtp_capabilities() -> RtpCapabilities {
    use MediaKind::{Audio, Video};
    use RtpHeaderExtensionDirection::{Recvonly, Sendrecv};

    let codecs = vec![
        audio("audio/opus", None, 48000, 2, json!({}), OPUS_FEEDBACK),
        // Quad, 5.1 and 7.1 surround.
        audio(
            "audio/multiopus",
            None,
            48000,
            4,
            json!({"channel_mapping": "0,1,2,3", "num_streams": 2, "coupled_streams": 2}),
            OPUS_FEEDBACK,
        ),
        audio(
            "audio/multiopus",
            None,
            48000,
            6,
            json!({"channel_mapping": "0,4,1,2,3,5", "num_streams": 4, "coupled_streams": 2}),
            OPUS_FEEDBACK,
        ),
        audio(
            "audio/multiopus",
            None,
            48000,
            8,
            json!({"channel_mapping": "0,6,1,2,3,4,5,7", "num_streams": 5, "coupled_streams": 3}),
            OPUS_FEEDBACK,
        ),
        audio("audio/PCMU", Some(0), 8000, 1, json!({}), TRANSPORT_CC),
        audio("audio/PCMA", Some(8), 8000, 1, json!({}), TRANSPORT_CC),
        audio("audio/ISAC", None, 32000, 1, json!({}), TRANSPORT_CC),
        audio("audio/ISAC", None, 16000, 1, json!({}), TRANSPORT_CC),
        audio("audio/G722", Some(9), 8000, 1, json!({}), TRANSPORT_CC),
        audio("audio/iLBC", None, 8000, 1, json!({}), TRANSPORT_CC),
        audio("audio/SILK", None, 24000, 1, json!({}), TRANSPORT_CC),
        audio("audio/SILK", None, 16000, 1, json!({}), TRANSPORT_CC),
        audio("audio/SILK", None, 12000, 1, json!({}), TRANSPORT_CC),
        audio("audio/SILK", None, 8000, 1, json!({}), TRANSPORT_CC),
        audio("audio/CN", Some(13), 32000, 1, json!({}), &[]),
        audio("audio/CN", Some(13), 16000, 1, json!({}), &[]),
        audio("audio/CN", Some(13), 8000, 1, json!({}), &[]),
        audio("audio/telephone-event", None, 48000, 1, json!({}), &[]),
        audio("audio/telephone-event", None, 32000, 1, json!({}), &[]),
        audio("audio/telephone-event", None, 16000, 1, json!({}), &[]),
        audio("audio/telephone-event", None, 8000, 1, json!({}), &[]),
        video("video/VP8", json!({})),
        video("video/VP9", json!({})),
        video("video/H264", json!({"level-asymmetry-allowed": 1})),
        video("video/H265", json!({"level-asymmetry-allowed": 1})),
        video("video/AV1", json!({})),
    ];

    let header_extensions = vec![
        extension(Audio, MID_URI, 1, Sendrecv),
        extension(Video, MID_URI, 1, Sendrecv),
        extension(Video, RTP_STREAM_ID_URI, 2, Recvonly),
        extension(Video, REPAIRED_RTP_STREAM_ID_URI, 3, Recvonly),
        extension(Audio, ABS_SEND_TIME_URI, 4, Sendrecv),
        extension(Video, ABS_SEND_TIME_URI, 4, Sendrecv),
        // Audio only takes transport-wide-cc on receive: the router does not
        // run congestion control on audio it sends.
        extension(Audio, TRANSPORT_WIDE_CC_URI, 5, Recvonly),
        extension(Video, TRANSPORT_WIDE_CC_URI, 5, Sendrecv),
        extension(Audio, AUDIO_LEVEL_URI, 6, Sendrecv),
        extension(Video, DEPENDENCY_DESCRIPTOR_URI, 7, Recvonly),
        extension(Video, VIDEO_ORIENTATION_URI, 8, Sendrecv),
        extension(Video, TIME_OFFSET_URI, 9, Sendrecv),
        extension(Audio, ABS_CAPTURE_TIME_URI, 10, Sendrecv),
        extension(Video, ABS_CAPTURE_TIME_URI, 10, Sendrecv),
        extension(Audio, PLAYOUT_DELAY_URI, 11, Sendrecv),
        extension(Video, PLAYOUT_DELAY_URI, 11, Sendrecv),
        extension(Audio, PACKET_ID_URI, 12, Sendrecv),
        extension(Video, PACKET_ID_URI, 12, Sendrecv),
    ];

    RtpCapabilities {
        codecs,
        header_extensions,
    }
}
