//! Everything a worker owns, the dispatch of JS requests, and the loop.

use super::certificate::Certificate;
use super::log::LogFilter;
use super::media::{Media, PortRange};
use super::{Command, EventSink, WorkerSettings, outbox, usage};
use crate::error::{CoreError, CoreResult};
use crate::ortc::from_json_value;
use crate::ortc::types::RtpCodecCapability;
use serde::Deserialize;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

pub struct WorkerState {
    pub settings: WorkerSettings,
    log_filter: LogFilter,
    media: Media,
    sink: Rc<dyn EventSink>,
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
    pub fn media_mut(&mut self) -> &mut Media {
        &mut self.media
    }

    /// Hands everything queued for JS to the sink in one batch.
    pub fn flush_events(&self) {
        let batch = outbox::take();
        if !batch.is_empty() {
            self.sink.deliver(batch);
        }
    }

    pub fn handle(&mut self, method: &str, handler_id: &str, data: Value) -> CoreResult<Value> {
        let media = &mut self.media;
        match method {
            "worker.dump" => Ok(self.dump()),
            "worker.getResourceUsage" => Ok(usage::current_thread()),
            "worker.updateSettings" => self.update_settings(from_json_value(data)?),
            "worker.createRouter" => {
                let data: CreateRouterData = from_json_value(data)?;
                let media_codecs: Vec<RtpCodecCapability> = match data.media_codecs {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => from_json_value(Value::Array(items))?,
                    Some(_) => return Err(CoreError::type_error("mediaCodecs must be an Array")),
                };
                media.create_router(data.router_id, &media_codecs)
            }
            "worker.closeRouter" => {
                media.close_router(handler_id);
                Ok(Value::Null)
            }
            "router.dump" => media.dump_router(handler_id),
            "router.createWebRtcTransport" => media.create_webrtc_transport(handler_id, data),
            "router.createDirectTransport" => media.create_direct_transport(handler_id, data),
            "router.createPlainTransport" => media.create_plain_transport(handler_id, data),
            "router.createAudioLevelObserver" => {
                media.create_rtp_observer(handler_id, "audiolevel", data)
            }
            "router.createActiveSpeakerObserver" => {
                media.create_rtp_observer(handler_id, "activespeaker", data)
            }
            "rtpObserver.close" => {
                media.close_rtp_observer(handler_id);
                Ok(Value::Null)
            }
            "rtpObserver.pause" => media.pause_rtp_observer(handler_id, true),
            "rtpObserver.resume" => media.pause_rtp_observer(handler_id, false),
            "rtpObserver.addProducer" => media.rtp_observer_producer(handler_id, data, true),
            "rtpObserver.removeProducer" => media.rtp_observer_producer(handler_id, data, false),
            "worker.createWebRtcServer" => media.create_webrtc_server(data),
            "webRtcServer.close" => {
                media.close_webrtc_server(handler_id);
                Ok(Value::Null)
            }
            "webRtcServer.dump" => media.dump_webrtc_server(handler_id),
            "transport.close" => {
                media.close_transport(handler_id);
                Ok(Value::Null)
            }
            "transport.connect" => media.connect_transport(handler_id, data),
            "transport.restartIce" => media.restart_ice(handler_id),
            "transport.getStats" => media.transport_stats(handler_id),
            "transport.dump" => media.dump_transport(handler_id),
            "transport.setMaxIncomingBitrate" => media.set_max_incoming_bitrate(handler_id, data),
            "transport.setMaxOutgoingBitrate" => media.set_outgoing_bitrate(handler_id, data, true),
            "transport.setMinOutgoingBitrate" => {
                media.set_outgoing_bitrate(handler_id, data, false)
            }
            "transport.enableTraceEvent" => media.enable_trace_event("transport", handler_id, data),
            "producer.enableTraceEvent" => media.enable_trace_event("producer", handler_id, data),
            "consumer.enableTraceEvent" => media.enable_trace_event("consumer", handler_id, data),
            "transport.produce" => media.produce(handler_id, data),
            "transport.consume" => media.consume(handler_id, data),
            "transport.produceData" => media.produce_data(handler_id, data),
            "transport.consumeData" => media.consume_data(handler_id, data),
            "dataProducer.close" => {
                media.close_data_producer(handler_id);
                Ok(Value::Null)
            }
            "dataProducer.pause" => media.pause_data_producer(handler_id, true),
            "dataProducer.resume" => media.pause_data_producer(handler_id, false),
            "dataProducer.getStats" => media.data_producer_stats(handler_id),
            "dataProducer.dump" => media.dump_data_producer(handler_id),
            "dataProducer.send" => media.data_producer_send(handler_id, data),
            "dataConsumer.close" => {
                media.close_data_consumer(handler_id);
                Ok(Value::Null)
            }
            "dataConsumer.pause" => media.pause_data_consumer(handler_id, true),
            "dataConsumer.resume" => media.pause_data_consumer(handler_id, false),
            "dataConsumer.getStats" => media.data_consumer_stats(handler_id),
            "dataConsumer.dump" => media.dump_data_consumer(handler_id),
            "dataConsumer.getBufferedAmount" => media.data_consumer_buffered_amount(handler_id),
            "dataConsumer.setBufferedAmountLowThreshold" => {
                media.set_data_consumer_buffered_amount_low_threshold(handler_id, data)
            }
            "dataConsumer.setSubchannels" => media.set_data_consumer_subchannels(handler_id, data),
            "dataConsumer.send" => media.data_consumer_send(handler_id, data),
            "producer.close" => {
                media.close_producer(handler_id);
                Ok(Value::Null)
            }
            "producer.pause" => media.pause_producer(handler_id, true),
            "producer.resume" => media.pause_producer(handler_id, false),
            "producer.getStats" => media.producer_stats(handler_id),
            "producer.dump" => media.dump_producer(handler_id),
            "producer.send" => media.producer_send(handler_id, data),
            "transport.sendRtcp" => media.direct_transport_send_rtcp(handler_id, data),
            "consumer.close" => {
                media.close_consumer(handler_id);
                Ok(Value::Null)
            }
            "consumer.pause" => media.pause_consumer(handler_id, true),
            "consumer.resume" => media.pause_consumer(handler_id, false),
            "consumer.requestKeyFrame" => media.request_consumer_keyframe(handler_id),
            "consumer.setPreferredLayers" => media.set_consumer_preferred_layers(handler_id, data),
            "consumer.setPriority" => media.set_consumer_priority(handler_id, data),
            "consumer.getStats" => media.consumer_stats(handler_id),
            "consumer.dump" => media.dump_consumer(handler_id),
            "worker.debugPanic" if std::env::var("OPENCALL_TEST_HOOKS").as_deref() == Ok("1") => {
                panic!("panic requested by a test")
            }
            _ => Err(CoreError::type_error(format!("unknown method '{method}'"))),
        }
    }

    fn dump(&self) -> Value {
        let router_ids: Vec<String> = self.media.routers.keys().map(|k| k.to_string()).collect();
        let server_ids: Vec<String> = self.media.servers.keys().map(|k| k.to_string()).collect();
        json!({
            // SAFETY: gettid has no preconditions.
            "pid": unsafe { libc::gettid() },
            "webRtcServerIds": server_ids,
            "routerIds": router_ids,
            "channelMessageHandlers": {
                "channelRequestHandlers": router_ids,
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
        self.log_filter
            .update(data.log_level.as_deref(), data.log_tags);
        Ok(Value::Null)
    }
}

/// Sleeps until the earliest transport or router deadline, runs what is
/// due, and starts over; woken early when a sooner deadline appears.
async fn timer_loop(state: Weak<RefCell<WorkerState>>, notify: Rc<Notify>) {
    loop {
        let Some(shared) = state.upgrade() else {
            return;
        };
        let next = shared.borrow().media.next_deadline();
        drop(shared);
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                    _ = notify.notified() => continue,
                }
            }
            None => notify.notified().await,
        }
        let Some(shared) = state.upgrade() else {
            return;
        };
        let mut st = shared.borrow_mut();
        st.media.handle_timeouts(Instant::now());
        st.flush_events();
    }
}

/// Serves requests until `Close` (or until the JS side drops its handle).
/// The state is shared through `Rc<RefCell<..>>` with the socket and timer
/// tasks that run on this same thread, so no lock is ever taken.
pub async fn run(
    settings: WorkerSettings,
    certificate: Certificate,
    log_filter: LogFilter,
    mut rx: mpsc::UnboundedReceiver<Command>,
    sink: Rc<dyn EventSink>,
) {
    let timer = Rc::new(Notify::new());
    let port_range = PortRange {
        min: settings.rtc_min_port,
        max: settings.rtc_max_port,
    };
    let state = Rc::new_cyclic(|weak: &Weak<RefCell<WorkerState>>| {
        RefCell::new(WorkerState {
            settings,
            log_filter,
            media: Media::new(weak.clone(), timer.clone(), port_range, certificate),
            sink,
        })
    });
    let timer_task = tokio::task::spawn_local(timer_loop(Rc::downgrade(&state), timer));
    while let Some(command) = rx.recv().await {
        match command {
            Command::Close => break,
            Command::Request(request) => {
                let result = {
                    let mut st = state.borrow_mut();
                    let result = st.handle(&request.method, &request.handler_id, request.data);
                    st.flush_events();
                    result
                };
                request.reply.send(result);
            }
        }
    }
    timer_task.abort();
    state.borrow().flush_events();
}
