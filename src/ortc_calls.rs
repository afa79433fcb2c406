//! Named entry points into `ortc` for the JS boundary. The ortc functions
//! stay pure and typed; this is only argument decoding and dispatch.

use crate::error::{CoreError, CoreResult};
use crate::ortc::{self, types::*};
use serde::Deserialize;
use serde_json::{Value, json};

fn parse<T: for<'de> Deserialize<'de>>(value: Value) -> CoreResult<T> {
    serde_json::from_value(value).map_err(|e| CoreError::type_error(e.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CanConsumeArgs {
    consumable_rtp_parameters: RtpParameters,
    rtp_capabilities: Value,
}

pub fn call(name: &str, args: Value) -> CoreResult<Value> {
    match name {
        "getSupportedRtpCapabilities" => Ok(json!(ortc::supported_rtp_capabilities())),
        "canConsume" => {
            let args: CanConsumeArgs = parse(args)?;
            let mut caps: RtpCapabilities = parse(args.rtp_capabilities)?;
            ortc::validate_rtp_capabilities(&mut caps)?;
            Ok(json!(ortc::can_consume(
                &args.consumable_rtp_parameters,
                &caps
            )?))
        }
        "validateRtpCapabilities" => {
            let mut caps: RtpCapabilities = parse(args)?;
            ortc::validate_rtp_capabilities(&mut caps)?;
            Ok(json!(caps))
        }
        _ => Err(CoreError::type_error(format!(
            "unknown ortc function '{name}'"
        ))),
    }
}
