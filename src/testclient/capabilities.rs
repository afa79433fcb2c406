//! A router's RTP capabilities as mediasoup would generate them for
//! `[opus, VP8]`: its payload types (100+) and extension ids, which clash
//! with Chrome's on purpose (Chrome's mid=4 is the router's abs-send-time,
//! Chrome's transport-cc=3 the router's repaired-rid).

use crate::ortc::types::{
    MediaKind, RtcpFeedback, RtpCapabilities, RtpCodecCapability, RtpHeaderExtension,
    RtpHeaderExtensionDirection,
};

pub const ROUTER_OPUS_PT: u8 = 100;
pub const ROUTER_VP8_PT: u8 = 101;
pub const ROUTER_VP8_RTX_PT: u8 = 102;

pub fn mediasoup_like_router_capabilities() -> RtpCapabilities {
    let video_fb = vec![
        RtcpFeedback::new("nack", ""),
        RtcpFeedback::new("nack", "pli"),
        RtcpFeedback::new("ccm", "fir"),
        RtcpFeedback::new("goog-remb", ""),
        RtcpFeedback::new("transport-cc", ""),
    ];
    let mut opus_params = serde_json::Map::new();
    opus_params.insert("useinbandfec".into(), 1.into());
    let mut rtx_params = serde_json::Map::new();
    rtx_params.insert("apt".into(), ROUTER_VP8_PT.into());
    let codecs = vec![
        RtpCodecCapability {
            kind: MediaKind::Audio,
            mime_type: "audio/opus".into(),
            preferred_payload_type: Some(ROUTER_OPUS_PT),
            clock_rate: 48_000,
            channels: Some(2),
            parameters: opus_params,
            rtcp_feedback: vec![
                RtcpFeedback::new("nack", ""),
                RtcpFeedback::new("transport-cc", ""),
            ],
        },
        RtpCodecCapability {
            kind: MediaKind::Video,
            mime_type: "video/VP8".into(),
            preferred_payload_type: Some(ROUTER_VP8_PT),
            clock_rate: 90_000,
            channels: None,
            parameters: Default::default(),
            rtcp_feedback: video_fb,
        },
        RtpCodecCapability {
            kind: MediaKind::Video,
            mime_type: "video/rtx".into(),
            preferred_payload_type: Some(ROUTER_VP8_RTX_PT),
            clock_rate: 90_000,
            channels: None,
            parameters: rtx_params,
            rtcp_feedback: vec![],
        },
    ];
    let ext = |kind, uri: &str, id, direction| RtpHeaderExtension {
        kind,
        uri: uri.to_owned(),
        preferred_id: id,
        preferred_encrypt: false,
        direction,
    };
    use MediaKind::{Audio, Video};
    use RtpHeaderExtensionDirection::{Recvonly, Sendrecv};
    let header_extensions = vec![
        ext(Audio, "urn:ietf:params:rtp-hdrext:sdes:mid", 1, Sendrecv),
        ext(Video, "urn:ietf:params:rtp-hdrext:sdes:mid", 1, Sendrecv),
        ext(
            Video,
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            2,
            Recvonly,
        ),
        ext(
            Video,
            "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            3,
            Recvonly,
        ),
        ext(
            Audio,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            4,
            Sendrecv,
        ),
        ext(
            Video,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            4,
            Sendrecv,
        ),
        ext(
            Audio,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            5,
            Recvonly,
        ),
        ext(
            Video,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            5,
            Sendrecv,
        ),
        ext(
            Video,
            "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
            8,
            Recvonly,
        ),
        ext(
            Audio,
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            10,
            Sendrecv,
        ),
        ext(Video, "urn:3gpp:video-orientation", 11, Sendrecv),
        ext(Video, "urn:ietf:params:rtp-hdrext:toffset", 12, Sendrecv),
        ext(
            Video,
            "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            14,
            Sendrecv,
        ),
    ];
    RtpCapabilities {
        codecs,
        header_extensions,
    }
}
