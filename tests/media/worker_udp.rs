//! The worker end to end over real UDP on loopback: transports created and
//! connected through the request channel (as the JS layer does), a str0m
//! peer producing VP8 and opus, another consuming both through the SFU.

use crate::common::{UdpPeer, Worker, pump_until};
use opencall::ortc::types::{MediaKind, RtpParameters};
use serde_json::json;
use std::time::{Duration, Instant};

fn connect(worker: &Worker, peer: &mut UdpPeer, transport_id: &str, answer: &serde_json::Value) {
    let dtls = peer.connect(answer);
    worker
        .request(
            "transport.connect",
            transport_id,
            json!({ "dtlsParameters": dtls }),
        )
        .expect("connect");
}

#[test]
fn media_flows_from_a_producer_to_a_consumer_through_the_worker() {
    let _serial = crate::common::serial();
    let mut worker = Worker::start();
    let (router_id, caps) = worker.create_router();
    let (send_id, send_answer) = worker.create_transport(&router_id, "udp");
    let (recv_id, recv_answer) = worker.create_transport(&router_id, "udp");
    let candidate = &send_answer["iceCandidates"][0];
    assert_eq!(candidate["ip"], "127.0.0.1");
    assert_eq!(candidate["protocol"], "udp");
    let port = candidate["port"].as_u64().unwrap();
    assert!(
        (40000..=49999).contains(&port),
        "port {port} is in the worker's range"
    );

    let mut sender = UdpPeer::sender();
    let mut receiver = UdpPeer::receiver(&caps);
    connect(&worker, &mut sender, &send_id, &send_answer);
    connect(&worker, &mut receiver, &recv_id, &recv_answer);
    assert!(
        pump_until(
            &mut [&mut sender, &mut receiver],
            Duration::from_secs(5),
            |p| p.iter().all(|p| p.client.is_connected())
        ),
        "both peers connect (ICE + DTLS) over UDP"
    );

    let mut consumers = Vec::new();
    for (kind, mid) in [(MediaKind::Video, "0"), (MediaKind::Audio, "1")] {
        let params = sender.add_producer(kind, mid, &caps);
        let producer_id = worker.id("producer");
        let answer = worker
            .request(
                "transport.produce",
                &send_id,
                json!({ "producerId": producer_id, "kind": kind, "rtpParameters": params, "paused": false }),
            )
            .expect("produce");
        assert_eq!(answer["type"], "simple");
        let consumer_id = worker.id("consumer");
        let answer = worker
            .request(
                "transport.consume",
                &recv_id,
                json!({ "consumerId": consumer_id, "producerId": producer_id, "rtpCapabilities": caps, "paused": false }),
            )
            .expect("consume");
        let consumer_params: RtpParameters =
            serde_json::from_value(answer["rtpParameters"].clone()).unwrap();
        receiver.expect_consumer(kind, &consumer_params);
        consumers.push((mid, consumer_params));
    }

    // 2 s of media: 20 ms per packet, a keyframe every second.
    let start = Instant::now();
    let mut sent = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        for (mid, _) in &consumers {
            sender.send(mid, sent.is_multiple_of(50));
        }
        sent += 1;
        pump_until(
            &mut [&mut sender, &mut receiver],
            Duration::from_millis(20),
            |_| false,
        );
    }
    pump_until(
        &mut [&mut sender, &mut receiver],
        Duration::from_millis(300),
        |_| false,
    );

    for (mid, params) in &consumers {
        let ssrc = params.encodings[0].ssrc.unwrap();
        let stream = receiver
            .client
            .received
            .get(&ssrc)
            .unwrap_or_else(|| panic!("consumer {mid} received nothing"));
        let router_pt = params.codecs[0].payload_type;
        println!(
            "consumer mid {mid}: {} of {sent} packets, ssrc {ssrc}",
            stream.packets
        );
        assert!(
            stream.packets as f64 >= sent as f64 * 0.9,
            "mid {mid}: {} of {sent}",
            stream.packets
        );
        assert!(
            stream.payload_types.iter().all(|pt| *pt == router_pt),
            "router payload type"
        );
        assert_eq!(stream.corrupt_payloads, 0, "payloads arrive intact");
        assert!(
            stream.seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "contiguous sequence numbers"
        );
    }

    let stats = worker
        .request("transport.getStats", &recv_id, json!({}))
        .unwrap();
    assert_eq!(stats[0]["type"], "webrtc-transport");
    assert_eq!(stats[0]["dtlsState"], "connected");
    assert!(stats[0]["bytesSent"].as_u64().unwrap() > 10_000);
    // Send-side bandwidth estimation runs on the consuming transport, and
    // setMaxOutgoingBitrate bounds what it reports.
    let available = stats[0]["availableOutgoingBitrate"]
        .as_u64()
        .expect("an outgoing estimate");
    println!("available outgoing bitrate {available} bps");
    worker
        .request(
            "transport.setMaxOutgoingBitrate",
            &recv_id,
            json!({ "bitrate": 150_000 }),
        )
        .unwrap();
    let capped = worker
        .request("transport.getStats", &recv_id, json!({}))
        .unwrap();
    assert!(capped[0]["availableOutgoingBitrate"].as_u64().unwrap() <= 150_000);
    let events = worker.drain_events();
    assert!(events.iter().any(|e| e.target_id == send_id
        && e.event == "dtlsstatechange"
        && e.data["dtlsState"] == "connected"));
    assert!(
        events
            .iter()
            .any(|e| e.target_id == recv_id && e.event == "icestatechange")
    );
    worker
        .request("transport.close", &send_id, json!({}))
        .unwrap();
    worker
        .request("transport.close", &recv_id, json!({}))
        .unwrap();
}

#[test]
fn a_peer_that_goes_silent_is_reported_disconnected() {
    let _serial = crate::common::serial();
    let mut worker = Worker::start();
    let (router_id, _caps) = worker.create_router();
    let (transport_id, answer) = worker.create_transport(&router_id, "udp");
    let mut peer = UdpPeer::sender();
    connect(&worker, &mut peer, &transport_id, &answer);
    assert!(pump_until(&mut [&mut peer], Duration::from_secs(5), |p| p
        [0]
    .client
    .is_connected()));
    worker.drain_events();
    // The peer stops answering (its consent checks stop); the server must
    // notice without being told.
    let silent_since = Instant::now();
    let mut disconnected = None;
    while silent_since.elapsed() < Duration::from_secs(40) && disconnected.is_none() {
        if let Ok(e) = worker.events.recv_timeout(Duration::from_millis(200))
            && e.target_id == transport_id
            && e.event == "icestatechange"
            && e.data["iceState"] == "disconnected"
        {
            disconnected = Some(silent_since.elapsed());
        }
    }
    let after = disconnected.expect("icestatechange 'disconnected' for a silent peer");
    println!(
        "silent peer reported disconnected after {:.1} s",
        after.as_secs_f64()
    );
    worker
        .request("transport.close", &transport_id, json!({}))
        .unwrap();
}
