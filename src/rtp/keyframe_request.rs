//! Keyframe-request throttling per producer stream.
//!
//! Every consumer of a video producer can ask for a keyframe (its browser's
//! PLI/FIR, a new consumer, a resume, a layer switch). Forwarding each one
//! upstream would make the sender emit keyframes back to back, so requests
//! are collapsed: while one is outstanding (sent less than `interval` ago and
//! no keyframe seen since), more requests are absorbed. An outstanding request
//! that gets no keyframe within `interval` is retried, since a PLI can be lost.
//!
//! Senders ignore a request that comes too soon after their last keyframe
//! (libwebrtc: 300 ms). A request in that window is therefore held back and
//! sent when the window closes, instead of being lost and retried a whole
//! `interval` later.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub const DEFAULT_KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// How long after a keyframe a sender still ignores requests (libwebrtc's
/// minimum keyframe send interval), plus a margin for the trip there.
pub const SENDER_KEYFRAME_SPACING: Duration = Duration::from_millis(320);

#[derive(Debug)]
pub struct KeyframeRequestThrottle<K> {
    interval: Duration,
    /// Stream → when its outstanding request was sent (or, for a held-back
    /// request, when it counts as sent so that it falls due at the right time).
    outstanding: HashMap<K, Instant>,
    /// Stream → when its last keyframe arrived.
    last_keyframe: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> Default for KeyframeRequestThrottle<K> {
    fn default() -> Self {
        Self::new(DEFAULT_KEYFRAME_REQUEST_INTERVAL)
    }
}

impl<K: Hash + Eq + Clone> KeyframeRequestThrottle<K> {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            outstanding: HashMap::new(),
            last_keyframe: HashMap::new(),
        }
    }

    /// True when a request for `stream` must be sent upstream now.
    pub fn request(&mut self, stream: K, now: Instant) -> bool {
        if let Some(sent) = self.outstanding.get(&stream)
            && (now.saturating_duration_since(*sent) < self.interval || *sent > now)
        {
            return false;
        }
        if let Some(kf) = self.last_keyframe.get(&stream) {
            let window_end = *kf + SENDER_KEYFRAME_SPACING;
            if now < window_end {
                // Falls due (see handle_timeout) exactly when the window ends.
                let due_as_sent = window_end.checked_sub(self.interval).unwrap_or(window_end);
                self.outstanding.insert(stream, due_as_sent);
                return false;
            }
        }
        self.outstanding.insert(stream, now);
        true
    }

    /// A keyframe arrived on `stream`: the next request goes through at once
    /// (or as soon as the sender will honour it).
    pub fn keyframe_received(&mut self, stream: &K, now: Instant) {
        self.outstanding.remove(stream);
        self.last_keyframe.insert(stream.clone(), now);
    }

    /// A request that `request()` let through was not sent after all: the
    /// next one must go through instead of being absorbed.
    pub fn withdraw(&mut self, stream: &K) {
        self.outstanding.remove(stream);
    }

    /// The stream is gone (producer closed).
    pub fn forget(&mut self, stream: &K) {
        self.outstanding.remove(stream);
        self.last_keyframe.remove(stream);
    }

    /// Earliest time a retry may be due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.values().min().map(|t| *t + self.interval)
    }

    /// Streams whose request got no keyframe within `interval`: re-armed and
    /// pushed to `retry` so that the caller asks again.
    pub fn handle_timeout(&mut self, now: Instant, retry: &mut Vec<K>) {
        for (stream, sent) in self.outstanding.iter_mut() {
            if now.saturating_duration_since(*sent) >= self.interval {
                *sent = now;
                retry.push(stream.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_within_interval_are_collapsed() {
        let t0 = Instant::now();
        let mut th = KeyframeRequestThrottle::new(Duration::from_secs(1));
        assert!(th.request("a", t0));
        assert!(!th.request("a", t0 + Duration::from_millis(10)));
        assert!(!th.request("a", t0 + Duration::from_millis(999)));
        // Another stream is independent.
        assert!(th.request("b", t0 + Duration::from_millis(10)));
        assert!(th.request("a", t0 + Duration::from_millis(1000)));
    }

    #[test]
    fn a_keyframe_reopens_the_gate() {
        let t0 = Instant::now();
        let mut th = KeyframeRequestThrottle::new(Duration::from_secs(1));
        assert!(th.request(1u32, t0));
        th.keyframe_received(&1, t0 + Duration::from_millis(50));
        assert!(th.request(1u32, t0 + Duration::from_millis(400)));
    }

    #[test]
    fn unanswered_requests_are_retried() {
        let t0 = Instant::now();
        let mut th = KeyframeRequestThrottle::new(Duration::from_secs(1));
        th.request(7u32, t0);
        assert_eq!(th.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        let mut retry = vec![];
        th.handle_timeout(t0 + Duration::from_millis(500), &mut retry);
        assert!(retry.is_empty());
        th.handle_timeout(t0 + Duration::from_secs(1), &mut retry);
        assert_eq!(retry, vec![7]);
        th.keyframe_received(&7, t0 + Duration::from_secs(1));
        assert_eq!(th.poll_timeout(), None);
    }

    #[test]
    fn a_withdrawn_request_does_not_absorb_the_next_one() {
        let t0 = Instant::now();
        let mut th = KeyframeRequestThrottle::new(Duration::from_secs(1));
        assert!(th.request(5u32, t0));
        th.withdraw(&5);
        assert!(th.request(5u32, t0 + Duration::from_millis(30)));
    }

    #[test]
    fn a_request_right_after_a_keyframe_waits_until_the_sender_listens() {
        let t0 = Instant::now();
        let mut th = KeyframeRequestThrottle::new(Duration::from_secs(1));
        th.keyframe_received(&3u32, t0);
        assert!(!th.request(3u32, t0 + Duration::from_millis(100)));
        let due = t0 + SENDER_KEYFRAME_SPACING;
        assert_eq!(th.poll_timeout(), Some(due));
        let mut retry = vec![];
        th.handle_timeout(due - Duration::from_millis(1), &mut retry);
        assert!(retry.is_empty());
        th.handle_timeout(due, &mut retry);
        assert_eq!(retry, vec![3]);
        // And a second request meanwhile does not send twice.
        assert!(!th.request(3u32, due + Duration::from_millis(10)));
    }
}
