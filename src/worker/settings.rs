use crate::error::{CoreError, CoreResult};
use serde::Deserialize;

/// `createWorker()` settings, as mediasoup names them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSettings {
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default)]
    pub log_tags: Vec<String>,
    #[serde(default = "default_min_port")]
    pub rtc_min_port: u16,
    #[serde(default = "default_max_port")]
    pub rtc_max_port: u16,
    pub dtls_certificate_file: Option<String>,
    pub dtls_private_key_file: Option<String>,
}

fn default_log_level() -> String {
    "error".into()
}

// mediasoup's defaults.
fn default_min_port() -> u16 {
    10000
}

fn default_max_port() -> u16 {
    59999
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            log_level: default_log_level(),
            log_tags: Vec::new(),
            rtc_min_port: default_min_port(),
            rtc_max_port: default_max_port(),
            dtls_certificate_file: None,
            dtls_private_key_file: None,
        }
    }
}

pub const LOG_LEVELS: [&str; 4] = ["debug", "warn", "error", "none"];

impl WorkerSettings {
    pub fn from_json(value: serde_json::Value) -> CoreResult<Self> {
        serde_json::from_value(value)
            .map_err(|e| CoreError::type_error(format!("invalid worker settings: {e}")))
    }

    pub fn validate(&self) -> CoreResult<()> {
        if !LOG_LEVELS.contains(&self.log_level.as_str()) {
            return Err(CoreError::type_error(format!(
                "invalid logLevel: {}",
                self.log_level
            )));
        }
        if self.rtc_min_port == 0 || self.rtc_min_port > self.rtc_max_port {
            return Err(CoreError::type_error(format!(
                "invalid port range: rtcMinPort {} > rtcMaxPort {}",
                self.rtc_min_port, self.rtc_max_port
            )));
        }
        if self.dtls_certificate_file.is_some() != self.dtls_private_key_file.is_some() {
            return Err(CoreError::type_error(
                "dtlsCertificateFile and dtlsPrivateKeyFile must be given together",
            ));
        }
        Ok(())
    }
}
