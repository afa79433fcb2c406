//! A second UDP socket on a listening socket's port, so that sends leave
//! from a socket that nothing watches.
//!
//! The runtime watches each listening socket with epoll. Every datagram
//! sent from a watched socket, once the kernel has delivered and freed it,
//! wakes the socket's wait queue ("writable again"), and epoll's callback
//! runs to find that nobody waits for that: a spin lock and a callback per
//! forwarded copy, 4–5 % of the worker at a fan-out of 200.
//!
//! Both sockets must use the port the peer knows. The socket bound first
//! (exclusively, as before) becomes the sending one: `SO_REUSEPORT` is set
//! on it, a twin joins its port with `SO_REUSEPORT` and becomes the
//! listening one, and the flag is cleared on both. Linux puts a new IPv4
//! socket at the head of the port's list and, among equal matches, gives a
//! datagram to the first it finds: the twin; and a socket without the flag
//! at the head refuses anyone else who would bind the port. This order is
//! the kernel's, not a promise: it is checked on every pair (datagrams sent
//! to the port reach the twin, not the other; another bind fails), and when
//! anything fails (another kernel, IPv6, few file descriptors left) there
//! is no twin and the one socket listens and sends, as it always did.

use std::net::UdpSocket;
use std::sync::Mutex;

/// One pairing at a time in the process: while a port carries
/// `SO_REUSEPORT`, another worker's socket must not be able to join it.
static PAIRING: Mutex<()> = Mutex::new(());

/// The socket to listen on and, when a pair could be made, the one to send
/// from (see the module's doc). `bound` is freshly bound, not yet used.
pub fn split(bound: UdpSocket) -> (UdpSocket, Option<UdpSocket>) {
    #[cfg(target_os = "linux")]
    {
        let _one_at_a_time = PAIRING.lock().unwrap_or_else(|e| e.into_inner());
        let twin = linux::listening_twin(&bound);
        let _ = linux::set_reuse_port(&bound, false);
        match twin {
            Some(listening) => (listening, Some(bound)),
            None => (bound, None),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = &PAIRING;
        (bound, None)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::io::{Error, ErrorKind, Result};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};
    use std::time::Duration;

    /// Datagrams sent to a new pair's port to check where they arrive.
    const PROBES: u8 = 4;

    pub fn listening_twin(bound: &UdpSocket) -> Option<UdpSocket> {
        let local = bound.local_addr().ok()?;
        if !local.is_ipv4() {
            return None;
        }
        // Set after the first socket's own bind, which therefore still
        // failed on a port someone else held.
        set_reuse_port(bound, true).ok()?;
        let twin = reusable_socket(local).ok()?;
        bind(&twin, local).ok()?;
        set_reuse_port(&twin, false).ok()?;
        set_reuse_port(bound, false).ok()?;
        receives_all(&twin, bound, local).ok()?;
        // Nobody else gets the port.
        let intruder = reusable_socket(local).ok()?;
        bind(&intruder, local).is_err().then_some(())?;
        twin.set_nonblocking(true).ok()?;
        Some(twin)
    }

    /// Datagrams sent to `local` all reach `twin`, none `other`.
    fn receives_all(twin: &UdpSocket, other: &UdpSocket, local: SocketAddr) -> Result<()> {
        let target = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, local.port()))
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::from((Ipv6Addr::LOCALHOST, local.port()))
            }
            _ => local,
        };
        let prober = UdpSocket::bind((target.ip(), 0))?;
        for i in 0..PROBES {
            prober.send_to(&[i], target)?;
        }
        twin.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut buf = [0u8; 4];
        for _ in 0..PROBES {
            let (_, from) = twin.recv_from(&mut buf)?;
            if from != prober.local_addr()? {
                return Err(Error::other("a datagram from elsewhere"));
            }
        }
        other.set_nonblocking(true)?;
        match other.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            _ => Err(Error::other("the sending socket received")),
        }
    }

    pub fn set_reuse_port(socket: &impl AsRawFd, on: bool) -> Result<()> {
        let value: libc::c_int = on.into();
        // SAFETY: an int option on an open socket, with its size.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                (&raw const value).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Error::last_os_error())
        }
    }

    /// A new UDP socket of `local`'s family with `SO_REUSEPORT`, unless it
    /// would take the upper half of the process's file descriptors (those
    /// are left to listening sockets, which a transport cannot do without).
    pub(super) fn reusable_socket(local: SocketAddr) -> Result<UdpSocket> {
        let family = match local {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: creates a descriptor, owned by the `UdpSocket` at once.
        let fd: RawFd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::last_os_error());
        }
        // SAFETY: `fd` is a new socket that nothing else owns.
        let socket = unsafe { UdpSocket::from_raw_fd(fd) };
        if fd as u64 >= descriptor_limit() / 2 {
            return Err(Error::other("few file descriptors left"));
        }
        set_reuse_port(&socket, true)?;
        Ok(socket)
    }

    fn descriptor_limit() -> u64 {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return 0;
        }
        limit.rlim_cur
    }

    pub(super) fn bind(socket: &UdpSocket, local: SocketAddr) -> Result<()> {
        // SAFETY (both arms): a fully initialised address of the socket's
        // family, with its size.
        let r = match local {
            SocketAddr::V4(a) => {
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                unsafe {
                    libc::bind(
                        socket.as_raw_fd(),
                        (&raw const addr).cast(),
                        size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    )
                }
            }
            SocketAddr::V6(a) => {
                let addr = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                unsafe {
                    libc::bind(
                        socket.as_raw_fd(),
                        (&raw const addr).cast(),
                        size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    )
                }
            }
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Error::last_os_error())
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn received(socket: &UdpSocket) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        socket.set_nonblocking(true).unwrap();
        loop {
            match socket.recv_from(&mut buf) {
                Ok((n, _)) => got.push(buf[..n].to_vec()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return got,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn sends_leave_from_the_port_and_everything_arriving_goes_to_the_listening_socket() {
        for ip in ["127.0.0.1", "0.0.0.0"] {
            let (listening, sending) = split(UdpSocket::bind((ip, 0)).unwrap());
            let sending = sending.expect("a send socket");
            let port = listening.local_addr().unwrap().port();
            assert_eq!(sending.local_addr().unwrap().port(), port);
            let to = SocketAddr::from(([127, 0, 0, 1], port));
            // Peers on many source ports (the kernel spreads the datagrams
            // of a `SO_REUSEPORT` group by a hash of the addresses).
            let peers: Vec<UdpSocket> = (0..16)
                .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
                .collect();
            for (i, peer) in peers.iter().enumerate() {
                peer.send_to(&[i as u8], to).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(received(&listening).len(), peers.len(), "{ip}");
            assert!(received(&sending).is_empty(), "{ip}");
            // What it sends comes from the listening port.
            sending
                .send_to(b"out", peers[0].local_addr().unwrap())
                .unwrap();
            let mut buf = [0u8; 8];
            peers[0]
                .set_read_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            let (n, from) = peers[0].recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from.port()), (&b"out"[..], port), "{ip}");
            // The port stays taken: neither a plain bind nor a
            // `SO_REUSEPORT` one gets it.
            let local = listening.local_addr().unwrap();
            assert!(UdpSocket::bind(local).is_err(), "{ip}");
            let intruder = linux::reusable_socket(local).unwrap();
            assert!(linux::bind(&intruder, local).is_err(), "{ip}");
        }
    }

    #[test]
    fn without_a_pair_the_bound_socket_does_both() {
        // IPv6 sockets are listed in another order: no pair is tried.
        let Ok(bound) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 here
        };
        let local = bound.local_addr().unwrap();
        let (listening, sending) = split(bound);
        assert!(sending.is_none());
        assert_eq!(listening.local_addr().unwrap(), local);
        assert!(UdpSocket::bind(local).is_err());
    }
}
