//! The floor: the least any SFU must do per packet. A relay thread receives
//! an SRTP packet, decrypts it, and for each consumer rewrites the SSRC,
//! encrypts with that consumer's key and sends it: no ICE, no DTLS, no
//! RTCP, no router. It uses str0m's own AES-256-GCM cipher (AEAD_AES_256_GCM
//! is the SRTP profile str0m offers first, so the one the SFU runs) from the
//! same crypto provider, so the
//! SFU/floor ratio measures everything but the unavoidable crypto and
//! syscalls.
//!
//! Traffic, pacing, loss and latency accounting are the same as for the SFU
//! run: the sender stamps its clock into each payload, most receivers only
//! count datagrams and a few decrypt and record the delay.

use crate::peer::{AUDIO_PAYLOAD, STAMP_MAGIC, VIDEO_PAYLOAD, is_rtp, set_rcvbuf};
use crate::poller::Poller;
use crate::{arrival, clock};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use str0m::crypto::AeadAes256GcmCipher;

const TAG_LEN: usize = 16;
const SENDER_SSRC: [u32; 2] = [0x1000_0001, 0x1000_0002];
const SALT: [u8; 12] = [7; 12];

fn cipher(key_byte: u8, encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
    let provider = str0m::crypto::from_feature_flags();
    provider
        .srtp_provider
        .aead_aes_256_gcm()
        .create_cipher([key_byte; 32], encrypt)
}

/// RFC 7714 §8.1: the 12-byte IV from SSRC, ROC and sequence number.
fn iv(ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq.to_be_bytes());
    for (b, s) in iv.iter_mut().zip(SALT) {
        *b ^= s;
    }
    iv
}

fn header_len(p: &[u8]) -> Option<usize> {
    let mut len = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        let ext = p.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (len + TAG_LEN <= p.len()).then_some(len)
}

/// Rollover counters guessed from sequence numbers, per SSRC (RFC 3711
/// §3.3.1, simplified for in-order loopback traffic).
#[derive(Default)]
struct Rollover(HashMap<u32, (u32, u16)>);

impl Rollover {
    fn roc(&mut self, ssrc: u32, seq: u16) -> u32 {
        let e = self.0.entry(ssrc).or_insert((0, seq));
        if seq < e.1 && e.1 - seq > 0x8000 {
            e.0 += 1;
        }
        e.1 = seq;
        e.0
    }
}

struct Relay {
    input: UdpSocket,
    outputs: Vec<(UdpSocket, SocketAddr)>,
}

fn relay_loop(relay: Relay, stop: Arc<AtomicBool>) {
    let mut decrypt = cipher(1, false);
    let mut encrypt: Vec<Box<dyn AeadAes256GcmCipher>> = (0..relay.outputs.len())
        .map(|i| cipher(2 + (i % 250) as u8, true))
        .collect();
    let mut rollover = Rollover::default();
    let mut buf = vec![0u8; 2048];
    let mut plain = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    let _ = relay
        .input
        .set_read_timeout(Some(Duration::from_millis(50)));
    while !stop.load(Ordering::Relaxed) {
        let n = match relay.input.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(_) => continue,
        };
        let packet = &buf[..n];
        let Some(hlen) = header_len(packet) else {
            continue;
        };
        let ssrc = u32::from_be_bytes(packet[8..12].try_into().unwrap_or_default());
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let roc = rollover.roc(ssrc, seq);
        let header = &packet[..hlen];
        let Ok(plen) = decrypt.decrypt(&iv(ssrc, roc, seq), &[header], &packet[hlen..], &mut plain)
        else {
            continue;
        };
        let kind = usize::from(ssrc == SENDER_SSRC[1]);
        for (i, (socket, dest)) in relay.outputs.iter().enumerate() {
            let consumer_ssrc = 0x2000_0000 + (i as u32) * 2 + kind as u32;
            out[..hlen].copy_from_slice(header);
            out[8..12].copy_from_slice(&consumer_ssrc.to_be_bytes());
            let (head, body) = out.split_at_mut(hlen);
            if encrypt[i]
                .encrypt(&iv(consumer_ssrc, roc, seq), head, &plain[..plen], body)
                .is_ok()
            {
                let _ = socket.send_to(&out[..hlen + plen + TAG_LEN], dest);
            }
        }
    }
}

struct Receiver {
    socket: UdpSocket,
    decrypt: Option<Box<dyn AeadAes256GcmCipher>>,
    rollover: Rollover,
    rtp_in: u64,
    latencies_us: Vec<f32>,
}

impl Receiver {
    fn on_readable(&mut self, buf: &mut [u8], plain: &mut [u8]) {
        loop {
            match arrival::recv(&self.socket, buf) {
                Ok((n, _, arrived)) => {
                    let p = &buf[..n];
                    if !is_rtp(p) {
                        continue;
                    }
                    self.rtp_in += 1;
                    let Some(dec) = self.decrypt.as_mut() else {
                        continue;
                    };
                    let Some(hlen) = header_len(p) else { continue };
                    let ssrc = u32::from_be_bytes(p[8..12].try_into().unwrap_or_default());
                    let seq = u16::from_be_bytes([p[2], p[3]]);
                    let roc = self.rollover.roc(ssrc, seq);
                    if let Ok(len) =
                        dec.decrypt(&iv(ssrc, roc, seq), &[&p[..hlen]], &p[hlen..], plain)
                    {
                        let body = &plain[..len];
                        if len >= 12 && body[..4] == STAMP_MAGIC {
                            let sent =
                                u64::from_be_bytes(body[4..12].try_into().unwrap_or_default());
                            let delay = clock::nanos(arrived).saturating_sub(sent);
                            self.latencies_us.push(delay as f32 / 1000.0);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
    }
}

fn local_socket() -> Result<UdpSocket, String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    set_rcvbuf(&s, 4 << 20);
    Ok(s)
}

pub fn run(cmd: &Value) -> Result<Value, String> {
    let consumers = cmd["consumers"].as_u64().unwrap_or(1) as usize;
    // The receivers that record delays, as `run.js` picks the SFU's.
    let measured: Vec<u64> = cmd["measured"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let pps = [
        cmd["audioPps"].as_f64().unwrap_or(50.0),
        cmd["videoPps"].as_f64().unwrap_or(100.0),
    ];
    let warmup = Duration::from_millis(cmd["warmupMs"].as_u64().unwrap_or(500));
    let duration = Duration::from_millis(cmd["durationMs"].as_u64().unwrap_or(3000));

    let mut poller = Poller::new().map_err(|e| e.to_string())?;
    let mut receivers = Vec::new();
    let mut outputs = Vec::new();
    for i in 0..consumers {
        let socket = local_socket()?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        poller.add(&socket, i).map_err(|e| e.to_string())?;
        let measured = measured.contains(&(i as u64));
        if measured {
            arrival::stamp_arrivals(&socket).map_err(|e| e.to_string())?;
        }
        outputs.push((
            local_socket()?,
            socket.local_addr().map_err(|e| e.to_string())?,
        ));
        receivers.push(Receiver {
            socket,
            decrypt: measured.then(|| cipher(2 + (i % 250) as u8, false)),
            rollover: Rollover::default(),
            rtp_in: 0,
            latencies_us: Vec::new(),
        });
    }
    let input = local_socket()?;
    let relay_addr = input.local_addr().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let relay = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("floor-relay".into())
            .spawn(move || relay_loop(Relay { input, outputs }, stop))
            .map_err(|e| e.to_string())?
    };
    let mut relay_clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive until joined below; the call writes the id.
    unsafe { libc::pthread_getcpuclockid(relay.as_pthread_t(), &mut relay_clock) };

    let sender = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let mut encrypt = cipher(1, true);
    let mut seq = [1u16, 1u16];
    let mut roc = [0u32; 2];
    let mut ts = [0u32; 2];
    let mut sent = [0u64; 2];
    let mut packet = vec![0u8; 2048];
    let mut body = vec![0u8; 2048];
    let (mut buf, mut plain) = (vec![0u8; 2048], vec![0u8; 2048]);

    let start = Instant::now();
    let (window_start, window_end) = (start + warmup, start + warmup + duration);
    let drain_end = window_end + Duration::from_millis(300);
    let mut next = crate::first_sends(start, pps, 0, 1);
    let mut ready: Vec<usize> = Vec::new();
    let (mut started, mut cpu_start, mut cpu_end) = (false, 0.0, 0.0);
    loop {
        let now = Instant::now();
        if !started && now >= window_start {
            started = true;
            cpu_start = clock::cpu_seconds(relay_clock);
            sent = [0; 2];
            for r in &mut receivers {
                r.rtp_in = 0;
                r.latencies_us.clear();
            }
        }
        if now >= window_end && cpu_end == 0.0 {
            cpu_end = clock::cpu_seconds(relay_clock);
        }
        if now >= drain_end {
            break;
        }
        for k in 0..2 {
            if now >= window_end || pps[k] <= 0.0 {
                continue;
            }
            let interval = Duration::from_secs_f64(1.0 / pps[k]);
            let mut burst = 0;
            while next[k] <= now && burst < 64 {
                let size = if k == 1 { VIDEO_PAYLOAD } else { AUDIO_PAYLOAD };
                body[..4].copy_from_slice(&STAMP_MAGIC);
                body[4..12].copy_from_slice(&clock::nanos(Instant::now()).to_be_bytes());
                packet[0] = 0x80;
                packet[1] = 0x80 | if k == 1 { 96 } else { 111 };
                packet[2..4].copy_from_slice(&seq[k].to_be_bytes());
                packet[4..8].copy_from_slice(&ts[k].to_be_bytes());
                packet[8..12].copy_from_slice(&SENDER_SSRC[k].to_be_bytes());
                let (head, rest) = packet.split_at_mut(12);
                if encrypt
                    .encrypt(
                        &iv(SENDER_SSRC[k], roc[k], seq[k]),
                        head,
                        &body[..size],
                        rest,
                    )
                    .is_ok()
                {
                    let _ = sender.send_to(&packet[..12 + size + TAG_LEN], relay_addr);
                }
                sent[k] += 1;
                seq[k] = seq[k].wrapping_add(1);
                if seq[k] == 0 {
                    roc[k] += 1;
                }
                ts[k] = ts[k].wrapping_add(if k == 1 { 3000 } else { 960 });
                next[k] += interval;
                burst += 1;
            }
            if next[k] < now {
                next[k] = now;
            }
        }
        // The packets due first, then what the sockets hold.
        for i in ready.drain(..) {
            receivers[i].on_readable(&mut buf, &mut plain);
        }
        let wake = if now < window_end {
            (0..2)
                .filter(|&k| pps[k] > 0.0)
                .map(|k| next[k])
                .min()
                .unwrap_or(window_end)
        } else {
            drain_end
        };
        ready = poller.wait(wake.saturating_duration_since(Instant::now()));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = relay.join();

    let window = duration.as_secs_f64();
    let received: u64 = receivers.iter().map(|r| r.rtp_in).sum();
    let expected = (sent[0] + sent[1]) * consumers as u64;
    let mut lat: Vec<f32> = receivers
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    lat.sort_by(f32::total_cmp);
    let pct = |p: f64| {
        (!lat.is_empty()).then(|| f64::from(lat[((lat.len() as f64 - 1.0) * p).round() as usize]))
    };
    let cpu = cpu_end - cpu_start;
    Ok(json!({
        "windowSeconds": window,
        "sentPackets": sent[0] + sent[1],
        "expectedForwards": expected,
        "receivedForwards": received,
        "forwardedPps": received as f64 / window,
        "loss": if expected > 0 { (1.0 - received as f64 / expected as f64).max(0.0) } else { 0.0 },
        "latencyUs": { "count": lat.len(), "p50": pct(0.5), "p99": pct(0.99), "max": lat.last().map(|v| f64::from(*v)) },
        "relayCpuSeconds": cpu,
        "cpuPerForward": if received > 0 { cpu / received as f64 } else { 0.0 },
    }))
}
