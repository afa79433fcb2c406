//! RTP observers (mediasoup's AudioLevelObserver and ActiveSpeakerObserver):
//! they watch audio producers of a router through the audio level each
//! packet carries (the ssrc-audio-level header extension, RFC 6464: the
//! sender's own measure, in -dBov). Nothing is decoded.

use std::time::{Duration, Instant};

use super::{Id, RouteOutput};
use crate::error::{CoreError, CoreResult};
use crate::ortc::types::MediaKind;

/// mediasoup's AudioLevelObserver counts a producer only with at least this
/// many levels in an interval (a few stray packets say nothing).
const MIN_LEVELS_PER_INTERVAL: u32 = 10;
/// Active speaker: below this smoothed level (dBov) nobody is speaking.
const SPEAKING_LEVEL: f32 = -70.0;
/// Active speaker: how much louder (dB) another producer must be, smoothed,
/// to take the floor from one still speaking (no flapping between two).
const TAKEOVER_MARGIN: f32 = 3.0;
/// Weight of the newest interval in the smoothed level.
const SMOOTHING: f32 = 0.5;
/// The quietest level RFC 6464 can say.
const SILENT: f32 = -127.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObserverKind {
    AudioLevel {
        max_entries: usize,
        threshold: i8,
        interval: Duration,
    },
    ActiveSpeaker {
        interval: Duration,
    },
}

impl ObserverKind {
    fn interval(&self) -> Duration {
        match self {
            Self::AudioLevel { interval, .. } | Self::ActiveSpeaker { interval } => *interval,
        }
    }
}

/// What an observer reports at the end of an interval.
#[derive(Debug, Clone, PartialEq)]
pub enum ObserverReport {
    /// Loudest first: (producer, average level in dBov).
    Volumes {
        observer_id: Id,
        volumes: Vec<(Id, i8)>,
    },
    /// No producer above the threshold (reported once, until volumes again).
    Silence { observer_id: Id },
    /// A new dominant speaker.
    DominantSpeaker { observer_id: Id, producer_id: Id },
}

struct Watched {
    producer_id: Id,
    /// Sum of the interval's levels as positive numbers (0 loudest, 127 silent).
    sum: u32,
    count: u32,
    /// Active speaker: the smoothed level, dBov.
    smoothed: f32,
}

impl Watched {
    fn average(&self) -> Option<i8> {
        (self.count >= MIN_LEVELS_PER_INTERVAL).then(|| -((self.sum / self.count) as i8))
    }

    fn reset(&mut self) {
        self.sum = 0;
        self.count = 0;
    }
}

pub struct RtpObserver {
    pub id: Id,
    kind: ObserverKind,
    paused: bool,
    watched: Vec<Watched>,
    next_report: Instant,
    /// Audio level: silence was reported last (initially true: nothing to report).
    silent: bool,
    /// Active speaker: the producer that has the floor.
    dominant: Option<Id>,
}

impl RtpObserver {
    pub fn new(id: Id, kind: ObserverKind, now: Instant) -> Self {
        Self {
            id,
            kind,
            paused: false,
            watched: Vec::new(),
            next_report: now + kind.interval(),
            silent: true,
            dominant: None,
        }
    }

    pub fn watches(&self, producer_id: &str) -> bool {
        self.watched.iter().any(|w| &*w.producer_id == producer_id)
    }

    /// False if it already watches the producer.
    pub fn add_producer(&mut self, producer_id: Id) -> bool {
        if self.watches(&producer_id) {
            return false;
        }
        self.watched.push(Watched {
            producer_id,
            sum: 0,
            count: 0,
            smoothed: SILENT,
        });
        true
    }

    /// False if it did not watch the producer.
    pub fn remove_producer(&mut self, producer_id: &str) -> bool {
        let before = self.watched.len();
        self.watched.retain(|w| &*w.producer_id != producer_id);
        if self.dominant.as_deref() == Some(producer_id) {
            self.dominant = None;
        }
        self.watched.len() != before
    }

    pub fn producer_ids(&self) -> impl Iterator<Item = &Id> {
        self.watched.iter().map(|w| &w.producer_id)
    }

    /// Pausing forgets the interval so far (and says silence if it was not).
    pub fn pause(&mut self, out: &mut Vec<ObserverReport>) {
        if self.paused {
            return;
        }
        self.paused = true;
        for w in &mut self.watched {
            w.reset();
        }
        if matches!(self.kind, ObserverKind::AudioLevel { .. }) && !self.silent {
            self.silent = true;
            out.push(ObserverReport::Silence {
                observer_id: self.id.clone(),
            });
        }
    }

    pub fn resume(&mut self, now: Instant) {
        if self.paused {
            self.paused = false;
            self.next_report = now + self.kind.interval();
        }
    }

    /// One packet's level (dBov, -127..=0; anything else is clamped).
    pub fn on_level(&mut self, producer_id: &str, level: i8) {
        if self.paused {
            return;
        }
        if let Some(w) = self
            .watched
            .iter_mut()
            .find(|w| &*w.producer_id == producer_id)
        {
            w.sum += u32::from(level.clamp(-127, 0).unsigned_abs());
            w.count += 1;
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.paused).then_some(self.next_report)
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<ObserverReport>) {
        if self.paused || now < self.next_report {
            return;
        }
        // From now, not from the missed deadline: a late wake-up does not
        // turn into a burst of empty intervals.
        self.next_report = now + self.kind.interval();
        match self.kind {
            ObserverKind::AudioLevel {
                max_entries,
                threshold,
                ..
            } => self.report_volumes(max_entries, threshold, out),
            ObserverKind::ActiveSpeaker { .. } => self.elect_speaker(out),
        }
        for w in &mut self.watched {
            w.reset();
        }
    }

    fn report_volumes(&mut self, max_entries: usize, threshold: i8, out: &mut Vec<ObserverReport>) {
        let mut volumes: Vec<(Id, i8)> = self
            .watched
            .iter()
            .filter_map(|w| w.average().map(|v| (w.producer_id.clone(), v)))
            .filter(|(_, v)| *v >= threshold)
            .collect();
        if volumes.is_empty() {
            if !self.silent {
                self.silent = true;
                out.push(ObserverReport::Silence {
                    observer_id: self.id.clone(),
                });
            }
            return;
        }
        volumes.sort_by_key(|v| std::cmp::Reverse(v.1));
        volumes.truncate(max_entries);
        self.silent = false;
        out.push(ObserverReport::Volumes {
            observer_id: self.id.clone(),
            volumes,
        });
    }

    /// The loudest smoothed level has the floor, if it is speech at all; one
    /// who still speaks keeps it unless another is clearly louder.
    fn elect_speaker(&mut self, out: &mut Vec<ObserverReport>) {
        for w in &mut self.watched {
            let level = w.average().map_or(SILENT, f32::from);
            w.smoothed = SMOOTHING * level + (1.0 - SMOOTHING) * w.smoothed;
        }
        let Some(loudest) = self
            .watched
            .iter()
            .filter(|w| w.smoothed > SPEAKING_LEVEL)
            .max_by(|a, b| a.smoothed.total_cmp(&b.smoothed))
        else {
            return;
        };
        let current = self
            .dominant
            .as_ref()
            .and_then(|d| self.watched.iter().find(|w| w.producer_id == *d));
        let takes_floor = match current {
            None => true,
            Some(c) if c.producer_id == loudest.producer_id => false,
            Some(c) => {
                c.smoothed <= SPEAKING_LEVEL || loudest.smoothed >= c.smoothed + TAKEOVER_MARGIN
            }
        };
        if takes_floor {
            let producer_id = loudest.producer_id.clone();
            self.dominant = Some(producer_id.clone());
            out.push(ObserverReport::DominantSpeaker {
                observer_id: self.id.clone(),
                producer_id,
            });
        }
    }
}

/// The router's side: observers live in the router, next to the producers
/// whose packets feed them.
impl super::Router {
    pub fn create_observer(&mut self, id: Id, kind: ObserverKind, now: Instant) -> CoreResult<()> {
        if self.observer_index_checked(&id).is_ok() {
            return Err(CoreError::invalid_state("RtpObserver already exists"));
        }
        self.observers.push(RtpObserver::new(id, kind, now));
        Ok(())
    }

    pub fn close_observer(&mut self, observer_id: &str) {
        let Some(i) = self.observers.iter().position(|o| &*o.id == observer_id) else {
            return;
        };
        let o = self.observers.swap_remove(i);
        for producer_id in o.producer_ids() {
            if let Some(p) = self.producers.get_mut(producer_id) {
                p.observed_by = p.observed_by.saturating_sub(1);
            }
        }
    }

    pub fn pause_observer(&mut self, observer_id: &str, out: &mut RouteOutput) -> CoreResult<()> {
        let i = self.observer_index_checked(observer_id)?;
        self.observers[i].pause(&mut out.observer_reports);
        Ok(())
    }

    pub fn resume_observer(&mut self, observer_id: &str, now: Instant) -> CoreResult<()> {
        let i = self.observer_index_checked(observer_id)?;
        self.observers[i].resume(now);
        Ok(())
    }

    /// mediasoup's `rtpObserver.addProducer()`: audio producers only.
    pub fn observer_add_producer(
        &mut self,
        observer_id: &str,
        producer_id: &str,
    ) -> CoreResult<()> {
        let i = self.observer_index_checked(observer_id)?;
        let Some(p) = self.producers.get_mut(producer_id) else {
            return Err(CoreError::other(format!(
                "Producer with id \"{producer_id}\" not found"
            )));
        };
        if p.kind != MediaKind::Audio {
            return Err(CoreError::type_error("not an audio Producer"));
        }
        if !self.observers[i].add_producer(p.id.clone()) {
            return Err(CoreError::other("Producer already in the RtpObserver"));
        }
        p.observed_by += 1;
        Ok(())
    }

    pub fn observer_remove_producer(
        &mut self,
        observer_id: &str,
        producer_id: &str,
    ) -> CoreResult<()> {
        let i = self.observer_index_checked(observer_id)?;
        if !self.observers[i].remove_producer(producer_id) {
            return Err(CoreError::other(format!(
                "Producer with id \"{producer_id}\" not found"
            )));
        }
        if let Some(p) = self.producers.get_mut(producer_id) {
            p.observed_by = p.observed_by.saturating_sub(1);
        }
        Ok(())
    }

    /// For the router's dump.
    pub fn observer_ids(&self) -> Vec<String> {
        self.observers.iter().map(|o| o.id.to_string()).collect()
    }

    /// For the router's dump: (producer, ids of the observers watching it).
    pub fn observers_by_producer(&self) -> impl Iterator<Item = (String, serde_json::Value)> + '_ {
        self.producers
            .values()
            .filter(|p| p.observed_by > 0)
            .map(|p| {
                let ids: Vec<String> = self
                    .observers
                    .iter()
                    .filter(|o| o.watches(&p.id))
                    .map(|o| o.id.to_string())
                    .collect();
                (p.id.to_string(), serde_json::json!(ids))
            })
    }

    fn observer_index_checked(&self, observer_id: &str) -> CoreResult<usize> {
        self.observers
            .iter()
            .position(|o| &*o.id == observer_id)
            .ok_or_else(|| CoreError::invalid_state("RtpObserver not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn audio_level(max_entries: usize, threshold: i8) -> ObserverKind {
        ObserverKind::AudioLevel {
            max_entries,
            threshold,
            interval: 1000 * MS,
        }
    }

    fn feed(o: &mut RtpObserver, producer: &str, level: i8, packets: u32) {
        for _ in 0..packets {
            o.on_level(producer, level);
        }
    }

    fn tick(o: &mut RtpObserver, now: &mut Instant) -> Vec<ObserverReport> {
        *now = o.poll_timeout().expect("running");
        let mut out = Vec::new();
        o.handle_timeout(*now, &mut out);
        out
    }

    #[test]
    fn volumes_loudest_first_above_the_threshold_then_silence_once() {
        let mut now = Instant::now();
        let mut o = RtpObserver::new("o".into(), audio_level(2, -60), now);
        for p in ["quiet", "loud", "mid", "sparse", "below"] {
            assert!(o.add_producer(p.into()));
        }
        assert!(!o.add_producer("loud".into()));
        feed(&mut o, "quiet", -50, 50);
        feed(&mut o, "loud", -20, 25);
        feed(&mut o, "loud", -30, 25);
        feed(&mut o, "mid", -40, 50);
        feed(&mut o, "sparse", -10, 9); // too few levels to count
        feed(&mut o, "below", -70, 50);
        let report = tick(&mut o, &mut now);
        assert_eq!(
            report,
            vec![ObserverReport::Volumes {
                observer_id: "o".into(),
                volumes: vec![("loud".into(), -25), ("mid".into(), -40)],
            }]
        );
        // Nothing heard: silence, once.
        let silence = ObserverReport::Silence {
            observer_id: "o".into(),
        };
        assert_eq!(tick(&mut o, &mut now), vec![silence]);
        assert_eq!(tick(&mut o, &mut now), vec![]);
    }

    #[test]
    fn pausing_stops_reports_and_forgets_the_interval() {
        let mut now = Instant::now();
        let mut o = RtpObserver::new("o".into(), audio_level(1, -80), now);
        o.add_producer("p".into());
        feed(&mut o, "p", -20, 20);
        assert!(matches!(
            tick(&mut o, &mut now)[..],
            [ObserverReport::Volumes { .. }]
        ));
        feed(&mut o, "p", -20, 20);
        let mut out = Vec::new();
        o.pause(&mut out);
        assert!(matches!(out[..], [ObserverReport::Silence { .. }]));
        assert_eq!(o.poll_timeout(), None);
        feed(&mut o, "p", -20, 20); // ignored while paused
        o.resume(now);
        assert_eq!(tick(&mut o, &mut now), vec![]);
        assert!(o.remove_producer("p"));
        assert!(!o.remove_producer("p"));
    }

    #[test]
    fn the_active_speaker_changes_only_for_a_clearly_louder_one() {
        let mut now = Instant::now();
        let mut o = RtpObserver::new(
            "o".into(),
            ObserverKind::ActiveSpeaker { interval: 300 * MS },
            now,
        );
        o.add_producer("a".into());
        o.add_producer("b".into());
        let elected = |p: &str| ObserverReport::DominantSpeaker {
            observer_id: "o".into(),
            producer_id: p.into(),
        };
        // Nobody speaks: nobody is elected.
        feed(&mut o, "a", -100, 15);
        assert_eq!(tick(&mut o, &mut now), vec![]);
        let mut reports = Vec::new();
        for _ in 0..3 {
            feed(&mut o, "a", -30, 15);
            feed(&mut o, "b", -90, 15);
            reports.extend(tick(&mut o, &mut now));
        }
        assert_eq!(reports, vec![elected("a")]);
        // b about as loud as a: a keeps the floor.
        for _ in 0..4 {
            feed(&mut o, "a", -30, 15);
            feed(&mut o, "b", -29, 15);
            assert_eq!(tick(&mut o, &mut now), vec![]);
        }
        // a goes quiet: b takes over.
        let mut reports = Vec::new();
        for _ in 0..4 {
            feed(&mut o, "a", -110, 15);
            feed(&mut o, "b", -29, 15);
            reports.extend(tick(&mut o, &mut now));
        }
        assert_eq!(reports, vec![elected("b")]);
        // The speaker's producer goes away: the next one speaking is elected.
        o.remove_producer("b");
        feed(&mut o, "a", -20, 15);
        assert_eq!(tick(&mut o, &mut now), vec![elected("a")]);
    }
}
