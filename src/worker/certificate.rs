//! The worker's DTLS certificate: loaded from PEM files when the settings
//! name them, generated otherwise. One per worker, shared by all of its
//! transports, so they all present the same fingerprint (as mediasoup does).

use super::WorkerSettings;
use crate::error::{CoreError, CoreResult};
use str0m::config::DtlsCert;

pub type Certificate = DtlsCert;

pub fn load_or_generate(settings: &WorkerSettings) -> CoreResult<Certificate> {
    match (
        &settings.dtls_certificate_file,
        &settings.dtls_private_key_file,
    ) {
        (Some(cert), Some(key)) => load(cert, key),
        _ => generate(),
    }
}

pub fn generate() -> CoreResult<Certificate> {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| CoreError::other("cannot generate a DTLS certificate"))
}

fn load(cert_file: &str, key_file: &str) -> CoreResult<Certificate> {
    let certificate = read_pem(cert_file, "CERTIFICATE")?;
    let private_key = read_pem(key_file, "PRIVATE KEY")?;
    Ok(DtlsCert {
        certificate,
        private_key,
    })
}

/// Reads the first PEM block of a file and returns its DER bytes. The label
/// is checked loosely ("EC PRIVATE KEY" and "PRIVATE KEY" both end in the
/// expected words) because both key encodings are common.
fn read_pem(path: &str, label_suffix: &str) -> CoreResult<Vec<u8>> {
    let text = std::fs::read(path)
        .map_err(|e| CoreError::type_error(format!("cannot read {path}: {e}")))?;
    let (label, der) = pem_rfc7468::decode_vec(&text)
        .map_err(|e| CoreError::type_error(format!("{path} is not a PEM file: {e}")))?;
    if !label.ends_with(label_suffix) {
        return Err(CoreError::type_error(format!(
            "{path}: expected a {label_suffix} PEM block, found {label}"
        )));
    }
    Ok(der)
}
