//! Messages between the JS thread and a worker thread.
//!
//! Requests travel as (method, handler id, JSON data) like mediasoup's
//! channel, so the napi layer stays a pure conversion layer. Every request
//! carries a [`Reply`] that is answered exactly once: if the worker drops it
//! unanswered (it closed or died), the drop itself answers with
//! `InvalidStateError`, so no Promise in JS is ever left pending.

use crate::error::{CoreError, CoreResult};
use serde_json::Value;

type ReplyFn = Box<dyn FnOnce(CoreResult<Value>) + Send>;

pub struct Reply(Option<ReplyFn>);

impl Reply {
    pub fn new(f: impl FnOnce(CoreResult<Value>) + Send + 'static) -> Self {
        Self(Some(Box::new(f)))
    }

    pub fn send(mut self, result: CoreResult<Value>) {
        if let Some(f) = self.0.take() {
            f(result);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(CoreError::invalid_state("Worker closed")));
        }
    }
}

pub struct Request {
    pub method: String,
    pub handler_id: String,
    pub data: Value,
    pub reply: Reply,
}

pub enum Command {
    Request(Request),
    Close,
}

/// An event for JS: `target_id` is the object (worker, router, transport ...)
/// whose TS class re-emits `event` with `data`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkerEvent {
    #[serde(rename = "targetId")]
    pub target_id: String,
    pub event: &'static str,
    pub data: Value,
}

/// Where a worker delivers its events. Implemented by the napi layer with
/// one thread-safe function per Worker; tests implement it with a channel.
pub trait EventSink: Send + 'static {
    /// One call per loop iteration with everything that happened in it.
    fn deliver(&self, batch: Vec<WorkerEvent>);
}
