//! A Worker: one OS thread with its own event loop (a current-thread tokio
//! runtime), owning all of its routers, transports and sockets. JS talks to
//! it only through [`WorkerHandle::request`]; it answers through each
//! request's [`Reply`] and reports events through its [`EventSink`].

pub mod certificate;
pub mod channel;
mod log;
mod media;
pub(crate) mod outbox;
mod settings;
mod state;
mod usage;

pub use channel::{Command, EventSink, Reply, Request, WorkerEvent};
pub use settings::WorkerSettings;

use crate::error::{CoreError, CoreResult};
use serde_json::{Value, json};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use tokio::sync::mpsc;

/// The JS-side handle of a worker thread.
pub struct WorkerHandle {
    tx: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
    tid: i32,
}

impl WorkerHandle {
    /// Starts the worker thread and waits until it is ready (certificate
    /// loaded or generated), so that a bad setting fails `createWorker`.
    pub fn spawn(settings: WorkerSettings, sink: Box<dyn EventSink>) -> CoreResult<Self> {
        settings.validate()?;
        let certificate = certificate::load_or_generate(&settings)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel::<i32>(1);
        let thread = std::thread::Builder::new()
            .name("opencall-worker".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                let _ = ready_tx.send(tid);
                run_thread(settings, certificate, rx, sink);
            })
            .map_err(|e| CoreError::other(format!("cannot spawn worker thread: {e}")))?;
        let tid = ready_rx
            .recv()
            .map_err(|_| CoreError::other("worker thread failed to start"))?;
        Ok(Self {
            tx,
            thread: Some(thread),
            tid,
        })
    }

    /// The worker thread's OS thread id (mediasoup's `worker.pid`).
    pub fn tid(&self) -> i32 {
        self.tid
    }

    pub fn request(&self, method: String, handler_id: String, data: Value, reply: Reply) {
        // A send error means the thread is gone: dropping the command drops
        // its Reply, which answers InvalidStateError.
        let _ = self.tx.send(Command::Request(Request {
            method,
            handler_id,
            data,
            reply,
        }));
    }

    /// Stops the loop and joins the thread: everything the worker owned
    /// (sockets, timers, routers) is released when this returns.
    pub fn close(&mut self) {
        let _ = self.tx.send(Command::Close);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.close();
    }
}

fn run_thread(
    settings: WorkerSettings,
    certificate: certificate::Certificate,
    rx: mpsc::UnboundedReceiver<Command>,
    sink: Box<dyn EventSink>,
) {
    let sink: std::rc::Rc<dyn EventSink> = std::rc::Rc::from(sink);
    let log_filter = log::LogFilter::new(&settings);
    let _log_guard = log::install(log_filter.clone());
    // A panic anywhere in the loop ends the worker, never the process: the
    // JS side sees 'died' and every pending request is rejected as its
    // Reply is dropped during unwinding.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> CoreResult<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CoreError::other(format!("cannot build worker runtime: {e}")))?;
        let local = tokio::task::LocalSet::new();
        local.block_on(
            &runtime,
            state::run(settings, certificate, log_filter, rx, sink.clone()),
        );
        Ok(())
    }));
    let died = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.message),
        Err(payload) => Some(panic_message(&payload)),
    };
    let mut batch = outbox::take();
    if let Some(message) = died {
        batch.push(WorkerEvent {
            target_id: String::new(),
            event: "died",
            data: json!({ "message": message }),
        });
    }
    if !batch.is_empty() {
        sink.deliver(batch);
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("worker panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("worker panicked: {s}")
    } else {
        "worker panicked".to_string()
    }
}
