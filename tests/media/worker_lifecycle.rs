//! Transports created, connected by real peers over UDP, used and closed,
//! many times over: the worker must give back every thread, socket and
//! byte it took.

use crate::common::{UdpPeer, Worker, footprint, pump_until};
use opencall::ortc::types::{MediaKind, RtpCapabilities, RtpParameters};
use serde_json::json;
use std::time::Duration;

const PAIRS_PER_BATCH: usize = 20;

/// One batch: PAIRS_PER_BATCH send/receive transport pairs, each connected
/// by a peer, one audio producer and its consumer per pair, a few packets
/// through each, then everything closed. Returns the packets received.
fn batch(worker: &mut Worker, router_id: &str, caps: &RtpCapabilities) -> u64 {
    let mut pairs = Vec::new();
    for _ in 0..PAIRS_PER_BATCH {
        let (send_id, send_answer) = worker.create_transport(router_id, "udp");
        let (recv_id, recv_answer) = worker.create_transport(router_id, "udp");
        let mut sender = UdpPeer::sender();
        let mut receiver = UdpPeer::receiver(caps);
        for (peer, id, answer) in [
            (&mut sender, &send_id, &send_answer),
            (&mut receiver, &recv_id, &recv_answer),
        ] {
            let dtls = peer.connect(answer);
            worker
                .request("transport.connect", id, json!({ "dtlsParameters": dtls }))
                .expect("connect");
        }
        pairs.push((send_id, recv_id, sender, receiver));
    }
    let mut peers: Vec<&mut UdpPeer> = pairs.iter_mut().flat_map(|(_, _, s, r)| [s, r]).collect();
    assert!(
        pump_until(&mut peers, Duration::from_secs(10), |p| p
            .iter()
            .all(|p| p.client.is_connected())),
        "every peer connects"
    );
    drop(peers);

    let mut consumers = Vec::new();
    for (send_id, recv_id, sender, receiver) in pairs.iter_mut() {
        let params = sender.add_producer(MediaKind::Audio, "0", caps);
        let producer_id = worker.id("producer");
        worker
            .request(
                "transport.produce",
                send_id,
                json!({ "producerId": producer_id, "kind": "audio", "rtpParameters": params }),
            )
            .expect("produce");
        let consumer_id = worker.id("consumer");
        let answer = worker
            .request(
                "transport.consume",
                recv_id,
                json!({ "consumerId": consumer_id, "producerId": producer_id, "rtpCapabilities": caps }),
            )
            .expect("consume");
        let consumer: RtpParameters =
            serde_json::from_value(answer["rtpParameters"].clone()).unwrap();
        receiver.expect_consumer(MediaKind::Audio, &consumer);
        consumers.push(consumer.encodings[0].ssrc.unwrap());
    }
    for _ in 0..10 {
        for (_, _, sender, _) in pairs.iter_mut() {
            sender.send("0", false);
        }
        let mut peers: Vec<&mut UdpPeer> =
            pairs.iter_mut().flat_map(|(_, _, s, r)| [s, r]).collect();
        pump_until(&mut peers, Duration::from_millis(20), |_| false);
    }
    let mut peers: Vec<&mut UdpPeer> = pairs.iter_mut().flat_map(|(_, _, s, r)| [s, r]).collect();
    pump_until(&mut peers, Duration::from_millis(200), |_| false);
    drop(peers);

    let mut received = 0;
    for ((send_id, recv_id, _, receiver), ssrc) in pairs.iter().zip(consumers) {
        let got = receiver
            .client
            .received
            .get(&ssrc)
            .map(|s| s.packets)
            .unwrap_or(0);
        assert!(got > 0, "every consumer receives media");
        received += got;
        worker
            .request("transport.close", send_id, json!({}))
            .unwrap();
        worker
            .request("transport.close", recv_id, json!({}))
            .unwrap();
    }
    // Closing aborts the sockets' tasks; the worker drops them on its next
    // turn. A round trip through the worker plus a moment makes that happen.
    worker.request("worker.dump", "", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The events go to JS in real use; here they would pile up in the test.
    worker.drain_events();
    received
}

#[test]
fn two_hundred_transports_leave_threads_fds_and_rss_where_they_started() {
    let _serial = crate::common::serial();
    let mut worker = Worker::start();
    let (router_id, caps) = worker.create_router();
    // Warm-up: allocator arenas, lazily created runtime structures.
    batch(&mut worker, &router_id, &caps);
    let before = footprint();
    let mut received = 0;
    let batches = std::env::var("LIFECYCLE_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200 / (2 * PAIRS_PER_BATCH));
    for _ in 0..batches {
        received += batch(&mut worker, &router_id, &caps);
    }
    let after = footprint();
    let dump = worker
        .request("router.dump", &router_id, json!({}))
        .unwrap();
    println!(
        "200 transports, {received} packets forwarded: threads {}/{}, fds {}/{}, RSS {}/{} KiB",
        before.threads, after.threads, before.fds, after.fds, before.rss_kib, after.rss_kib
    );
    assert_eq!(
        dump["transportIds"],
        json!([]),
        "the router holds no transport"
    );
    assert_eq!(after.threads, before.threads, "threads");
    assert_eq!(after.fds, before.fds, "file descriptors");
    // 200 transports at ~100 KB each would be ~20 MB: anything held per
    // transport shows up far above this allowance for allocator noise.
    assert!(
        after.rss_kib < before.rss_kib + 4 * 1024,
        "RSS grew by {} KiB",
        after.rss_kib - before.rss_kib
    );
}
