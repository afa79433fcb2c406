//! Requests for PlainTransports: create (its UDP socket, and a second one
//! for RTCP without RTCP mux), connect to the peer, dump. Producers and
//! consumers on them go through the same requests as on WebRTC transports.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use super::base64::{base64_decode, base64_encode};
use super::net::SocketOwner;
use super::requests::ListenInfoData;
use super::{Id, Media, TransportSlot};
use crate::error::{CoreError, CoreResult};
use crate::ortc::from_json_value;
use crate::rtp::srtp::CryptoSuite;
use crate::transport::{PlainTransport, PlainTransportOptions, SrtpKey, Transport};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatePlainTransportData {
    transport_id: String,
    listen_info: ListenInfoData,
    rtcp_listen_info: Option<ListenInfoData>,
    #[serde(default = "yes")]
    rtcp_mux: bool,
    #[serde(default)]
    comedia: bool,
    /// A PipeTransport (mediasoup's other plain-RTP transport, between routers).
    #[serde(default)]
    pipe: bool,
    /// SRTP in this suite (`enableSrtp`); the worker makes the key.
    srtp_crypto_suite: Option<String>,
    /// A PipeTransport's `enableRtx`.
    #[serde(default)]
    rtx: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectPlainData {
    ip: Option<String>,
    port: Option<u16>,
    rtcp_port: Option<u16>,
    /// The peer's suite and key.
    srtp_parameters: Option<SrtpParametersData>,
}

/// mediasoup's `SrtpParameters`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SrtpParametersData {
    crypto_suite: String,
    key_base64: String,
}

fn crypto_suite(name: &str) -> CoreResult<CryptoSuite> {
    CryptoSuite::from_name(name)
        .ok_or_else(|| CoreError::type_error(format!("invalid SrtpCryptoSuite: {name}")))
}

impl SrtpParametersData {
    fn key(&self) -> CoreResult<SrtpKey> {
        let suite = crypto_suite(&self.crypto_suite)?;
        let master = base64_decode(&self.key_base64)
            .ok_or_else(|| CoreError::type_error("invalid data (keyBase64 is not base64)"))?;
        if master.len() != suite.master_len() {
            return Err(CoreError::type_error(format!(
                "invalid decoded SRTP key length ({} bytes, {} needs {})",
                master.len(),
                suite.name(),
                suite.master_len()
            )));
        }
        Ok(SrtpKey { suite, master })
    }
}

impl Media {
    pub fn create_plain_transport(&mut self, router_id: &str, data: Value) -> CoreResult<Value> {
        let data: CreatePlainTransportData = from_json_value(data)?;
        if !self.routers.contains_key(router_id) {
            return Err(CoreError::invalid_state(format!(
                "Router with id \"{router_id}\" not found"
            )));
        }
        let transport_id = Id::from(data.transport_id);
        if self.transports.contains_key(&transport_id)
            || self.direct_transports.contains_key(&transport_id)
        {
            return Err(CoreError::invalid_state(
                "a transport with that id already exists",
            ));
        }
        let mut infos = vec![data.listen_info];
        if !data.rtcp_mux {
            // Without RTCP mux, RTCP gets its own socket: where asked, or
            // on the RTP socket's address and a port of its own.
            let rtcp = match data.rtcp_listen_info {
                Some(info) => info,
                None => infos[0].with_any_port(),
            };
            infos.push(rtcp);
        }
        if infos.iter().any(|i| !i.is_udp()) {
            return Err(CoreError::type_error(
                "a PlainTransport listens on UDP only",
            ));
        }
        let srtp = data
            .srtp_crypto_suite
            .as_deref()
            .map(crypto_suite)
            .transpose()?;
        let (listen, bound) = self.bind_listen_infos(&infos)?;
        let now = Instant::now();
        let transport = PlainTransport::new(
            PlainTransportOptions {
                rtp: listen[0].address,
                rtcp: listen.get(1).map(|l| l.address),
                comedia: data.comedia,
                pipe: data.pipe,
                srtp,
                direct: false,
                rtx: data.rtx && data.pipe,
            },
            now,
        );
        let answer = plain_state(&transport);
        let (sockets, tasks) =
            self.start_sockets(SocketOwner::Transport(transport_id.clone()), bound)?;
        if let Some(router) = self.routers.get_mut(router_id) {
            router.transports.push(transport_id.clone());
        }
        let slot = TransportSlot::new(
            transport_id.clone(),
            Id::from(router_id),
            Transport::Plain(transport),
            (sockets, tasks),
            now,
        );
        self.transports.insert(transport_id.clone(), slot);
        self.reschedule(&transport_id);
        Ok(answer)
    }

    /// `plainTransport.connect({ ip, port, rtcpPort })`.
    pub(super) fn connect_plain(&mut self, transport_id: &Id, data: Value) -> CoreResult<Value> {
        let data: ConnectPlainData = from_json_value(data)?;
        let remote = match (data.ip.as_deref(), data.port) {
            (Some(ip), Some(port)) => {
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| CoreError::type_error(format!("invalid ip '{ip}'")))?;
                if port == 0 {
                    return Err(CoreError::type_error("invalid port 0"));
                }
                Some(SocketAddr::new(ip, port))
            }
            (None, None) => None,
            _ => return Err(CoreError::type_error("ip and port go together")),
        };
        let remote_srtp = data
            .srtp_parameters
            .as_ref()
            .map(SrtpParametersData::key)
            .transpose()?;
        let state = self.drive_result(transport_id, |t, out| {
            let plain = t.plain()?;
            plain.connect(remote, data.rtcp_port, remote_srtp, out)?;
            Ok(plain_state(plain))
        })?;
        // Packets may be waiting for the peer (keyframe requests, reports).
        self.reschedule(transport_id);
        Ok(state)
    }
}

/// The fields mediasoup's PlainTransport reports: `tuple`, `rtcpTuple`, ...
fn plain_state(t: &PlainTransport) -> Value {
    json!({
        "rtcpMux": t.rtcp_mux(),
        "comedia": t.comedia(),
        "tuple": t.tuple(),
        "rtcpTuple": t.rtcp_tuple(),
        "rtx": t.rtx_enabled(),
        "srtpParameters": t.srtp_parameters().map(|k| json!({
            "cryptoSuite": k.suite.name(),
            "keyBase64": base64_encode(&k.master),
        })),
    })
}

pub(super) fn plain_transport_dump(slot: &TransportSlot) -> Value {
    let Transport::Plain(t) = &slot.transport else {
        return Value::Null;
    };
    let mut dump = json!({
        "id": &*slot.id,
        "direct": false,
        "producerIds": slot.producers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "consumerIds": slot.consumers.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "mapSsrcConsumerId": {},
        "mapRtxSsrcConsumerId": {},
        "dataProducerIds": [],
        "dataConsumerIds": [],
        "recvRtpHeaderExtensions": {},
        "rtpListener": { "ssrcTable": {}, "midTable": {}, "ridTable": {} },
        "maxMessageSize": 262144,
        "traceEventTypes": slot.trace.names(),
    });
    if let (Value::Object(d), Value::Object(s)) = (&mut dump, plain_state(t)) {
        d.extend(s);
    }
    dump
}
