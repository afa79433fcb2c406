//! The load generator behind `npm run bench`: it plays the browsers.
//!
//! `benches/run.js` creates workers, routers and transports through a
//! mediasoup-style module and hands their ICE/DTLS parameters to this
//! process as JSON lines on stdin; the generator connects str0m peers over
//! UDP on 127.0.0.1, produces and consumes, stamps send times into payloads,
//! and answers with JSON lines on stdout (one `{"id", ...}` answer per
//! command, plus `{"id", "event"}` lines marking measurement windows so the
//! driver can read the SFU's CPU clock at their edges).
//!
//! It also runs the *floor*: a minimal relay that only receives, decrypts,
//! and re-encrypts and sends a copy per consumer with the same SRTP cipher
//! (see `floor.rs`), on the same traffic.

mod arrival;
mod clock;
mod floor;
mod peer;
mod poller;

use opencall::ortc::types::{MediaKind, RtpCapabilities, RtpParameters};
use opencall::transport::{DtlsParameters, IceCandidate, IceParameters};
use peer::Peer;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    poller::precise_timers();
    let mut generator = Generator::new();
    generator.run(rx);
}

pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// A measurement in progress.
struct Run {
    id: Value,
    start: Instant,
    window_start: Instant,
    window_end: Instant,
    drain_end: Instant,
    started: bool,
    ended: bool,
    /// Packets per second per sender: [audio, video].
    pps: [f64; 2],
    next_send: Vec<[Instant; 2]>,
    /// The generator's own CPU (all its threads) at the window's edges: a
    /// generator short of CPU shows up as loss that is not the SFU's.
    cpu_at_start: f64,
    cpu_at_end: f64,
}

struct Waiter {
    id: Value,
    peers: Vec<usize>,
    until: Instant,
}

struct Generator {
    peers: Vec<Option<Peer>>,
    poller: poller::Poller,
    run: Option<Run>,
    waiters: Vec<Waiter>,
    buf: Vec<u8>,
}

/// When sender `rank` of `n` sends its first audio and video packets: the
/// senders' phases spread evenly over one packet interval. Audio is put half
/// a step off the video senders' grid: with the video rate a whole multiple
/// of the audio rate, every audio packet would otherwise leave at the same
/// instant as some sender's video packet.
pub fn first_sends(now: Instant, pps: [f64; 2], rank: usize, n: usize) -> [Instant; 2] {
    let f = rank as f64 / n as f64;
    let half_step = if pps[1] > 0.0 {
        0.5 / (n as f64 * pps[1])
    } else {
        0.0
    };
    [f / pps[0] + half_step, f / pps[1]].map(|secs| {
        if secs.is_finite() {
            now + Duration::from_secs_f64(secs)
        } else {
            now
        }
    })
}

fn percentile(sorted: &[f32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(f64::from(sorted[i]))
}

impl Generator {
    fn new() -> Self {
        Self {
            peers: Vec::new(),
            poller: poller::Poller::new().expect("epoll"),
            run: None,
            waiters: Vec::new(),
            buf: vec![0; 2048],
        }
    }

    fn run(&mut self, rx: mpsc::Receiver<String>) {
        let mut ready: Vec<usize> = Vec::new();
        loop {
            loop {
                match rx.try_recv() {
                    Ok(line) => self.command(&line),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            // The packets due first, then what the sockets hold: the timer
            // was set for the sends.
            self.tick_run(now);
            for idx in ready.drain(..) {
                if let Some(Some(p)) = self.peers.get_mut(idx) {
                    p.on_readable(&mut self.buf);
                }
            }
            let now = Instant::now();
            self.tick_waiters(now);
            let mut deadline = now + Duration::from_millis(5);
            for p in self.peers.iter_mut().flatten() {
                if p.next_timeout <= now {
                    p.handle_timeout(now);
                }
                deadline = deadline.min(p.deadline());
            }
            if let Some(r) = self.run.as_ref().filter(|r| !r.ended) {
                // Only live senders of a run still sending: the send times of
                // a closed peer's slot, and every sender's once the window
                // has ended, are never advanced, and a deadline in the past
                // would make the loop spin, taking the CPU the SFU under
                // test needs.
                for (n, p) in r.next_send.iter().zip(&self.peers) {
                    if !p.as_ref().is_some_and(Peer::sends_media) {
                        continue;
                    }
                    for (k, t) in n.iter().enumerate() {
                        if r.pps[k] > 0.0 {
                            deadline = deadline.min(*t);
                        }
                    }
                }
            }
            let timeout = deadline.saturating_duration_since(Instant::now());
            ready = self.poller.wait(timeout);
        }
    }

    fn answer(id: &Value, result: Result<Value, String>) {
        match result {
            Ok(v) => emit(&json!({ "id": id, "result": v })),
            Err(e) => emit(&json!({ "id": id, "error": e })),
        }
    }

    fn command(&mut self, line: &str) {
        let Ok(cmd) = serde_json::from_str::<Value>(line) else {
            emit(&json!({ "error": format!("bad command: {line}") }));
            return;
        };
        let id = cmd["id"].clone();
        let result = match cmd["cmd"].as_str().unwrap_or("") {
            "peers" => self.cmd_peers(&cmd),
            "wait_connected" => {
                // Node calls this once every transport.connect() is done:
                // only now may the peers' DTLS start.
                let peers = ids(&cmd["peers"]);
                for &i in &peers {
                    if let Some(Some(p)) = self.peers.get_mut(i)
                        && let Err(e) = p.start_dtls()
                    {
                        Self::answer(&id, Err(e));
                        return;
                    }
                }
                let ms = cmd["timeoutMs"].as_u64().unwrap_or(10_000);
                self.waiters.push(Waiter {
                    id,
                    peers,
                    until: Instant::now() + Duration::from_millis(ms),
                });
                return;
            }
            "produce" => self.cmd_produce(&cmd),
            "consume" => self.cmd_consume(&cmd),
            "run" => {
                self.start_run(id, &cmd);
                return;
            }
            "close" => {
                for i in ids(&cmd["peers"]) {
                    if let Some(p) = self.peers.get_mut(i).and_then(Option::take) {
                        self.poller.remove(&p.socket);
                    }
                }
                Ok(json!({}))
            }
            "floor" => floor::run(&cmd),
            "sdp_publisher" => {
                Peer::sdp_publisher(bind_ip(&cmd), Instant::now()).and_then(|(p, offer)| {
                    let idx = self.add_peer(p)?;
                    Ok(json!({ "peer": idx, "sdp": offer }))
                })
            }
            "sdp_answer" => {
                let sdp = cmd["sdp"].as_str().unwrap_or_default().to_owned();
                self.peer(&cmd["peer"])
                    .and_then(|p| p.sdp_answer(&sdp))
                    .map(|_| json!({}))
            }
            "sdp_subscriber" => {
                let sdp = cmd["sdp"].as_str().unwrap_or_default();
                let measured = cmd["measured"].as_bool().unwrap_or(false);
                let from = cmd["from"].as_u64().unwrap_or(0) as usize;
                Peer::sdp_subscriber(sdp, measured, bind_ip(&cmd), Instant::now()).and_then(
                    |(mut p, answer)| {
                        p.consumes = vec![(from, 0), (from, 1)];
                        let idx = self.add_peer(p)?;
                        Ok(json!({ "peer": idx, "sdp": answer }))
                    },
                )
            }
            "quit" => std::process::exit(0),
            other => Err(format!("unknown command {other}")),
        };
        Self::answer(&id, result);
    }

    /// Creates peers and starts ICE/DTLS toward the given transports.
    fn cmd_peers(&mut self, cmd: &Value) -> Result<Value, String> {
        let caps: RtpCapabilities = serde_json::from_value(cmd["routerRtpCapabilities"].clone())
            .map_err(|e| e.to_string())?;
        let now = Instant::now();
        let mut answers = Vec::new();
        for spec in cmd["peers"].as_array().ok_or("peers must be an array")? {
            let t = &spec["transport"];
            let ice: IceParameters =
                serde_json::from_value(t["iceParameters"].clone()).map_err(|e| e.to_string())?;
            let cands: Vec<IceCandidate> =
                serde_json::from_value(t["iceCandidates"].clone()).map_err(|e| e.to_string())?;
            let dtls: DtlsParameters =
                serde_json::from_value(t["dtlsParameters"].clone()).map_err(|e| e.to_string())?;
            let mut peer = match spec["role"].as_str() {
                Some("send") => Peer::sender(now),
                _ => Peer::receiver(&caps, spec["measured"].as_bool().unwrap_or(false), now),
            }
            .map_err(|e| e.to_string())?;
            let dtls_params = peer.connect(&ice, &cands, &dtls)?;
            let idx = self.add_peer(peer)?;
            answers.push(json!({ "peer": idx, "dtlsParameters": dtls_params }));
        }
        Ok(Value::Array(answers))
    }

    fn add_peer(&mut self, peer: Peer) -> Result<usize, String> {
        let idx = self.peers.len();
        self.poller
            .add(&peer.socket, idx)
            .map_err(|e| e.to_string())?;
        self.peers.push(Some(peer));
        Ok(idx)
    }

    fn peer(&mut self, v: &Value) -> Result<&mut Peer, String> {
        let i = v.as_u64().ok_or("peer index expected")? as usize;
        self.peers
            .get_mut(i)
            .and_then(|p| p.as_mut())
            .ok_or_else(|| format!("no peer {i}"))
    }

    fn cmd_produce(&mut self, cmd: &Value) -> Result<Value, String> {
        let caps: RtpCapabilities = serde_json::from_value(cmd["routerRtpCapabilities"].clone())
            .map_err(|e| e.to_string())?;
        let [video, audio] = self.peer(&cmd["peer"])?.add_producers(&caps);
        Ok(json!({ "video": video, "audio": audio }))
    }

    fn cmd_consume(&mut self, cmd: &Value) -> Result<Value, String> {
        let list = cmd["consumers"]
            .as_array()
            .ok_or("consumers must be an array")?
            .clone();
        let peer = self.peer(&cmd["peer"])?;
        for c in list {
            let kind: MediaKind =
                serde_json::from_value(c["kind"].clone()).map_err(|e| e.to_string())?;
            let rtp: RtpParameters =
                serde_json::from_value(c["rtpParameters"].clone()).map_err(|e| e.to_string())?;
            peer.expect_consumer(kind, &rtp)?;
            let from = c["from"].as_u64().ok_or("consumer without 'from' peer")? as usize;
            peer.consumes
                .push((from, if kind == MediaKind::Video { 1 } else { 0 }));
        }
        Ok(json!({}))
    }

    fn tick_waiters(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            let state = |p: usize| {
                self.peers
                    .get(p)
                    .and_then(|p| p.as_ref())
                    .map(|p| (p.connected, p.failed))
            };
            let all = w.peers.iter().all(|p| state(*p).is_some_and(|s| s.0));
            let failed = w.peers.iter().any(|p| state(*p).is_none_or(|s| s.1));
            if all || failed || now >= w.until {
                let w = self.waiters.remove(i);
                let result = if all {
                    Ok(json!({}))
                } else {
                    let missing: Vec<usize> = w
                        .peers
                        .iter()
                        .copied()
                        .filter(|p| state(*p).is_none_or(|s| !s.0))
                        .collect();
                    Err(format!("peers not connected: {missing:?}"))
                };
                Self::answer(&w.id, result);
            } else {
                i += 1;
            }
        }
    }

    fn start_run(&mut self, id: Value, cmd: &Value) {
        let now = Instant::now();
        let warmup = Duration::from_millis(cmd["warmupMs"].as_u64().unwrap_or(1000));
        let duration = Duration::from_millis(cmd["durationMs"].as_u64().unwrap_or(3000));
        let pps = [
            cmd["audioPps"].as_f64().unwrap_or(50.0),
            cmd["videoPps"].as_f64().unwrap_or(100.0),
        ];
        // Spread the senders' first packets evenly over one interval, as
        // independent browsers' would be: the phases are dealt over the live
        // senders only, since the slots of closed peers (an earlier
        // scenario's) would otherwise bunch this run's senders into a
        // fraction of the interval, and an SFU woken once for several
        // packets pays one wake-up for them all.
        let senders: Vec<usize> = (0..self.peers.len())
            .filter(|&i| self.peers[i].as_ref().is_some_and(Peer::sends_media))
            .collect();
        let n = senders.len().max(1);
        let mut next_send = vec![[now; 2]; self.peers.len()];
        for (rank, &i) in senders.iter().enumerate() {
            next_send[i] = first_sends(now, pps, rank, n);
        }
        self.run = Some(Run {
            id,
            start: now,
            window_start: now + warmup,
            window_end: now + warmup + duration,
            drain_end: now + warmup + duration + Duration::from_millis(300),
            started: false,
            ended: false,
            pps,
            next_send,
            cpu_at_start: 0.0,
            cpu_at_end: 0.0,
        });
    }

    fn tick_run(&mut self, now: Instant) {
        let Some(run) = self.run.as_mut() else { return };
        if !run.ended {
            for (i, slot) in self.peers.iter_mut().enumerate() {
                let Some(p) = slot.as_mut() else { continue };
                let Some(next) = run.next_send.get_mut(i) else {
                    continue;
                };
                for (k, pps) in run.pps.iter().enumerate() {
                    if *pps <= 0.0 {
                        continue;
                    }
                    let interval = Duration::from_secs_f64(1.0 / pps);
                    // Catch up after a late wake-up, but never by more than
                    // a burst: falling behind is the generator's problem,
                    // not the SFU's.
                    let mut burst = 0;
                    while next[k] <= now && burst < 64 {
                        p.send_packet(k, now);
                        next[k] += interval;
                        burst += 1;
                    }
                    if next[k] < now {
                        next[k] = now;
                    }
                }
            }
        }
        if !run.started && now >= run.window_start {
            run.started = true;
            for p in self.peers.iter_mut().flatten() {
                p.rtp_in = 0;
                p.sent = [0; 2];
                p.latencies_us.clear();
            }
            run.cpu_at_start = clock::process_cpu_seconds();
            emit(&json!({ "id": run.id, "event": "window_start" }));
        }
        if run.started && !run.ended && now >= run.window_end {
            run.ended = true;
            run.cpu_at_end = clock::process_cpu_seconds();
            emit(&json!({ "id": run.id, "event": "window_end" }));
        }
        if run.ended && now >= run.drain_end {
            let run = self.run.take().expect("run");
            let result = self.run_result(&run);
            Self::answer(&run.id, Ok(result));
        }
    }

    fn run_result(&self, run: &Run) -> Value {
        let live: Vec<&Peer> = self.peers.iter().flatten().collect();
        let sent: u64 = live.iter().map(|p| p.sent[0] + p.sent[1]).sum();
        let mut expected = 0u64;
        let mut received = 0u64;
        for p in &live {
            received += p.rtp_in;
            for (from, kind) in &p.consumes {
                if let Some(Some(s)) = self.peers.get(*from) {
                    expected += s.sent[*kind];
                }
            }
        }
        let mut lat: Vec<f32> = live
            .iter()
            .flat_map(|p| p.latencies_us.iter().copied())
            .collect();
        lat.sort_by(f32::total_cmp);
        // Each measured receiver's own, in the order the peers were made
        // (a fan-out's first consumer's copy leaves first, its last's last).
        let by_receiver: Vec<Value> = live
            .iter()
            .filter(|p| p.measured)
            .map(|p| {
                let mut own = p.latencies_us.clone();
                own.sort_by(f32::total_cmp);
                json!({ "count": own.len(), "p50": percentile(&own, 0.5), "p99": percentile(&own, 0.99) })
            })
            .collect();
        let window = (run.window_end - run.window_start).as_secs_f64();
        let loss = if expected > 0 {
            (1.0 - received as f64 / expected as f64).max(0.0)
        } else {
            0.0
        };
        json!({
            "windowSeconds": window,
            "sentPackets": sent,
            "expectedForwards": expected,
            "receivedForwards": received,
            "forwardedPps": received as f64 / window,
            "loss": loss,
            "latencyUs": {
                "count": lat.len(),
                "p50": percentile(&lat, 0.5),
                "p99": percentile(&lat, 0.99),
                "max": lat.last().map(|v| f64::from(*v)),
            },
            "latencyByReceiverUs": by_receiver,
            "generatorCpuSeconds": run.cpu_at_end - run.cpu_at_start,
            "totalSeconds": run.start.elapsed().as_secs_f64(),
        })
    }
}

/// Where SDP peers bind: SFUs that never gather on loopback (Janus) need
/// the host's own address, which is still local traffic.
fn bind_ip(cmd: &Value) -> std::net::IpAddr {
    cmd["ip"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

fn ids(v: &Value) -> Vec<usize> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as usize)
                .collect()
        })
        .unwrap_or_default()
}
