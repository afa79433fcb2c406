//! `scalabilityMode` strings (W3C webrtc-svc): `L<spatial>T<temporal>` for
//! dependent spatial layers, `S...` for independent (simulcast-like) ones,
//! `_KEY` for K-SVC.

use super::types::ScalabilityMode;

/// Parses the layers of a scalability mode. Like mediasoup, anything it does
/// not recognize (or no mode at all) means a single spatial and temporal
/// layer, and only the prefix matters ("L1T3h" is L1T3).
pub fn parse_scalability_mode(mode: Option<&str>) -> ScalabilityMode {
    const SINGLE_LAYER: ScalabilityMode = ScalabilityMode {
        spatial_layers: 1,
        temporal_layers: 1,
        ksvc: false,
    };
    let Some(rest) = mode.and_then(|m| m.strip_prefix(['L', 'S'])) else {
        return SINGLE_LAYER;
    };
    let Some((spatial_layers, rest)) = layer_count(rest) else {
        return SINGLE_LAYER;
    };
    let Some(rest) = rest.strip_prefix('T') else {
        return SINGLE_LAYER;
    };
    let Some((temporal_layers, rest)) = layer_count(rest) else {
        return SINGLE_LAYER;
    };
    ScalabilityMode {
        spatial_layers,
        temporal_layers,
        ksvc: rest.starts_with("_KEY"),
    }
}

/// One or two digits, the first non-zero.
fn layer_count(text: &str) -> Option<(u8, &str)> {
    let digits = text.bytes().take(2).take_while(u8::is_ascii_digit).count();
    if digits == 0 || text.starts_with('0') {
        return None;
    }
    let (number, rest) = text.split_at(digits);
    Some((number.parse().ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(mode: Option<&str>) -> (u8, u8, bool) {
        let m = parse_scalability_mode(mode);
        (m.spatial_layers, m.temporal_layers, m.ksvc)
    }

    #[test]
    fn parses_known_modes() {
        assert_eq!(layers(Some("L1T3")), (1, 3, false));
        assert_eq!(layers(Some("L3T3_KEY")), (3, 3, true));
        assert_eq!(layers(Some("S3T3")), (3, 3, false));
        assert_eq!(layers(Some("L2T2_KEY_SHIFT")), (2, 2, true));
        assert_eq!(layers(Some("L1T3h")), (1, 3, false));
        assert_eq!(layers(Some("L10T12")), (10, 12, false));
    }

    #[test]
    fn anything_else_is_one_layer() {
        for mode in [
            None,
            Some(""),
            Some("foo"),
            Some("L0T3"),
            Some("T3"),
            Some("L3"),
            Some("L3T0"),
            Some("l1t3"),
            Some("S3T"),
        ] {
            assert_eq!(layers(mode), (1, 1, false), "{mode:?}");
        }
    }

    #[test]
    fn serializes_in_camel_case() {
        let json = serde_json::to_value(parse_scalability_mode(Some("L3T3_KEY"))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"spatialLayers": 3, "temporalLayers": 3, "ksvc": true})
        );
    }
}
