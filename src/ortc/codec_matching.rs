//! When two codecs are "the same" for mediasoup: same mimeType (any case),
//! clock rate and channels, plus per-codec rules that only apply in strict
//! mode (negotiation with an endpoint) and not when picking a supported
//! codec for a router.

use super::codec_parameters::{or_zero, strict_equals};
use super::h264;
use super::types::{Parameters, RtpCodecCapability, RtpCodecParameters};

/// What codec capabilities and codec parameters have in common.
pub trait Codec {
    fn mime_type(&self) -> &str;
    fn clock_rate(&self) -> u32;
    fn channels(&self) -> Option<u8>;
    fn parameters(&self) -> &Parameters;
}

impl Codec for RtpCodecCapability {
    fn mime_type(&self) -> &str {
        &self.mime_type
    }
    fn clock_rate(&self) -> u32 {
        self.clock_rate
    }
    fn channels(&self) -> Option<u8> {
        self.channels
    }
    fn parameters(&self) -> &Parameters {
        &self.parameters
    }
}

impl Codec for RtpCodecParameters {
    fn mime_type(&self) -> &str {
        &self.mime_type
    }
    fn clock_rate(&self) -> u32 {
        self.clock_rate
    }
    fn channels(&self) -> Option<u8> {
        self.channels
    }
    fn parameters(&self) -> &Parameters {
        &self.parameters
    }
}

/// `<anything>/rtx`, any case.
pub fn is_rtx_codec(codec: &impl Codec) -> bool {
    let mime_type = codec.mime_type();
    mime_type.len() > "/rtx".len() && mime_type.to_ascii_lowercase().ends_with("/rtx")
}

pub fn is_h264_codec(codec: &impl Codec) -> bool {
    let mime_type = codec.mime_type().to_ascii_lowercase();
    mime_type == "video/h264" || mime_type == "video/h264-svc"
}

/// mediasoup's `matchCodecs()`. In strict mode H264 also needs the same
/// packetization-mode, the same profile and a valid profile-level-id answer,
/// and VP9 the same profile-id.
pub fn match_codecs(a: &impl Codec, b: &impl Codec, strict: bool) -> bool {
    let mime_type = a.mime_type().to_ascii_lowercase();
    if mime_type != b.mime_type().to_ascii_lowercase()
        || a.clock_rate() != b.clock_rate()
        || a.channels() != b.channels()
    {
        return false;
    }
    let (pa, pb) = (a.parameters(), b.parameters());
    match mime_type.as_str() {
        // The same channel count can be laid out in different streams.
        "audio/multiopus" => {
            strict_equals(pa.get("num_streams"), pb.get("num_streams"))
                && strict_equals(pa.get("coupled_streams"), pb.get("coupled_streams"))
        }
        "video/h264" | "video/h264-svc" if strict => {
            let mode_a = or_zero(pa.get("packetization-mode"));
            let mode_b = or_zero(pb.get("packetization-mode"));
            strict_equals(Some(&mode_a), Some(&mode_b))
                && h264::is_same_profile(pa, pb)
                && h264::generate_profile_level_id_for_answer(pa, pb).is_ok()
        }
        "video/vp9" if strict => {
            let profile_a = or_zero(pa.get("profile-id"));
            let profile_b = or_zero(pb.get("profile-id"));
            strict_equals(Some(&profile_a), Some(&profile_b))
        }
        _ => true,
    }
}
