//! Named entry points into `ortc` for the JS boundary. The ortc functions
//! stay pure and typed; this is only argument decoding and dispatch.

use crate::error::{CoreError, CoreResult};
use crate::ortc::{self, from_json_value, types::*};
use serde::Deserialize;
use serde_json::{Value, json};

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
            let args: CanConsumeArgs = from_json_value(args)?;
            let mut caps: RtpCapabilities = from_json_value(args.rtp_capabilities)?;
            ortc::validate_rtp_capabilities(&mut caps)?;
            Ok(json!(ortc::can_consume(
                &args.consumable_rtp_parameters,
                &caps
            )?))
        }
        "validateRtpCapabilities" => {
            let mut caps: RtpCapabilities = from_json_value(args)?;
            ortc::validate_rtp_capabilities(&mut caps)?;
            Ok(json!(caps))
        }
        _ => Err(CoreError::type_error(format!(
            "unknown ortc function '{name}'"
        ))),
    }
}
