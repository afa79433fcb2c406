//! Requests for RTP observers (mediasoup's AudioLevelObserver and
//! ActiveSpeakerObserver) and the events they report. The observers
//! themselves live in their router (`crate::router::ObserverKind`), which
//! feeds them the producers' audio levels on the packet path.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Id, Media};
use crate::error::{CoreError, CoreResult};
use crate::ortc::from_json_value;
use crate::router::{ObserverKind, ObserverReport, RouteOutput};
use crate::worker::outbox;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateObserverData {
    rtp_observer_id: String,
    max_entries: Option<f64>,
    threshold: Option<f64>,
    interval: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObservedProducer {
    producer_id: String,
}

/// The report period, clamped as mediasoup's worker clamps it.
fn interval(ms: Option<f64>, default: f64, min: f64) -> Duration {
    Duration::from_millis(ms.unwrap_or(default).clamp(min, 5000.0) as u64)
}

fn audio_level_kind(data: &CreateObserverData) -> CoreResult<ObserverKind> {
    let max_entries = data.max_entries.unwrap_or(1.0);
    if max_entries.is_nan() || max_entries < 1.0 {
        return Err(CoreError::type_error(
            "maxEntries must be a positive number",
        ));
    }
    let threshold = data.threshold.unwrap_or(-80.0);
    if !(-127.0..=0.0).contains(&threshold) {
        return Err(CoreError::type_error(
            "threshold must be a number between -127 and 0",
        ));
    }
    Ok(ObserverKind::AudioLevel {
        max_entries: max_entries as usize,
        threshold: threshold as i8,
        interval: interval(data.interval, 1000.0, 250.0),
    })
}

fn not_found(observer_id: &str) -> CoreError {
    CoreError::invalid_state(format!("RtpObserver with id \"{observer_id}\" not found"))
}

impl Media {
    /// `kind`: "audiolevel" or "activespeaker".
    pub fn create_rtp_observer(
        &mut self,
        router_id: &str,
        kind: &str,
        data: Value,
    ) -> CoreResult<Value> {
        let data: CreateObserverData = from_json_value(data)?;
        let kind = match kind {
            "audiolevel" => audio_level_kind(&data)?,
            _ => ObserverKind::ActiveSpeaker {
                interval: interval(data.interval, 300.0, 100.0),
            },
        };
        let router = self.routers.get_mut(router_id).ok_or_else(|| {
            CoreError::invalid_state(format!("Router with id \"{router_id}\" not found"))
        })?;
        let id: Id = data.rtp_observer_id.into();
        router
            .routing
            .create_observer(id.clone(), kind, Instant::now())?;
        self.observers.insert(id, router_id.into());
        // A new deadline the timer task does not know of yet.
        self.timer.notify_one();
        Ok(Value::Null)
    }

    pub fn close_rtp_observer(&mut self, observer_id: &str) {
        if let Some(router_id) = self.observers.remove(observer_id)
            && let Some(router) = self.routers.get_mut(&router_id)
        {
            router.routing.close_observer(observer_id);
        }
    }

    pub fn pause_rtp_observer(&mut self, observer_id: &str, pause: bool) -> CoreResult<Value> {
        let now = Instant::now();
        self.on_observer_router(observer_id, now, |router, route| {
            if pause {
                router.pause_observer(observer_id, route)
            } else {
                router.resume_observer(observer_id, now)
            }
        })?;
        if !pause {
            self.timer.notify_one();
        }
        Ok(Value::Null)
    }

    pub fn rtp_observer_producer(
        &mut self,
        observer_id: &str,
        data: Value,
        add: bool,
    ) -> CoreResult<Value> {
        let data: ObservedProducer = from_json_value(data)?;
        self.on_observer_router(observer_id, Instant::now(), |router, _| {
            if add {
                router.observer_add_producer(observer_id, &data.producer_id)
            } else {
                router.observer_remove_producer(observer_id, &data.producer_id)
            }
        })?;
        Ok(Value::Null)
    }

    /// Forgets the observers of a router being closed.
    pub(super) fn forget_observers_of(&mut self, router_id: &str) {
        self.observers.retain(|_, r| &**r != router_id);
    }

    fn on_observer_router(
        &mut self,
        observer_id: &str,
        now: Instant,
        f: impl FnOnce(&mut crate::router::Router, &mut RouteOutput) -> CoreResult<()>,
    ) -> CoreResult<()> {
        let router_id = self
            .observers
            .get(observer_id)
            .cloned()
            .ok_or_else(|| not_found(observer_id))?;
        self.route_with(&router_id, None, now, f)
            .unwrap_or_else(|| Err(not_found(observer_id)))
    }
}

/// An observer's report, as mediasoup's events: `volumes` (loudest first),
/// `silence`, `dominantspeaker`.
pub(super) fn emit(report: ObserverReport) {
    match report {
        ObserverReport::Volumes {
            observer_id,
            volumes,
        } => {
            let volumes: Vec<Value> = volumes
                .into_iter()
                .map(|(producer_id, volume)| json!({ "producerId": &*producer_id, "volume": volume }))
                .collect();
            outbox::emit(&*observer_id, "volumes", Value::Array(volumes));
        }
        ObserverReport::Silence { observer_id } => {
            outbox::emit(&*observer_id, "silence", Value::Null)
        }
        ObserverReport::DominantSpeaker {
            observer_id,
            producer_id,
        } => outbox::emit(
            &*observer_id,
            "dominantspeaker",
            json!({ "producerId": &*producer_id }),
        ),
    }
}
