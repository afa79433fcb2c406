//! H264 `profile-level-id` rules (RFC 6184 section 8.1), as mediasoup applies
//! them through the `h264-profile-level-id` package: two H264 codecs only
//! match when they share a profile, and the level of the answer depends on
//! `level-asymmetry-allowed`.

use serde_json::Value;

use super::codec_parameters::is_truthy;
use super::error::OrtcError;
use super::types::Parameters;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    ConstrainedBaseline,
    Baseline,
    Main,
    ConstrainedHigh,
    High,
    PredictiveHigh444,
}

/// An H264 level; the value is `level_idc`, except for level 1b which has no
/// `level_idc` of its own (it is 11 plus the constraint_set3 flag), hence 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    pub const L1B: Level = Level(0);
    pub const L1: Level = Level(10);
    pub const L1_1: Level = Level(11);
    pub const L1_2: Level = Level(12);
    pub const L1_3: Level = Level(13);
    pub const L2: Level = Level(20);
    pub const L2_1: Level = Level(21);
    pub const L2_2: Level = Level(22);
    pub const L3: Level = Level(30);
    pub const L3_1: Level = Level(31);
    pub const L3_2: Level = Level(32);
    pub const L4: Level = Level(40);
    pub const L4_1: Level = Level(41);
    pub const L4_2: Level = Level(42);
    pub const L5: Level = Level(50);
    pub const L5_1: Level = Level(51);
    pub const L5_2: Level = Level(52);

    fn from_level_idc(level_idc: u8) -> Option<Level> {
        matches!(
            level_idc,
            10 | 11 | 12 | 13 | 20 | 21 | 22 | 30 | 31 | 32 | 40 | 41 | 42 | 50 | 51 | 52
        )
        .then_some(Level(level_idc))
    }

    /// Level 1b sits between 1 and 1.1, so the numeric order is not enough.
    /// (The JS package mediasoup uses answers "1.1 < 1b"; this follows
    /// libwebrtc and the spec instead, which only differs for level 1b.)
    fn is_less_than(self, other: Level) -> bool {
        if self == Level::L1B {
            return other != Level::L1 && other != Level::L1B;
        }
        if other == Level::L1B {
            return self == Level::L1;
        }
        self.0 < other.0
    }

    fn min(self, other: Level) -> Level {
        if self.is_less_than(other) {
            self
        } else {
            other
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileLevelId {
    pub profile: Profile,
    pub level: Level,
}

/// What a codec without `profile-level-id` means. The RFC says Baseline 1,
/// but libwebrtc (and so mediasoup) assume Constrained Baseline 3.1 for
/// compatibility with old endpoints.
pub const DEFAULT_PROFILE_LEVEL_ID: ProfileLevelId = ProfileLevelId {
    profile: Profile::ConstrainedBaseline,
    level: Level::L3_1,
};

/// A `profile_iop` pattern such as "x1xx0000", where 'x' matches any bit.
struct BitPattern {
    mask: u8,
    value: u8,
}

impl BitPattern {
    const fn new(pattern: &[u8; 8]) -> Self {
        let mut mask = 0u8;
        let mut value = 0u8;
        let mut i = 0;
        while i < 8 {
            let bit = 1 << (7 - i);
            if pattern[i] != b'x' {
                mask |= bit;
            }
            if pattern[i] == b'1' {
                value |= bit;
            }
            i += 1;
        }
        Self { mask, value }
    }

    fn matches(&self, byte: u8) -> bool {
        byte & self.mask == self.value
    }
}

/// RFC 6184 table 5: (profile_idc, profile_iop pattern) to profile.
const PROFILE_PATTERNS: [(u8, BitPattern, Profile); 9] = [
    (
        0x42,
        BitPattern::new(b"x1xx0000"),
        Profile::ConstrainedBaseline,
    ),
    (
        0x4d,
        BitPattern::new(b"1xxx0000"),
        Profile::ConstrainedBaseline,
    ),
    (
        0x58,
        BitPattern::new(b"11xx0000"),
        Profile::ConstrainedBaseline,
    ),
    (0x42, BitPattern::new(b"x0xx0000"), Profile::Baseline),
    (0x58, BitPattern::new(b"10xx0000"), Profile::Baseline),
    (0x4d, BitPattern::new(b"0x0x0000"), Profile::Main),
    (0x64, BitPattern::new(b"00000000"), Profile::High),
    (0x64, BitPattern::new(b"00001100"), Profile::ConstrainedHigh),
    (
        0xf4,
        BitPattern::new(b"00000000"),
        Profile::PredictiveHigh444,
    ),
];

/// Parses a `profile-level-id` of 3 hex bytes; `None` when not recognized.
pub fn parse_profile_level_id(text: &str) -> Option<ProfileLevelId> {
    // For level_idc 11 with profiles 0x42, 0x4D or 0x58, constraint_set3
    // tells level 1b from level 1.1.
    const CONSTRAINT_SET3_FLAG: u8 = 0x10;

    if text.len() != 6 {
        return None;
    }
    let numeric = u32::from_str_radix(text, 16).ok()?;
    if numeric == 0 {
        return None;
    }
    let [_, profile_idc, profile_iop, level_idc] = numeric.to_be_bytes();

    let level = if level_idc == Level::L1_1.0 && profile_iop & CONSTRAINT_SET3_FLAG != 0 {
        Level::L1B
    } else {
        Level::from_level_idc(level_idc)?
    };

    PROFILE_PATTERNS
        .iter()
        .find(|(idc, iop, _)| *idc == profile_idc && iop.matches(profile_iop))
        .map(|&(_, _, profile)| ProfileLevelId { profile, level })
}

/// Canonical 3-hex-byte form; `None` for level 1b on a profile that has none.
pub fn profile_level_id_to_string(id: ProfileLevelId) -> Option<String> {
    if id.level == Level::L1B {
        return match id.profile {
            Profile::ConstrainedBaseline => Some("42f00b".into()),
            Profile::Baseline => Some("42100b".into()),
            Profile::Main => Some("4d100b".into()),
            _ => None,
        };
    }
    let profile_idc_iop = match id.profile {
        Profile::ConstrainedBaseline => "42e0",
        Profile::Baseline => "4200",
        Profile::Main => "4d00",
        Profile::ConstrainedHigh => "640c",
        Profile::High => "6400",
        Profile::PredictiveHigh444 => "f400",
    };
    Some(format!("{profile_idc_iop}{:02x}", id.level.0))
}

/// The profile-level-id of codec parameters: the default when absent, `None`
/// when present but invalid (a non-string value counts as invalid).
pub fn parse_sdp_profile_level_id(params: &Parameters) -> Option<ProfileLevelId> {
    match params.get("profile-level-id") {
        value if !is_truthy(value) => Some(DEFAULT_PROFILE_LEVEL_ID),
        Some(Value::String(text)) => parse_profile_level_id(text),
        _ => None,
    }
}

/// Same H264 profile (levels may differ).
pub fn is_same_profile(params1: &Parameters, params2: &Parameters) -> bool {
    match (
        parse_sdp_profile_level_id(params1),
        parse_sdp_profile_level_id(params2),
    ) {
        (Some(a), Some(b)) => a.profile == b.profile,
        _ => false,
    }
}

fn is_level_asymmetry_allowed(params: &Parameters) -> bool {
    match params.get("level-asymmetry-allowed") {
        Some(Value::Bool(allowed)) => *allowed,
        Some(Value::Number(n)) => n.as_f64() == Some(1.0),
        Some(Value::String(s)) => s == "1",
        _ => false,
    }
}

/// The profile-level-id to answer with, given local and remote parameters of
/// the same profile. `Ok(None)` when neither side has one (both use the
/// default, nothing to say). Errors when either is invalid or the profiles
/// differ; mediasoup treats such codecs as not matching.
///
/// Without level asymmetry on both sides the answer may not exceed the
/// offered level, so the lower level wins; with it, the local level stands.
pub fn generate_profile_level_id_for_answer(
    local: &Parameters,
    remote: &Parameters,
) -> Result<Option<String>, OrtcError> {
    if !is_truthy(local.get("profile-level-id")) && !is_truthy(remote.get("profile-level-id")) {
        return Ok(None);
    }
    let local_id = parse_sdp_profile_level_id(local)
        .ok_or_else(|| OrtcError::type_error("invalid local_profile_level_id"))?;
    let remote_id = parse_sdp_profile_level_id(remote)
        .ok_or_else(|| OrtcError::type_error("invalid remote_profile_level_id"))?;
    if local_id.profile != remote_id.profile {
        return Err(OrtcError::type_error("H264 Profile mismatch"));
    }
    let level = if is_level_asymmetry_allowed(local) && is_level_asymmetry_allowed(remote) {
        local_id.level
    } else {
        local_id.level.min(remote_id.level)
    };
    Ok(profile_level_id_to_string(ProfileLevelId {
        profile: local_id.profile,
        level,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Parameters {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_profiles_and_levels() {
        let parse = |s| parse_profile_level_id(s).map(|id| (id.profile, id.level));
        assert_eq!(
            parse("42e01f"),
            Some((Profile::ConstrainedBaseline, Level::L3_1))
        );
        assert_eq!(parse("42001f"), Some((Profile::Baseline, Level::L3_1)));
        assert_eq!(parse("4d0032"), Some((Profile::Main, Level::L5)));
        assert_eq!(parse("4d001f"), Some((Profile::Main, Level::L3_1)));
        assert_eq!(
            parse("4de01f"),
            Some((Profile::ConstrainedBaseline, Level::L3_1))
        );
        assert_eq!(
            parse("640c2a"),
            Some((Profile::ConstrainedHigh, Level::L4_2))
        );
        assert_eq!(parse("640032"), Some((Profile::High, Level::L5)));
        assert_eq!(
            parse("f4001f"),
            Some((Profile::PredictiveHigh444, Level::L3_1))
        );
        assert_eq!(
            parse("58f01f"),
            Some((Profile::ConstrainedBaseline, Level::L3_1))
        );
        assert_eq!(parse("58a01f"), Some((Profile::Baseline, Level::L3_1)));
        // Level 1b: level_idc 11 with constraint_set3, and the special string.
        assert_eq!(
            parse("42f00b"),
            Some((Profile::ConstrainedBaseline, Level::L1B))
        );
        assert_eq!(parse("42100b"), Some((Profile::Baseline, Level::L1B)));
        assert_eq!(parse("42000b"), Some((Profile::Baseline, Level::L1_1)));
    }

    #[test]
    fn rejects_invalid_profile_level_ids() {
        for bad in [
            "", "42e01", "42e01f0", "000000", "42e0zz", "42e021", "640c1f0", "6f001f",
        ] {
            assert_eq!(parse_profile_level_id(bad), None, "{bad}");
        }
        // Unknown profile_iop for High.
        assert_eq!(parse_profile_level_id("64101f"), None);
    }

    #[test]
    fn prints_canonical_strings() {
        for text in [
            "42e01f", "42001f", "4d0032", "640c2a", "640032", "f4001f", "42f00b", "42100b",
            "4d100b", "42e00a",
        ] {
            let id = parse_profile_level_id(text).unwrap();
            assert_eq!(profile_level_id_to_string(id).as_deref(), Some(text));
        }
        let high_1b = ProfileLevelId {
            profile: Profile::High,
            level: Level::L1B,
        };
        assert_eq!(profile_level_id_to_string(high_1b), None);
    }

    #[test]
    fn missing_profile_level_id_means_constrained_baseline() {
        assert_eq!(
            parse_sdp_profile_level_id(&Parameters::new()),
            Some(DEFAULT_PROFILE_LEVEL_ID)
        );
        assert!(is_same_profile(
            &Parameters::new(),
            &params(json!({"profile-level-id": "42e01f"}))
        ));
        assert!(!is_same_profile(
            &Parameters::new(),
            &params(json!({"profile-level-id": "4d001f"}))
        ));
        // Present but not a string: invalid, never the same profile.
        assert_eq!(
            parse_sdp_profile_level_id(&params(json!({"profile-level-id": 42}))),
            None
        );
    }

    #[test]
    fn same_profile_ignores_level() {
        let a = params(json!({"profile-level-id": "42e01f"}));
        let b = params(json!({"profile-level-id": "42e00a"}));
        let c = params(json!({"profile-level-id": "640032"}));
        assert!(is_same_profile(&a, &b));
        assert!(!is_same_profile(&a, &c));
        assert!(!is_same_profile(
            &a,
            &params(json!({"profile-level-id": "bogus!"}))
        ));
    }

    #[test]
    fn answer_level_follows_level_asymmetry() {
        let answer = |local: Value, remote: Value| {
            generate_profile_level_id_for_answer(&params(local), &params(remote))
        };
        // Both allow asymmetry: keep the local level.
        assert_eq!(
            answer(
                json!({"profile-level-id": "42e01f", "level-asymmetry-allowed": 1}),
                json!({"profile-level-id": "42e00a", "level-asymmetry-allowed": "1"})
            ),
            Ok(Some("42e01f".into()))
        );
        // Only one side allows it: the lower level wins.
        assert_eq!(
            answer(
                json!({"profile-level-id": "42e01f", "level-asymmetry-allowed": 1}),
                json!({"profile-level-id": "42e00a"})
            ),
            Ok(Some("42e00a".into()))
        );
        // Level 1b is below 1.1 but above 1.
        assert_eq!(
            answer(
                json!({"profile-level-id": "42e00b"}),
                json!({"profile-level-id": "42f00b"})
            ),
            Ok(Some("42f00b".into()))
        );
        assert_eq!(
            answer(
                json!({"profile-level-id": "42e00a"}),
                json!({"profile-level-id": "42f00b"})
            ),
            Ok(Some("42e00a".into()))
        );
        // Neither has one: nothing to answer.
        assert_eq!(
            answer(json!({}), json!({"packetization-mode": 1})),
            Ok(None)
        );
        // One side has the default profile implicitly.
        assert_eq!(
            answer(json!({}), json!({"profile-level-id": "42e00a"})),
            Ok(Some("42e00a".into()))
        );
        // Profile mismatch and invalid values are errors.
        assert!(
            answer(
                json!({"profile-level-id": "42e01f"}),
                json!({"profile-level-id": "640032"})
            )
            .is_err()
        );
        assert!(
            answer(
                json!({"profile-level-id": "zzzzzz"}),
                json!({"profile-level-id": "42e01f"})
            )
            .is_err()
        );
    }
}
