//! The JS boundary, and nothing else: JSON in, JSON out, Promises and one
//! thread-safe function per Worker. No media logic lives here.
//!
//! Results cross as a JSON envelope `{"ok": value}` / `{"error": {kind,
//! message}}` so that the TypeScript side can throw the exact error class
//! mediasoup would (TypeError, InvalidStateError, UnsupportedError).

use crate::error::{CoreError, CoreResult};
use crate::worker::{EventSink, Reply, WorkerEvent, WorkerHandle, WorkerSettings};
use napi::threadsafe_function::{
    ErrorStrategy, ThreadSafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::{Env, JsFunction, JsObject};
use napi_derive::napi;
use serde_json::{Value, json};

fn envelope(result: CoreResult<Value>) -> String {
    let v = match result {
        Ok(value) => json!({ "ok": value }),
        Err(error) => json!({ "error": error }),
    };
    v.to_string()
}

fn parse_json(text: &str) -> CoreResult<Value> {
    serde_json::from_str(text).map_err(|e| CoreError::type_error(format!("invalid JSON: {e}")))
}

/// A failure that must throw synchronously: the message is the JSON error,
/// which the TS side decodes into the right class.
fn throw(error: CoreError) -> napi::Error {
    napi::Error::from_reason(json!({ "error": error }).to_string())
}

struct JsEventSink {
    tsfn: ThreadsafeFunction<String, ErrorStrategy::Fatal>,
}

impl EventSink for JsEventSink {
    fn deliver(&self, batch: Vec<WorkerEvent>) {
        let text = serde_json::to_string(&batch).unwrap_or_else(|_| "[]".into());
        self.tsfn
            .call(text, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

#[napi]
pub struct NativeWorker {
    handle: Option<WorkerHandle>,
    pid: i32,
}

#[napi]
impl NativeWorker {
    /// `onEvents` receives each batch of worker events as a JSON array.
    /// Its thread-safe function stays referenced while the worker lives, so
    /// an open Worker keeps Node running and a closed one does not.
    #[napi(constructor)]
    pub fn new(
        settings_json: String,
        #[napi(ts_arg_type = "(batch: string) => void")] on_events: JsFunction,
    ) -> napi::Result<Self> {
        let settings = parse_json(&settings_json)
            .and_then(WorkerSettings::from_json)
            .map_err(throw)?;
        let tsfn: ThreadsafeFunction<String, ErrorStrategy::Fatal> = on_events
            .create_threadsafe_function(0, |ctx: ThreadSafeCallContext<String>| {
                Ok(vec![ctx.env.create_string(&ctx.value)?])
            })?;
        let handle =
            WorkerHandle::spawn(settings, Box::new(JsEventSink { tsfn })).map_err(throw)?;
        let pid = handle.tid();
        Ok(Self {
            handle: Some(handle),
            pid,
        })
    }

    #[napi(getter)]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends one request to the worker thread; the Promise resolves with the
    /// JSON envelope of its answer.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn request(
        &self,
        env: Env,
        method: String,
        handler_id: String,
        data_json: String,
    ) -> napi::Result<JsObject> {
        let (deferred, promise) = env.create_deferred()?;
        let reply = Reply::new(move |result| {
            let text = envelope(result);
            deferred.resolve(move |env| env.create_string(&text));
        });
        match (&self.handle, parse_json(&data_json)) {
            (Some(handle), Ok(data)) => handle.request(method, handler_id, data, reply),
            (None, _) => reply.send(Err(CoreError::invalid_state("Worker closed"))),
            (_, Err(e)) => reply.send(Err(e)),
        }
        Ok(promise)
    }

    /// Stops the worker thread and waits for it: its sockets and memory are
    /// released when this returns. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        if let Some(mut handle) = self.handle.take() {
            handle.close();
        }
    }
}

/// Synchronous ORTC computations (pure functions, no worker involved):
/// `name` selects the function, `args_json` its arguments, and the result
/// is a JSON envelope.
#[napi]
pub fn ortc_call(name: String, args_json: String) -> String {
    envelope(parse_json(&args_json).and_then(|args| crate::ortc_calls::call(&name, args)))
}
