//! Everything a worker owns, and the loop that serves JS requests.

use super::certificate::Certificate;
use super::log::LogFilter;
use super::{Command, EventSink, WorkerSettings, outbox, usage};
use crate::error::{CoreError, CoreResult};
use crate::ortc::types::{RtpCapabilities, RtpCodecCapability};
use serde::Deserialize;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use tokio::sync::mpsc;

pub struct RouterEntry {
    pub rtp_capabilities: RtpCapabilities,
}

pub struct WorkerState {
    pub settings: WorkerSettings,
    pub certificate: Certificate,
    log_filter: LogFilter,
    pub routers: BTreeMap<String, RouterEntry>,
}

/// Parses request data into `T`; malformed data is the caller's fault, so it
/// is a TypeError, never a panic.
pub fn parse<T: for<'de> Deserialize<'de>>(data: Value) -> CoreResult<T> {
    serde_json::from_value(data).map_err(|e| CoreError::type_error(e.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRouterData {
    router_id: String,
    #[serde(default)]
    media_codecs: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateSettingsData {
    log_level: Option<String>,
    log_tags: Option<Vec<String>>,
}

impl WorkerState {
    pub fn new(settings: WorkerSettings, certificate: Certificate, log_filter: LogFilter) -> Self {
        Self { settings, certificate, log_filter, routers: BTreeMap::new() }
    }

    pub fn handle(&mut self, method: &str, handler_id: &str, data: Value) -> CoreResult<Value> {
        match method {
            "worker.dump" => Ok(self.dump()),
            "worker.getResourceUsage" => Ok(usage::current_thread()),
            "worker.updateSettings" => self.update_settings(parse(data)?),
            "worker.createRouter" => self.create_router(parse(data)?),
            "worker.closeRouter" | "router.close" => {
                self.routers.remove(handler_id);
                Ok(Value::Null)
            }
            "router.dump" => self.dump_router(handler_id),
            "worker.debugPanic" if std::env::var("OPENCALL_TEST_HOOKS").as_deref() == Ok("1") => {
                panic!("panic requested by a test")
            }
            _ => Err(CoreError::type_error(format!("unknown method '{method}'"))),
        }
    }

    fn dump(&self) -> Value {
        json!({
            // SAFETY: gettid has no preconditions.
            "pid": unsafe { libc::gettid() },
            "webRtcServerIds": [],
            "routerIds": self.routers.keys().collect::<Vec<_>>(),
            "channelMessageHandlers": {
                "channelRequestHandlers": self.routers.keys().collect::<Vec<_>>(),
                "channelNotificationHandlers": [],
            },
        })
    }

    fn update_settings(&mut self, data: UpdateSettingsData) -> CoreResult<Value> {
        if let Some(level) = &data.log_level {
            if !super::settings::LOG_LEVELS.contains(&level.as_str()) {
                return Err(CoreError::type_error(format!("invalid logLevel: {level}")));
            }
            self.settings.log_level = level.clone();
        }
        if let Some(tags) = &data.log_tags {
            self.settings.log_tags = tags.clone();
        }
        self.log_filter.update(data.log_level.as_deref(), data.log_tags);
        Ok(Value::Null)
    }

    fn create_router(&mut self, data: CreateRouterData) -> CoreResult<Value> {
        if self.routers.contains_key(&data.router_id) {
            return Err(CoreError::invalid_state(format!("a router with id {} already exists", data.router_id)));
        }
        let media_codecs: Vec<RtpCodecCapability> = match data.media_codecs {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => parse(Value::Array(items))?,
            Some(_) => return Err(CoreError::type_error("mediaCodecs must be an Array")),
        };
        let rtp_capabilities = crate::ortc::generate_router_rtp_capabilities(&media_codecs)?;
        let answer = json!({ "rtpCapabilities": rtp_capabilities });
        tracing::debug!(router_id = %data.router_id, "router created");
        self.routers.insert(data.router_id, RouterEntry { rtp_capabilities });
        Ok(answer)
    }

    fn dump_router(&self, router_id: &str) -> CoreResult<Value> {
        if !self.routers.contains_key(router_id) {
            return Err(CoreError::invalid_state(format!("router {router_id} not found")));
        }
        Ok(json!({
            "id": router_id,
            "transportIds": [],
            "rtpObserverIds": [],
            "mapProducerIdConsumerIds": {},
            "mapConsumerIdProducerId": {},
            "mapProducerIdObserverIds": {},
            "mapDataProducerIdDataConsumerIds": {},
            "mapDataConsumerIdDataProducerId": {},
        }))
    }
}

fn flush(sink: &dyn EventSink) {
    let batch = outbox::take();
    if !batch.is_empty() {
        sink.deliver(batch);
    }
}

/// Serves requests until `Close` (or until the JS side drops its handle).
/// The state is shared through `Rc<RefCell<..>>` with the media tasks that
/// run on this same thread, so no lock is ever taken.
pub async fn run(state: WorkerState, mut rx: mpsc::UnboundedReceiver<Command>, sink: &dyn EventSink) {
    let state = Rc::new(RefCell::new(state));
    while let Some(command) = rx.recv().await {
        match command {
            Command::Close => break,
            Command::Request(request) => {
                let result = state.borrow_mut().handle(&request.method, &request.handler_id, request.data);
                flush(sink);
                request.reply.send(result);
            }
        }
    }
    flush(sink);
}
