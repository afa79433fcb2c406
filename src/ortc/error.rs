//! Errors of the ORTC functions, named after the JS error classes mediasoup
//! throws so that the JS boundary can map them one to one.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrtcError {
    /// Malformed input: mediasoup throws a `TypeError`.
    TypeError(String),
    /// Well-formed but not supported (codec, RTX, ...): mediasoup's `UnsupportedError`.
    Unsupported(String),
}

impl OrtcError {
    pub(crate) fn type_error(message: impl Into<String>) -> Self {
        OrtcError::TypeError(message.into())
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        OrtcError::Unsupported(message.into())
    }

    pub fn message(&self) -> &str {
        match self {
            OrtcError::TypeError(message) | OrtcError::Unsupported(message) => message,
        }
    }
}

impl fmt::Display for OrtcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrtcError::TypeError(message) => write!(f, "TypeError: {message}"),
            OrtcError::Unsupported(message) => write!(f, "UnsupportedError: {message}"),
        }
    }
}

impl std::error::Error for OrtcError {}
