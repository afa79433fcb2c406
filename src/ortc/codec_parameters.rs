//! Reading codec `parameters` values with the JavaScript semantics mediasoup
//! relies on: a value is "set" when truthy, and equality is `===` (so the
//! number 1 and the string "1" differ).

use serde_json::Value;

/// JavaScript truthiness of an optional JSON value (`undefined` is `None`).
pub fn is_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_)) | Some(Value::Object(_)) => true,
    }
}

/// JavaScript `===` between two optional JSON scalars. Numbers compare by
/// value, because serde_json tells 101 from 101.0 and JavaScript does not.
pub fn strict_equals(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::String(x)), Some(Value::String(y))) => x == y,
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
        (Some(Value::Null), Some(Value::Null)) => true,
        // Objects and arrays are compared by reference in JavaScript; codec
        // parameters never hold them after validation.
        _ => false,
    }
}

/// `value || 0`, the way mediasoup reads parameters whose default is 0
/// (`packetization-mode`, VP9 `profile-id`).
pub fn or_zero(value: Option<&Value>) -> Value {
    match value {
        Some(v) if is_truthy(Some(v)) => v.clone(),
        _ => Value::from(0),
    }
}

/// Whether `value` is the number `n` (e.g. an RTX `apt` pointing at a
/// payload type).
pub fn is_number(value: Option<&Value>, n: u8) -> bool {
    strict_equals(value, Some(&Value::from(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_follows_javascript() {
        for falsy in [json!(null), json!(false), json!(0), json!(0.0), json!("")] {
            assert!(!is_truthy(Some(&falsy)), "{falsy}");
        }
        assert!(!is_truthy(None));
        for truthy in [json!(true), json!(1), json!("0"), json!([]), json!({})] {
            assert!(is_truthy(Some(&truthy)), "{truthy}");
        }
    }

    #[test]
    fn strict_equality_follows_javascript() {
        assert!(strict_equals(Some(&json!(101)), Some(&json!(101.0))));
        assert!(!strict_equals(Some(&json!(1)), Some(&json!("1"))));
        assert!(strict_equals(None, None));
        assert!(!strict_equals(None, Some(&json!(0))));
        assert_eq!(or_zero(None), json!(0));
        assert_eq!(or_zero(Some(&json!(1))), json!(1));
        assert!(is_number(Some(&json!(96.0)), 96));
    }
}
