//! Following the browser's nominations. mediasoup's ICE server makes the
//! tuple of each nominating check (USE-CANDIDATE) the selected one, so a
//! browser that moves (a network change and an ICE restart, a NAT
//! rebinding) is followed at its first nomination from the new address.
//! str0m's ICE-lite agent keeps the pair it has unless the new one ranks
//! higher, until that pair has had no check for 15 s: as long again without
//! media, after an outage that already cost seconds.
//!
//! The transport gets mediasoup's behaviour from str0m's public API: the
//! address left is dropped as a remote candidate (str0m then ignores
//! checks from it), and given back, as the peer-reflexive candidate str0m
//! would have made of it, when an authenticated check comes from it again.
//! So the latest nomination wins, as in mediasoup, and no address is lost
//! for good. (A nomination from the same remote address to another of our
//! addresses is left to str0m: dropping that remote would drop the new pair
//! too.)

use std::net::SocketAddr;

use str0m::ice::StunMessage;
use str0m::net::Protocol;
use str0m::{Candidate, IceCreds};

/// A binding request that authenticates with our current credentials.
pub struct Check {
    pub nominates: bool,
    /// Its PRIORITY: what a peer-reflexive candidate made of it ranks at.
    pub priority: u32,
}

impl Check {
    pub fn of(msg: &StunMessage<'_>, local: &IceCreds) -> Option<Self> {
        if !msg.is_binding_request() {
            return None;
        }
        let (ours, _) = msg.split_username()?;
        if ours != local.ufrag || !msg.verify(local.pass.as_bytes(), hmac_sha1) {
            return None;
        }
        Some(Self {
            nominates: msg.use_candidate(),
            priority: msg.prio()?,
        })
    }
}

/// Remote addresses the browser nominated away from, which str0m now ignores.
#[derive(Default)]
pub struct LeftAddresses(Vec<(Protocol, SocketAddr)>);

impl LeftAddresses {
    /// The candidate for str0m to drop: the one it made of `addr`. Only
    /// once str0m has dropped it is it `left`.
    pub fn to_leave(proto: Protocol, addr: SocketAddr) -> Option<Candidate> {
        peer_reflexive(proto, addr, 1)
    }

    pub fn left(&mut self, proto: Protocol, addr: SocketAddr) {
        if !self.0.contains(&(proto, addr)) {
            self.0.push((proto, addr));
        }
    }

    /// The candidate to give str0m back, if `addr` was left.
    pub fn come_back(
        &mut self,
        proto: Protocol,
        addr: SocketAddr,
        priority: u32,
    ) -> Option<Candidate> {
        let at = self.0.iter().position(|left| *left == (proto, addr))?;
        self.0.swap_remove(at);
        peer_reflexive(proto, addr, priority)
    }
}

/// The foundation str0m's agent gives the peer-reflexive candidates it makes
/// of checks. A candidate given back under it takes the dropped one's place
/// in the agent's list (it looks them up by foundation, type and address),
/// so each address keeps one entry however often it is left and taken back,
/// and the next drop finds the live one. (The in-memory test that moves a
/// browser back and forth fails if this stops being so.)
const STR0M_PEER_REFLEXIVE_FOUNDATION: &str = "tmp_prflx";

/// As str0m's agent makes one of a check's source: address and base the
/// same, no related address (it compares those, the type and the protocol).
fn peer_reflexive(proto: Protocol, addr: SocketAddr, priority: u32) -> Option<Candidate> {
    let proto = super::proto_name(proto);
    let line = format!(
        "candidate:{STR0M_PEER_REFLEXIVE_FOUNDATION} 1 {proto} {priority} {} {} typ prflx",
        addr.ip(),
        addr.port()
    );
    Candidate::from_sdp_string(&line).ok()
}

/// STUN's MESSAGE-INTEGRITY: HMAC-SHA1 over the given parts.
fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    let mut tag = [0u8; 20];
    tag.copy_from_slice(context.sign().as_ref());
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_left_comes_back_once_at_the_checks_priority() {
        let mut left = LeftAddresses::default();
        let a: SocketAddr = "10.0.0.3:5000".parse().unwrap();
        assert!(left.come_back(Protocol::Udp, a, 7).is_none(), "never left");
        let dropped = LeftAddresses::to_leave(Protocol::Udp, a).unwrap();
        assert_eq!(dropped.addr(), a);
        assert_eq!(dropped.kind(), str0m::CandidateKind::PeerReflexive);
        left.left(Protocol::Udp, a);
        assert!(
            left.come_back(Protocol::Tcp, a, 7).is_none(),
            "another protocol"
        );
        let back = left.come_back(Protocol::Udp, a, 7).unwrap();
        assert_eq!((back.addr(), back.prio()), (a, 7));
        assert!(left.come_back(Protocol::Udp, a, 7).is_none(), "once");
    }

    fn parse_check(buf: &[u8], local: &IceCreds) -> Option<Check> {
        Check::of(&StunMessage::parse(buf).unwrap(), local)
    }

    #[test]
    fn only_checks_that_authenticate_with_our_credentials_count() {
        let ours = IceCreds {
            ufrag: "srv".into(),
            pass: "server-password-0123456789".into(),
        };
        let request = |ufrag: &str, pass: &str, nominate: bool| {
            let username = format!("{ufrag}:brw");
            let msg = StunMessage::binding_request(
                &username,
                str0m::ice::TransId::new(),
                true,
                1,
                0x6e7f_00ff,
                nominate,
            );
            let mut buf = vec![0u8; 512];
            let n = msg
                .to_bytes(Some(pass.as_bytes()), &mut buf, hmac_sha1)
                .unwrap();
            buf.truncate(n);
            buf
        };
        let check = parse_check(&request("srv", &ours.pass, true), &ours).unwrap();
        assert!(check.nominates);
        assert_eq!(check.priority, 0x6e7f_00ff);
        assert!(
            !parse_check(&request("srv", &ours.pass, false), &ours)
                .unwrap()
                .nominates
        );
        assert!(parse_check(&request("srv", "wrong-password-0123456789", true), &ours).is_none());
        assert!(parse_check(&request("old", &ours.pass, true), &ours).is_none());
    }
}
