//! The worker thread's queue of events for JS. Everything on the thread
//! (request handlers, the media loop, the log layer) appends here; the loop
//! hands the whole batch to the EventSink once per iteration, so JS is woken
//! once per batch rather than once per event.

use super::channel::WorkerEvent;
use serde_json::Value;
use std::cell::RefCell;

thread_local! {
    static OUTBOX: RefCell<Vec<WorkerEvent>> = const { RefCell::new(Vec::new()) };
}

pub fn emit(target_id: impl Into<String>, event: &'static str, data: Value) {
    OUTBOX.with(|o| {
        o.borrow_mut().push(WorkerEvent {
            target_id: target_id.into(),
            event,
            data,
        })
    });
}

pub fn take() -> Vec<WorkerEvent> {
    OUTBOX.with(|o| std::mem::take(&mut *o.borrow_mut()))
}
