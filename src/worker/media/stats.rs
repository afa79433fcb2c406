//! getStats() shapes, as mediasoup reports them, from the transport's
//! counters. Bitrates are measured between two getStats() calls (the first
//! call measures since creation).

use crate::transport::{ConsumerStats, ProducerStats, Transport};
use serde_json::{Value, json};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Counters seen at the previous getStats(), to turn byte counts into bps.
#[derive(Debug, Clone, Default)]
pub struct RateSnapshot {
    at: Option<Instant>,
    values: Vec<u64>,
}

impl RateSnapshot {
    pub fn new(now: Instant) -> Self {
        Self {
            at: Some(now),
            values: Vec::new(),
        }
    }

    /// Bits per second for each byte counter since the last call.
    pub fn rates(&mut self, now: Instant, counters: &[u64]) -> Vec<u64> {
        let elapsed = self
            .at
            .map(|t| now.saturating_duration_since(t).as_secs_f64())
            .unwrap_or(0.0);
        let rates = counters
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let before = self.values.get(i).copied().unwrap_or(0);
                if elapsed > 0.0 {
                    ((v.saturating_sub(before)) as f64 * 8.0 / elapsed) as u64
                } else {
                    0
                }
            })
            .collect();
        self.at = Some(now);
        self.values = counters.to_vec();
        rates
    }
}

pub fn timestamp_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn transport_stats(
    transport_id: &str,
    transport: &Transport,
    rates: &mut RateSnapshot,
    max_incoming_bitrate: Option<u64>,
    now: Instant,
) -> Value {
    let s = transport.stats();
    let r = rates.rates(
        now,
        &[
            s.bytes_received,
            s.bytes_sent,
            s.rtp_bytes_received,
            s.rtp_bytes_sent,
            s.rtx_bytes_received,
            s.rtx_bytes_sent,
        ],
    );
    let mut stat = json!({
        "transportId": transport_id,
        "timestamp": timestamp_ms(),
        "bytesReceived": s.bytes_received,
        "recvBitrate": r[0],
        "bytesSent": s.bytes_sent,
        "sendBitrate": r[1],
        "rtpBytesReceived": s.rtp_bytes_received,
        "rtpRecvBitrate": r[2],
        "rtpBytesSent": s.rtp_bytes_sent,
        "rtpSendBitrate": r[3],
        "rtxBytesReceived": s.rtx_bytes_received,
        "rtxRecvBitrate": r[4],
        "rtxBytesSent": s.rtx_bytes_sent,
        "rtxSendBitrate": r[5],
        "probationBytesSent": 0,
        "probationSendBitrate": 0,
        "availableOutgoingBitrate": s.available_outgoing_bitrate,
        "availableIncomingBitrate": Value::Null,
        "maxIncomingBitrate": max_incoming_bitrate,
        "rtpPacketLossReceived": s.ingress_loss_fraction,
        "rtpPacketLossSent": s.egress_loss_fraction,
    });
    match transport {
        Transport::WebRtc(t) => {
            stat["type"] = json!("webrtc-transport");
            stat["iceRole"] = json!("controlled");
            stat["iceState"] = json!(t.ice_state());
            stat["iceSelectedTuple"] = json!(t.ice_selected_tuple());
            stat["dtlsState"] = json!(t.dtls_state());
        }
        Transport::Plain(t) => {
            stat["type"] = json!("plain-rtp-transport");
            stat["rtcpMux"] = json!(t.rtcp_mux());
            stat["comedia"] = json!(t.comedia());
            stat["tuple"] = json!(t.tuple());
            stat["rtcpTuple"] = json!(t.rtcp_tuple());
        }
    }
    stat
}

pub fn producer_scores(transport: &Transport, producer_id: &str) -> Value {
    let stats = transport.producer_stats(producer_id);
    Value::Array(
        stats
            .iter()
            .map(|s| json!({ "encodingIdx": s.encoding, "ssrc": s.ssrc, "rid": s.rid, "score": s.score }))
            .collect(),
    )
}

/// What mediasoup's `inbound-rtp` and `outbound-rtp` stats have in common.
struct RtpStreamFigures<'a> {
    kind: &'a str,
    mime_type: &'a str,
    ssrc: u32,
    packets_lost: u64,
    loss: Option<f32>,
    nacks: u64,
    nack_packets: u64,
    retransmitted: u64,
    repaired: u64,
    plis: u64,
    firs: u64,
    score: u8,
    packets: u64,
    bytes: u64,
    bitrate: u64,
    rtt: Option<std::time::Duration>,
}

fn rtp_stream(stat_type: &str, f: RtpStreamFigures<'_>) -> Value {
    json!({
        "type": stat_type,
        "timestamp": timestamp_ms(),
        "ssrc": f.ssrc,
        "kind": f.kind,
        "mimeType": f.mime_type,
        "packetsLost": f.packets_lost,
        // RTCP's 8-bit fixed-point fraction, as mediasoup reports it.
        "fractionLost": f.loss.map(|l| (l * 256.0) as u32).unwrap_or(0),
        "packetsDiscarded": 0,
        "packetsRetransmitted": f.retransmitted,
        "packetsRepaired": f.repaired,
        "nackCount": f.nacks,
        "nackPacketCount": f.nack_packets,
        "pliCount": f.plis,
        "firCount": f.firs,
        "score": f.score,
        "packetCount": f.packets,
        "byteCount": f.bytes,
        "bitrate": f.bitrate,
        "roundTripTime": f.rtt.map(|d| d.as_secs_f64() * 1000.0),
    })
}

pub fn inbound_rtp(s: &ProducerStats, kind: &str, mime_type: &str, bitrate: u64) -> Value {
    let mut stat = rtp_stream(
        "inbound-rtp",
        RtpStreamFigures {
            kind,
            mime_type,
            ssrc: s.ssrc.unwrap_or(0),
            packets_lost: s.packets_lost,
            loss: s.loss,
            nacks: s.nacks,
            nack_packets: s.nack_packets,
            retransmitted: s.retransmitted,
            repaired: s.repaired,
            plis: s.plis,
            firs: s.firs,
            score: s.score,
            packets: s.packets,
            bytes: s.bytes,
            bitrate,
            rtt: s.rtt,
        },
    );
    stat["rid"] = json!(s.rid);
    stat["jitter"] = json!(s.jitter);
    stat["bitrateByLayer"] = json!({});
    stat
}

pub fn outbound_rtp(s: &ConsumerStats, kind: &str, mime_type: &str, bitrate: u64) -> Value {
    let mut stat = rtp_stream(
        "outbound-rtp",
        RtpStreamFigures {
            kind,
            mime_type,
            ssrc: s.ssrc,
            packets_lost: s.packets_lost.unwrap_or(0),
            loss: s.loss,
            nacks: s.nacks,
            nack_packets: s.nack_packets,
            retransmitted: s.retransmitted,
            repaired: s.repaired,
            plis: s.plis,
            firs: s.firs,
            score: s.score,
            packets: s.packets,
            bytes: s.bytes,
            bitrate,
            rtt: s.rtt,
        },
    );
    stat["rtxSsrc"] = json!(s.rtx_ssrc);
    stat
}
