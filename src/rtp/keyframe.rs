//! Keyframe detection on RTP payloads (no depacketization), per codec.

use str0m::format::{
    detect_av1_keyframe, detect_h264_keyframe, detect_h265_keyframe, detect_vp8_keyframe,
};

use super::vp9::vp9_keyframe_start;

/// Video codecs whose keyframes can be recognised from a single RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    H265,
    Av1,
}

impl VideoCodec {
    /// Maps a mediasoup `mimeType` ("video/VP8", case-insensitive) to a codec.
    /// Audio and RTX mime types give `None`: they carry no keyframes.
    pub fn from_mime_type(mime_type: &str) -> Option<Self> {
        let (kind, name) = mime_type.split_once('/')?;
        if !kind.eq_ignore_ascii_case("video") {
            return None;
        }
        match name.to_ascii_lowercase().as_str() {
            "vp8" => Some(Self::Vp8),
            "vp9" => Some(Self::Vp9),
            "h264" => Some(Self::H264),
            "h265" => Some(Self::H265),
            "av1" => Some(Self::Av1),
            _ => None,
        }
    }
}

/// True when `payload` is the start of a keyframe (for H264/H265: a packet
/// carrying an IDR/IRAP NAL unit, alone or aggregated).
pub fn is_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    // The str0m detectors index into the payload; guard against any panic on
    // hostile input since a malformed packet must never take a worker down.
    std::panic::catch_unwind(|| match codec {
        VideoCodec::Vp8 => detect_vp8_keyframe(payload),
        VideoCodec::Vp9 => vp9_keyframe_start(payload),
        VideoCodec::H264 => detect_h264_keyframe(payload),
        VideoCodec::H265 => detect_h265_keyframe(payload),
        VideoCodec::Av1 => detect_av1_keyframe(payload),
    })
    .unwrap_or(false)
}

/// Builds a minimal VP8 payload (descriptor + payload header) for tests and
/// synthetic producers: `keyframe` clears the P bit of the VP8 header.
pub fn vp8_payload(keyframe: bool, picture_id: u16, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + 3 + body.len());
    // X=1, S=1, PID=0; extension with a 15-bit PictureID.
    p.push(0x90);
    p.push(0x80);
    p.push(0x80 | ((picture_id >> 8) as u8 & 0x7f));
    p.push(picture_id as u8);
    // VP8 payload header: bit 0 is the inverse key frame flag (P).
    let p_bit = if keyframe { 0 } else { 1 };
    if keyframe {
        // Frame tag (3 bytes) then the keyframe start code and a 1x1 size.
        p.extend_from_slice(&[0x10 | p_bit, 0x02, 0x00, 0x9d, 0x01, 0x2a, 1, 0, 1, 0]);
    } else {
        p.extend_from_slice(&[0x10 | p_bit, 0x02, 0x00]);
    }
    p.extend_from_slice(body);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_map_to_codecs() {
        assert_eq!(
            VideoCodec::from_mime_type("video/VP8"),
            Some(VideoCodec::Vp8)
        );
        assert_eq!(
            VideoCodec::from_mime_type("video/h264"),
            Some(VideoCodec::H264)
        );
        assert_eq!(VideoCodec::from_mime_type("audio/opus"), None);
        assert_eq!(VideoCodec::from_mime_type("video/rtx"), None);
        assert_eq!(VideoCodec::from_mime_type("garbage"), None);
    }

    #[test]
    fn vp8_keyframes_are_detected() {
        assert!(is_keyframe(VideoCodec::Vp8, &vp8_payload(true, 7, b"x")));
        assert!(!is_keyframe(VideoCodec::Vp8, &vp8_payload(false, 8, b"x")));
        // A continuation packet (S=0) is never a keyframe start.
        let mut cont = vp8_payload(true, 9, b"x");
        cont[0] &= !0x10;
        assert!(!is_keyframe(VideoCodec::Vp8, &cont));
    }

    #[test]
    fn h264_idr_is_detected() {
        // Single NAL unit, type 5 (IDR).
        assert!(is_keyframe(VideoCodec::H264, &[0x65, 0x88, 0x80]));
        // Type 1 (non-IDR slice).
        assert!(!is_keyframe(VideoCodec::H264, &[0x41, 0x9a, 0x00]));
    }

    #[test]
    fn truncated_payloads_do_not_panic() {
        for codec in [
            VideoCodec::Vp8,
            VideoCodec::Vp9,
            VideoCodec::H264,
            VideoCodec::H265,
            VideoCodec::Av1,
        ] {
            for len in 0..4 {
                let _ = is_keyframe(codec, &[0xff; 4][..len]);
            }
        }
    }
}
