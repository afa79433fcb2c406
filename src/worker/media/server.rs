//! mediasoup's WebRtcServer: UDP sockets and TCP listeners shared by many
//! WebRtcTransports (one port for every call on a worker). A packet finds its
//! transport by the local ICE username fragment of a STUN request, then by
//! the (protocol, remote, local) tuple that request came from.

use super::net::{ListenSocket, SocketOwner};
use super::requests::ListenInfoData;
use super::{Id, Media};
use crate::error::{CoreError, CoreResult};
use crate::ortc::from_json_value;
use crate::transport::{ListenInfo, is_stun};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use str0m::ice::StunMessage;
use str0m::net::Protocol;
use tokio::task::AbortHandle;

type Tuple = (Protocol, SocketAddr, SocketAddr);

pub struct WebRtcServerSlot {
    pub id: Id,
    /// What transports on this server announce as their ICE candidates.
    pub listen: Vec<ListenInfo>,
    sockets: Vec<ListenSocket>,
    tasks: Vec<AbortHandle>,
    transports: Vec<Id>,
    by_ufrag: HashMap<String, Id>,
    by_tuple: HashMap<Tuple, Id>,
    /// Datagrams that matched no transport (dropped).
    unhandled: u64,
}

impl WebRtcServerSlot {
    /// The listen addresses of these protocols ("udp", "tcp"), in that
    /// order; all of them when none is named.
    pub fn listen_for(&self, protocols: &[String]) -> Vec<ListenInfo> {
        if protocols.is_empty() {
            return self.listen.clone();
        }
        protocols
            .iter()
            .filter_map(|p| match p.as_str() {
                "udp" => Some(Protocol::Udp),
                "tcp" => Some(Protocol::Tcp),
                _ => None,
            })
            .flat_map(|p| self.listen.iter().filter(move |l| l.protocol == p).cloned())
            .collect()
    }

    /// The server's sockets, for a transport to send from.
    pub fn shared_sockets(&self) -> Vec<ListenSocket> {
        self.sockets.clone()
    }

    pub fn add_transport(&mut self, transport_id: &Id, ufrag: String) {
        self.transports.push(transport_id.clone());
        self.by_ufrag.insert(ufrag, transport_id.clone());
    }

    /// After an ICE restart: the transport answers to its new ufrag only.
    pub fn set_ufrag(&mut self, transport_id: &Id, ufrag: String) {
        self.by_ufrag.retain(|_, id| id != transport_id);
        self.by_ufrag.insert(ufrag, transport_id.clone());
    }

    pub fn remove_transport(&mut self, transport_id: &str) {
        self.transports.retain(|id| &**id != transport_id);
        self.by_ufrag.retain(|_, id| &**id != transport_id);
        self.by_tuple.retain(|_, id| &**id != transport_id);
    }

    pub fn add_tasks(&mut self, tasks: impl IntoIterator<Item = AbortHandle>) {
        self.tasks.extend(tasks);
    }

    pub fn stop_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.sockets.clear();
    }

    /// The transport a packet is for: a STUN request names it by ufrag
    /// (and teaches the tuple), anything else comes from a known tuple.
    pub fn route(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        local: SocketAddr,
        buf: &[u8],
    ) -> Option<Id> {
        let tuple = (proto, source, local);
        let found = if is_stun(buf) {
            StunMessage::parse(buf)
                .ok()
                .and_then(|m| m.split_username().map(|(l, _)| l.to_owned()))
                .and_then(|ufrag| self.by_ufrag.get(&ufrag).cloned())
                .inspect(|id| {
                    self.by_tuple.insert(tuple, id.clone());
                })
                .or_else(|| self.by_tuple.get(&tuple).cloned())
        } else {
            self.by_tuple.get(&tuple).cloned()
        };
        if found.is_none() {
            self.unhandled += 1;
        }
        found
    }

    pub fn forget_tuple(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        local: SocketAddr,
    ) -> Option<Id> {
        self.by_tuple.remove(&(proto, source, local))
    }

    fn dump(&self) -> Value {
        let addresses = |p: Protocol| -> Vec<Value> {
            self.listen
                .iter()
                .filter(|l| l.protocol == p)
                .map(|l| json!({ "ip": l.address.ip().to_string(), "port": l.address.port() }))
                .collect()
        };
        json!({
            "id": &*self.id,
            "udpSockets": addresses(Protocol::Udp),
            "tcpServers": addresses(Protocol::Tcp),
            "webRtcTransportIds": self.transports.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "localIceUsernameFragments": self.by_ufrag.iter().map(|(u, t)| {
                json!({ "localIceUsernameFragment": u, "webRtcTransportId": &**t })
            }).collect::<Vec<_>>(),
            "tupleHashes": [],
            "unhandledPackets": self.unhandled,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateWebRtcServerData {
    web_rtc_server_id: String,
    listen_infos: Vec<ListenInfoData>,
}

impl Media {
    pub fn create_webrtc_server(&mut self, data: Value) -> CoreResult<Value> {
        let data: CreateWebRtcServerData = from_json_value(data)?;
        if data.listen_infos.is_empty() {
            return Err(CoreError::type_error("missing listenInfos"));
        }
        let id = Id::from(data.web_rtc_server_id);
        if self.servers.contains_key(&id) {
            return Err(CoreError::invalid_state(
                "a WebRtcServer with that id already exists",
            ));
        }
        let (listen, bound) = self.bind_listen_infos(&data.listen_infos)?;
        let (sockets, tasks) = self.start_sockets(SocketOwner::Server(id.clone()), bound)?;
        let slot = WebRtcServerSlot {
            id: id.clone(),
            listen,
            sockets,
            tasks,
            transports: Vec::new(),
            by_ufrag: HashMap::new(),
            by_tuple: HashMap::new(),
            unhandled: 0,
        };
        let dump = slot.dump();
        self.servers.insert(id, slot);
        Ok(dump)
    }

    /// Closes the server and every transport on it.
    pub fn close_webrtc_server(&mut self, server_id: &str) {
        let Some(server) = self.servers.get(server_id) else {
            return;
        };
        for transport_id in server.transports.clone() {
            self.close_transport(&transport_id);
        }
        if let Some(mut server) = self.servers.remove(server_id) {
            server.stop_tasks();
        }
    }

    pub fn dump_webrtc_server(&self, server_id: &str) -> CoreResult<Value> {
        self.servers
            .get(server_id)
            .map(WebRtcServerSlot::dump)
            .ok_or_else(|| CoreError::invalid_state(format!("WebRtcServer {server_id} not found")))
    }
}
