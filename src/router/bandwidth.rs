//! Bandwidth-driven simulcast layers: each consumer transport's send-side
//! estimate is shared among its consumers, as mediasoup does. Audio and
//! single-layer video take what they take; simulcast consumers start on
//! their producer's lowest active layer and go up, one layer at a time and
//! round-robin, while the estimate allows. The result caps each consumer's
//! layer under its preferred one; the switch itself still waits for a
//! keyframe of the new layer (see `Router::route`).

use std::time::{Duration, Instant};

use super::{MediaKind, RouteOutput, Router};

/// Per packet on the wire beyond the RTP payload (RTP header and extensions,
/// SRTP tag, UDP/IP): what the estimate is about.
const PACKET_OVERHEAD_BYTES: u64 = 50;
/// A layer's bitrate is measured over windows this long.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Going above the layer a consumer has takes this share of what is left
/// at most (percent): an estimate hovering near a layer's rate does not
/// switch it up and down every second.
const UPGRADE_HEADROOM_PERCENT: u64 = 85;

/// The bitrate of one encoding of a producer, as received.
#[derive(Debug, Default, Clone)]
pub(super) struct LayerRate {
    bytes: u64,
    window_start: Option<Instant>,
    bps: u64,
}

impl LayerRate {
    pub(super) fn on_packet(&mut self, payload_len: usize) {
        self.bytes += payload_len as u64 + PACKET_OVERHEAD_BYTES;
    }

    /// The rate over the last complete window (0 before the first).
    fn bps(&mut self, now: Instant) -> u64 {
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            self.bytes = 0;
            return self.bps;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            self.bps = self.bytes * 8 * 1000 / elapsed.as_millis().max(1) as u64;
            self.bytes = 0;
            self.window_start = Some(now);
        }
        self.bps
    }
}

/// What one simulcast consumer could take.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDemand {
    /// Bitrate of each layer up to the preferred one; None: not active.
    pub rates: Vec<Option<u64>>,
    /// The layer it is forwarded now, if any.
    pub current: Option<usize>,
    /// mediasoup's consumer priority (1..=255): higher goes up first.
    pub priority: u8,
}

impl LayerDemand {
    /// Its highest active layer: what it would take with room for all.
    fn top_active(&self) -> Option<usize> {
        self.rates.iter().rposition(Option::is_some)
    }
}

/// The layer each consumer may have within `available` bps, after `fixed`
/// bps of streams that have no layers to choose from. None: no active layer.
/// Each round offers every consumer one layer more, higher priorities first.
pub fn allocate(available: u64, fixed: u64, demands: &[LayerDemand]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(demands[i].priority));
    let mut chosen: Vec<Option<usize>> = demands
        .iter()
        .map(|d| d.rates.iter().position(Option::is_some))
        .collect();
    let rate = |d: &LayerDemand, layer: usize| d.rates[layer].unwrap_or(0);
    let base: u64 = demands
        .iter()
        .zip(&chosen)
        .filter_map(|(d, c)| c.map(|l| rate(d, l)))
        .sum();
    let mut budget = available.saturating_sub(fixed).saturating_sub(base);
    loop {
        let mut upgraded = false;
        for &i in &order {
            let (d, c) = (&demands[i], &mut chosen[i]);
            let Some(layer) = *c else { continue };
            let Some(next) = (layer + 1..d.rates.len()).find(|&l| d.rates[l].is_some()) else {
                continue;
            };
            let cost = rate(d, next).saturating_sub(rate(d, layer));
            let keeps = d.current.is_some_and(|current| next <= current);
            let allowed = if keeps {
                budget
            } else {
                budget * UPGRADE_HEADROOM_PERCENT / 100
            };
            if cost <= allowed {
                *c = Some(next);
                budget -= cost;
                upgraded = true;
            }
        }
        if !upgraded {
            return chosen;
        }
    }
}

impl Router {
    /// Shares a consumer transport's available bitrate (its send-side
    /// estimate, capped by `setMaxOutgoingBitrate`) among its consumers and
    /// caps their simulcast layers accordingly; a consumer whose layer must
    /// change asks its producer for a keyframe of the new one. Returns, while
    /// some consumer is held below its preferred layer, the bitrate the
    /// estimator should probe for (it only grows a little past what is sent):
    /// what they would all take with every preferred layer, and a margin.
    pub fn allocate_bandwidth(
        &mut self,
        transport_id: &str,
        available_bps: u64,
        now: Instant,
        out: &mut RouteOutput,
    ) -> Option<u64> {
        let mut fixed = 0;
        // Simulcast consumers: their slots, and what each could take.
        let mut layered: Vec<usize> = Vec::new();
        let mut demands: Vec<LayerDemand> = Vec::new();
        for (idx, slot) in self.consumers.iter().enumerate() {
            let Some(c) = slot else { continue };
            if &*c.transport_id != transport_id || !c.active() {
                continue;
            }
            let Some(p) = self.producers.get_mut(&c.producer) else {
                continue;
            };
            let top = c.preferred_layer.unwrap_or(usize::MAX);
            // Only the temporal layers it is to get.
            let temporal = c.preferred_temporal.map_or(usize::MAX, usize::from);
            let mut rates = Vec::new();
            for (layer, seen) in p
                .last_seen
                .iter()
                .enumerate()
                .take_while(|(l, _)| *l <= top)
            {
                let active = seen.is_some_and(|t| {
                    now.saturating_duration_since(t) < super::LAYER_INACTIVE_AFTER
                });
                let bps = p.layer_rates[layer]
                    .iter_mut()
                    .take(temporal.saturating_add(1))
                    .map(|r| r.bps(now))
                    .sum();
                rates.push(active.then_some(bps));
            }
            if p.svc && !p.ksvc {
                // An SVC layer is sent with every layer below it; a K-SVC
                // one alone, but for keyframe pictures (their lower layers,
                // and the keyframes its switches ask for, are not counted).
                let mut below = 0;
                for rate in rates.iter_mut().flatten() {
                    below += *rate;
                    *rate = below;
                }
            }
            if c.kind == MediaKind::Video && p.last_seen.len() > 1 {
                layered.push(idx);
                demands.push(LayerDemand {
                    rates,
                    current: c.current_layer,
                    priority: c.priority,
                });
            } else {
                fixed += rates.iter().flatten().sum::<u64>();
            }
        }
        let wanted: u64 = demands
            .iter()
            .filter_map(|d| d.top_active().and_then(|l| d.rates[l]))
            .sum();
        let caps = allocate(available_bps, fixed, &demands);
        let held_back = demands
            .iter()
            .zip(&caps)
            .any(|(d, cap)| cap.is_some_and(|c| d.top_active().is_some_and(|t| c < t)));
        let changed: Vec<usize> = layered
            .iter()
            .zip(&demands)
            .zip(caps)
            .filter_map(|((idx, demand), cap)| {
                let c = self.consumers[*idx].as_mut()?;
                // No active layer: nothing to decide on, keep what it had.
                let cap = cap?;
                // A keyframe only when the layer it should get changes (no cap
                // and a cap on its top layer are the same).
                let top = demand.rates.len().saturating_sub(1);
                let effective = |c: &super::Consumer| c.layer_cap().map_or(top, |l| l.min(top));
                let before = effective(c);
                c.bwe_layer = Some(cap);
                (effective(c) != before).then(|| {
                    tracing::debug!(consumer_id = %c.id, layer = cap, available_bps, "simulcast layer capped by bandwidth");
                    *idx
                })
            })
            .collect();
        for idx in changed {
            self.request_target_keyframe(idx, now, out);
        }
        // A quarter above: going up a layer needs headroom over its rate.
        held_back.then_some((fixed + wanted) * 5 / 4)
    }

    /// The highest layer a consumer's transport bandwidth allows (None: no cap yet).
    pub fn bandwidth_layer(&self, consumer_id: &str) -> Option<usize> {
        let idx = *self.consumer_index.get(consumer_id)?;
        self.consumers[idx].as_ref()?.bwe_layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(rates: &[Option<u64>], current: Option<usize>) -> LayerDemand {
        LayerDemand {
            priority: 1,
            rates: rates.to_vec(),
            current,
        }
    }

    const THREE: [Option<u64>; 3] = [Some(150_000), Some(500_000), Some(1_500_000)];

    #[test]
    fn plenty_gives_every_consumer_its_top_layer() {
        let d = [demand(&THREE, None), demand(&THREE, Some(2))];
        assert_eq!(allocate(10_000_000, 100_000, &d), vec![Some(2), Some(2)]);
    }

    #[test]
    fn a_tight_estimate_is_shared_layer_by_layer() {
        // 1.3 Mbps after 64 kbps of audio: both get the middle layer (1 Mbps), not one the top.
        let d = [demand(&THREE, None), demand(&THREE, None)];
        assert_eq!(allocate(1_364_000, 64_000, &d), vec![Some(1), Some(1)]);
        // Too little for anything more: the lowest layer still flows.
        assert_eq!(allocate(100_000, 64_000, &d), vec![Some(0), Some(0)]);
    }

    #[test]
    fn higher_priorities_go_up_first() {
        let mut d = [demand(&THREE, None), demand(&THREE, None)];
        d[1].priority = 2;
        // Room for one more layer over both lowest ones: the second consumer gets it.
        assert_eq!(allocate(900_000, 0, &d), vec![Some(0), Some(1)]);
    }

    #[test]
    fn inactive_layers_are_skipped_and_going_up_needs_headroom() {
        let d = [demand(&[Some(150_000), None, Some(1_500_000)], None)];
        assert_eq!(allocate(2_000_000, 0, &d), vec![Some(2)]);
        // 1.4 Mbps left over the lowest layer: exactly enough to stay on the
        // top layer, not enough (85 %) to go up to it.
        let at_top = [demand(&THREE, Some(2))];
        let below = [demand(&THREE, Some(1))];
        assert_eq!(allocate(1_500_000, 0, &at_top), vec![Some(2)]);
        assert_eq!(allocate(1_500_000, 0, &below), vec![Some(1)]);
        assert_eq!(
            allocate(1_000_000, 0, &[demand(&[None, None], None)]),
            vec![None]
        );
    }

    #[test]
    fn layer_rates_are_measured_over_whole_windows() {
        let t0 = Instant::now();
        let mut r = LayerRate::default();
        assert_eq!(r.bps(t0), 0);
        for _ in 0..100 {
            r.on_packet(1150);
        }
        assert_eq!(r.bps(t0 + Duration::from_millis(500)), 0, "window not over");
        assert_eq!(r.bps(t0 + RATE_WINDOW), 100 * 1200 * 8);
    }
}
