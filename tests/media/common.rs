//! Shared by the socket-level tests: a worker driven through its request
//! channel exactly as the JS layer drives it, and a str0m test client on a
//! real UDP socket on loopback.

use opencall::error::CoreError;
use opencall::ortc::types::{MediaKind, RtpCapabilities, RtpParameters};
use opencall::testclient::TestClient;
use opencall::transport::{DtlsParameters, IceCandidate, IceParameters};
use opencall::worker::{EventSink, Reply, WorkerEvent, WorkerHandle, WorkerSettings};
use serde_json::{Value, json};
use std::net::UdpSocket;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use str0m::net::Transmit;

struct ChannelSink(Mutex<mpsc::Sender<WorkerEvent>>);

impl EventSink for ChannelSink {
    fn deliver(&self, batch: Vec<WorkerEvent>) {
        if let Ok(tx) = self.0.lock() {
            for e in batch {
                let _ = tx.send(e);
            }
        }
    }
}

pub struct Worker {
    pub handle: WorkerHandle,
    pub events: mpsc::Receiver<WorkerEvent>,
    next_id: u64,
}

impl Worker {
    pub fn start() -> Self {
        let (tx, events) = mpsc::channel();
        let settings = WorkerSettings {
            rtc_min_port: 40000,
            rtc_max_port: 49999,
            ..Default::default()
        };
        let handle =
            WorkerHandle::spawn(settings, Box::new(ChannelSink(Mutex::new(tx)))).expect("worker");
        Self {
            handle,
            events,
            next_id: 0,
        }
    }

    pub fn request(&self, method: &str, handler_id: &str, data: Value) -> Result<Value, CoreError> {
        let (tx, rx) = mpsc::channel();
        self.handle.request(
            method.into(),
            handler_id.into(),
            data,
            Reply::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv_timeout(Duration::from_secs(10))
            .expect("worker answered")
    }

    pub fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    pub fn create_router(&mut self) -> (String, RtpCapabilities) {
        let router_id = self.id("router");
        let answer = self
            .request(
                "worker.createRouter",
                "",
                json!({
                    "routerId": router_id,
                    "mediaCodecs": [
                        { "kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2 },
                        { "kind": "video", "mimeType": "video/VP8", "clockRate": 90000 },
                    ],
                }),
            )
            .expect("router");
        let caps = serde_json::from_value(answer["rtpCapabilities"].clone()).expect("caps");
        (router_id, caps)
    }

    pub fn create_transport(&mut self, router_id: &str, protocol: &str) -> (String, Value) {
        let transport_id = self.id("transport");
        let answer = self
            .request(
                "router.createWebRtcTransport",
                router_id,
                json!({ "transportId": transport_id, "listenInfos": [{ "protocol": protocol, "ip": "127.0.0.1" }] }),
            )
            .expect("transport");
        (transport_id, answer)
    }

    /// Events received so far (non-blocking).
    pub fn drain_events(&self) -> Vec<WorkerEvent> {
        self.events.try_iter().collect()
    }
}

/// A str0m peer on its own UDP socket: the Rust stand-in for a browser.
pub struct UdpPeer {
    pub client: TestClient,
    socket: UdpSocket,
    outbox: Vec<Transmit>,
    buf: Vec<u8>,
}

impl UdpPeer {
    fn bind() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        socket
    }

    pub fn sender() -> Self {
        let socket = Self::bind();
        let client = TestClient::sender(socket.local_addr().unwrap(), Instant::now());
        Self {
            client,
            socket,
            outbox: Vec::new(),
            buf: vec![0; 2048],
        }
    }

    pub fn receiver(router: &RtpCapabilities) -> Self {
        let socket = Self::bind();
        let client = TestClient::receiver(socket.local_addr().unwrap(), router, Instant::now());
        Self {
            client,
            socket,
            outbox: Vec::new(),
            buf: vec![0; 2048],
        }
    }

    /// Starts ICE + DTLS toward a transport's answer; returns the
    /// dtlsParameters for `transport.connect`.
    pub fn connect(&mut self, answer: &Value) -> DtlsParameters {
        let ice: IceParameters = serde_json::from_value(answer["iceParameters"].clone()).unwrap();
        let candidates: Vec<IceCandidate> =
            serde_json::from_value(answer["iceCandidates"].clone()).unwrap();
        let dtls: DtlsParameters =
            serde_json::from_value(answer["dtlsParameters"].clone()).unwrap();
        self.client
            .connect(&ice, &candidates, &dtls, &mut self.outbox)
    }

    /// Moves packets between the socket and the client once.
    pub fn pump(&mut self) {
        let now = Instant::now();
        while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
            let data = self.buf[..n].to_vec();
            self.client
                .handle_receive(now, from, &data, &mut self.outbox);
        }
        if self.client.poll_timeout() <= now {
            self.client.handle_timeout(now, &mut self.outbox);
        }
        for t in self.outbox.drain(..) {
            let _ = self.socket.send_to(&t.contents, t.destination);
        }
    }

    pub fn add_producer(
        &mut self,
        kind: MediaKind,
        mid: &str,
        router: &RtpCapabilities,
    ) -> RtpParameters {
        match kind {
            MediaKind::Audio => self
                .client
                .add_audio_producer(mid, router, &mut self.outbox),
            MediaKind::Video => self
                .client
                .add_video_producer(mid, &[], router, &mut self.outbox),
        }
    }

    pub fn send(&mut self, mid: &str, keyframe: bool) {
        self.client
            .send_media(mid, Instant::now(), keyframe, &mut self.outbox);
    }

    pub fn expect_consumer(&mut self, kind: MediaKind, params: &RtpParameters) {
        self.client.expect_consumer(kind, params, &mut self.outbox);
    }
}

/// Pumps every peer until `done` or the deadline.
pub fn pump_until(
    peers: &mut [&mut UdpPeer],
    max: Duration,
    mut done: impl FnMut(&[&mut UdpPeer]) -> bool,
) -> bool {
    let end = Instant::now() + max;
    while Instant::now() < end {
        for p in peers.iter_mut() {
            p.pump();
        }
        if done(peers) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// What /proc says about this process: the figures a leak would move.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    pub threads: usize,
    pub fds: usize,
    pub rss_kib: usize,
}

pub fn footprint() -> Footprint {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> usize {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect(name)
    };
    Footprint {
        threads: field("Threads:"),
        fds: std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .count(),
        rss_kib: field("VmRSS:"),
    }
}

/// Tests of this binary that measure the whole process (threads, fds, RSS)
/// must not overlap with the others: every test takes this lock.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
