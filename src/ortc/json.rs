//! Turning user JSON (as passed through the JS boundary) into ORTC types.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::OrtcError;

/// Deserializes `value` into `T`, reporting shape errors as `TypeError` the
/// way mediasoup rejects malformed arguments.
///
/// JavaScript has only doubles: a number that crossed the boundary may
/// arrive as `96.0`, which serde refuses for integer fields. Integral floats
/// are therefore turned into integers first.
pub fn from_json_value<T: DeserializeOwned>(value: Value) -> Result<T, OrtcError> {
    serde_json::from_value(integral_floats_as_integers(value))
        .map_err(|error| OrtcError::type_error(format!("invalid argument: {error}")))
}

fn integral_floats_as_integers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f <= u64::MAX as f64 => {
                Value::from(f as u64)
            }
            Some(f) if f.fract() == 0.0 && f < 0.0 && f >= i64::MIN as f64 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(integral_floats_as_integers).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_floats_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ortc::types::{RtpCodecCapability, RtpParameters};
    use serde_json::json;

    #[test]
    fn accepts_integral_floats() {
        let codec: RtpCodecCapability = from_json_value(json!({
            "kind": "audio", "mimeType": "audio/opus", "clockRate": 48000.0,
            "channels": 2.0, "preferredPayloadType": 100.0, "parameters": {"apt": 96.0}
        }))
        .unwrap();
        assert_eq!(codec.clock_rate, 48000);
        assert_eq!(codec.channels, Some(2));
        assert_eq!(codec.parameters["apt"], json!(96));
    }

    #[test]
    fn shape_errors_are_type_errors() {
        let error = from_json_value::<Vec<RtpCodecCapability>>(json!({"mimeType": "audio/opus"}))
            .unwrap_err();
        assert!(matches!(error, OrtcError::TypeError(_)), "{error}");
        let error = from_json_value::<RtpParameters>(json!({"mid": "0"})).unwrap_err();
        assert!(error.message().contains("codecs"), "{error}");
        let error = from_json_value::<RtpCodecCapability>(
            json!({"mimeType": "audio/opus", "clockRate": 1.5}),
        )
        .unwrap_err();
        assert!(matches!(error, OrtcError::TypeError(_)));
    }
}
