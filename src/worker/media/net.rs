//! Sockets: one task per UDP socket, per TCP listener and per TCP
//! connection, all on the worker thread. A task waits for readiness, then
//! drains everything readable into the worker state in one borrow, so a
//! burst of packets costs one wake-up and no channel hop.

use super::{Id, SharedState};
use crate::worker::state::WorkerState;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use str0m::net::Protocol;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A datagram is at most one MTU here; 2 KiB leaves room for odd peers.
const RECV_BUFFER: usize = 2048;
/// Packets handled per wake-up before yielding to the other tasks.
const RECV_BATCH: usize = 64;
/// RFC 4571 frames are at most 64 KiB; cap what a slow TCP peer can make us
/// queue before we start dropping (media is useless when that late).
const TCP_PENDING_LIMIT: usize = 1 << 20;

#[derive(Clone)]
pub enum SocketKind {
    Udp(Rc<UdpPort>),
    Tcp,
}

/// A UDP socket the runtime watches for reading only; sends are plain
/// non-blocking syscalls. (tokio's `UdpSocket` registers write interest too:
/// then each datagram sent, once the kernel has delivered and freed it,
/// queues an EPOLLOUT edge for the runtime to collect, and a fan-out sends
/// hundreds of datagrams for each one it receives.)
pub struct UdpPort(AsyncFd<std::net::UdpSocket>);

impl UdpPort {
    pub fn new(socket: std::net::UdpSocket) -> std::io::Result<Self> {
        // The reader and the sends must never block the worker thread.
        socket.set_nonblocking(true)?;
        // SAFETY: the socket is moved in and owned by the `AsyncFd`, so its
        // descriptor stays open and the same until the `AsyncFd` is dropped.
        unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map(Self)
            .map_err(std::io::Error::from)
    }

    /// Non-blocking: a full socket buffer drops the packet, as the network
    /// would; NACK/RTX and the congestion controller deal with it.
    pub fn send_to(&self, contents: &[u8], destination: SocketAddr) -> bool {
        send_to_fd(self.raw_fd(), contents, destination)
    }

    /// Its descriptor, for [`send_to_fd`] by whoever keeps the port open.
    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A datagram sent on a port's descriptor (non-blocking, as the port's
/// sockets are): [`UdpPort::send_to`], and the packet path with a
/// descriptor it keeps itself. A fan-out sends each copy
/// from another transport's port: reaching the descriptor inside the port's
/// shared allocation was a cache miss per copy, which a descriptor kept in
/// the transport's own slot avoids. The caller keeps the port open.
pub fn send_to_fd(fd: RawFd, contents: &[u8], destination: SocketAddr) -> bool {
    match destination {
        SocketAddr::V4(a) => sendto(
            fd,
            contents,
            &libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            },
        ),
        SocketAddr::V6(a) => sendto(
            fd,
            contents,
            &libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            },
        ),
    }
}

/// sendto(2) to a socket address of type `A` (`sockaddr_in` or `sockaddr_in6`).
fn sendto<A>(fd: RawFd, contents: &[u8], address: &A) -> bool {
    // SAFETY: the data and the address are valid for the call's duration,
    // and each length is its buffer's; a stale descriptor only fails it.
    let sent = unsafe {
        libc::sendto(
            fd,
            contents.as_ptr().cast(),
            contents.len(),
            0,
            (address as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    };
    sent >= 0
}

/// Who a socket delivers to: its own transport, or a WebRtcServer that
/// finds the transport of each packet.
#[derive(Clone)]
pub enum SocketOwner {
    Transport(Id),
    Server(Id),
}

/// One local address a transport listens on, as announced in its candidate.
#[derive(Clone)]
pub struct ListenSocket {
    pub protocol: Protocol,
    pub announced: SocketAddr,
    pub kind: SocketKind,
}

/// An ICE-TCP connection (RFC 4571 framing) accepted on a transport's listener.
pub struct TcpConnection {
    stream: TcpStream,
    pending: RefCell<Vec<u8>>,
    wake: Notify,
}

impl TcpConnection {
    /// Queues one framed packet; returns false when dropped (peer too slow).
    pub fn send(&self, contents: &[u8]) -> bool {
        if contents.len() > u16::MAX as usize {
            return false;
        }
        let mut pending = self.pending.borrow_mut();
        if pending.len() + contents.len() + 2 > TCP_PENDING_LIMIT {
            return false;
        }
        let was_empty = pending.is_empty();
        pending.extend_from_slice(&(contents.len() as u16).to_be_bytes());
        pending.extend_from_slice(contents);
        if was_empty {
            // Try at once: most of the time the kernel takes it all.
            match self.stream.try_write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => pending.clear(),
            }
            if !pending.is_empty() {
                self.wake.notify_one();
            }
        }
        true
    }
}

pub async fn udp_reader(
    state: SharedState,
    owner: SocketOwner,
    socket: Rc<UdpPort>,
    announced: SocketAddr,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let Ok(mut ready) = socket.0.readable().await else {
            return;
        };
        let Some(shared) = state.upgrade() else {
            return;
        };
        let drained = receive_batch(&shared, &owner, socket.0.get_ref(), announced, &mut buf);
        drop(shared);
        // Edge-triggered: wait for the next edge only once the socket said
        // it had nothing more. A full batch leaves it ready, and yields so
        // that the other sockets' tasks run before its next batch; a drained
        // socket's task goes back to waiting at once (yielding there too
        // cost every wake-up a second pass through the scheduler).
        if drained {
            ready.clear_ready();
        } else {
            drop(ready);
            tokio::task::yield_now().await;
        }
    }
}

/// Everything readable (up to a batch) in one borrow of the worker state;
/// true if the socket has nothing more.
fn receive_batch(
    shared: &RefCell<WorkerState>,
    owner: &SocketOwner,
    socket: &std::net::UdpSocket,
    announced: SocketAddr,
    buf: &mut [u8],
) -> bool {
    let mut st = shared.borrow_mut();
    let mut drained = false;
    let mut errors = 0;
    for _ in 0..RECV_BATCH {
        match socket.recv_from(buf) {
            Ok((n, source)) => st.media_mut().on_socket_datagram(
                owner,
                Protocol::Udp,
                source,
                announced,
                &buf[..n],
                None,
            ),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                drained = true;
                break;
            }
            // Not expected on an unconnected socket without IP_RECVERR;
            // skipped.
            Err(e) => {
                if errors == 0 {
                    tracing::debug!("udp receive on {announced}: {e}");
                }
                errors += 1;
            }
        }
    }
    st.flush_events();
    // A batch of nothing but errors: wait for the next readiness edge
    // rather than spin on an error that repeats.
    drained || errors == RECV_BATCH
}

pub async fn tcp_acceptor(
    state: SharedState,
    owner: SocketOwner,
    listener: TcpListener,
    announced: SocketAddr,
) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Rc::new(TcpConnection {
            stream,
            pending: RefCell::new(Vec::new()),
            wake: Notify::new(),
        });
        let Some(shared) = state.upgrade() else {
            return;
        };
        let reader = tokio::task::spawn_local(tcp_reader(
            state.clone(),
            owner.clone(),
            conn.clone(),
            announced,
            remote,
        ));
        let writer = tokio::task::spawn_local(tcp_writer(conn.clone()));
        let accepted = shared.borrow_mut().media_mut().add_tcp_connection(
            &owner,
            announced,
            remote,
            conn,
            [reader.abort_handle(), writer.abort_handle()],
        );
        if !accepted {
            reader.abort();
            writer.abort();
        }
    }
}

async fn tcp_reader(
    state: SharedState,
    owner: SocketOwner,
    conn: Rc<TcpConnection>,
    local: SocketAddr,
    remote: SocketAddr,
) {
    let mut buf = vec![0u8; 64 * 1024 + 2];
    let mut filled = 0usize;
    loop {
        if conn.stream.readable().await.is_err() {
            break;
        }
        match conn.stream.try_read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
        let Some(shared) = state.upgrade() else {
            return;
        };
        let mut st = shared.borrow_mut();
        let mut start = 0;
        while filled - start >= 2 {
            let len = u16::from_be_bytes([buf[start], buf[start + 1]]) as usize;
            if filled - start < 2 + len {
                break;
            }
            st.media_mut().on_socket_datagram(
                &owner,
                Protocol::Tcp,
                remote,
                local,
                &buf[start + 2..start + 2 + len],
                Some(&conn),
            );
            start += 2 + len;
        }
        st.flush_events();
        drop(st);
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    if let Some(shared) = state.upgrade() {
        shared
            .borrow_mut()
            .media_mut()
            .remove_tcp_connection(&owner, local, remote);
    }
}

async fn tcp_writer(conn: Rc<TcpConnection>) {
    loop {
        conn.wake.notified().await;
        while !conn.pending.borrow().is_empty() {
            if conn.stream.writable().await.is_err() {
                return;
            }
            let mut pending = conn.pending.borrow_mut();
            match conn.stream.try_write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}
