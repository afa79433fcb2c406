//! The one error type the core reports to the JS boundary. Its `kind` maps
//! one-to-one onto the error classes mediasoup throws, so a bad argument
//! surfaces in JS as `TypeError`, a closed object as `InvalidStateError`, an
//! unsupported codec as `UnsupportedError`.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorKind {
    TypeError,
    InvalidStateError,
    UnsupportedError,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CoreError {
    pub fn type_error(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::TypeError,
            message: message.into(),
        }
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidStateError,
            message: message.into(),
        }
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::UnsupportedError,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Error,
            message: message.into(),
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for CoreError {}

impl From<crate::ortc::error::OrtcError> for CoreError {
    fn from(e: crate::ortc::error::OrtcError) -> Self {
        use crate::ortc::error::OrtcError;
        match e {
            OrtcError::TypeError(m) => CoreError::type_error(m),
            OrtcError::Unsupported(m) => CoreError::unsupported(m),
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
