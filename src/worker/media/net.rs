//! Sockets: one task per UDP socket, per TCP listener and per TCP
//! connection, all on the worker thread. A task waits for readiness, then
//! drains everything readable into the worker state in one borrow, so a
//! burst of packets costs one wake-up and no channel hop.

use super::{Id, SharedState};
use crate::worker::state::WorkerState;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
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
        self.0.get_ref().send_to(contents, destination).is_ok()
    }

    /// Sends datagrams (at most `SEND_BATCH`) in one `sendmmsg` call, or as
    /// few as the kernel allows: one that fails is dropped, as `send_to`
    /// drops it, and the rest still go unless the socket buffer is full.
    fn send_many(&self, datagrams: &[Queued]) {
        if let [one] = datagrams {
            self.send_to(&one.contents, one.destination);
            return;
        }
        let n = datagrams.len().min(SEND_BATCH);
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut addrs: [libc::sockaddr_storage; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut iovs: [libc::iovec; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        for (i, d) in datagrams[..n].iter().enumerate() {
            let len = write_sockaddr(d.destination, &mut addrs[i]);
            iovs[i] = libc::iovec {
                iov_base: d.contents.as_ptr() as *mut libc::c_void,
                iov_len: d.contents.len(),
            };
            let hdr = &mut msgs[i].msg_hdr;
            hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = len;
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
        }
        let fd = self.0.get_ref().as_raw_fd();
        let mut at = 0;
        while at < n {
            // SAFETY: `msgs[at..n]` point into `addrs` and `iovs` and at the
            // datagrams' buffers, all alive and unmoved for the call.
            let sent =
                unsafe { libc::sendmmsg(fd, msgs[at..].as_mut_ptr(), (n - at) as libc::c_uint, 0) };
            if sent > 0 {
                at += sent as usize;
                continue;
            }
            // The error is the first unsent datagram's: drop it, and the
            // rest too if the buffer is full.
            if std::io::Error::last_os_error().kind() == ErrorKind::WouldBlock {
                return;
            }
            at += 1;
        }
    }
}

/// Writes `addr` as a C socket address; its length.
fn write_sockaddr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and
            // aligned for any socket address.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Datagrams held back while one routed packet fans out: at its end (or
/// when full) they go out, consecutive ones on the same socket in one
/// `sendmmsg` call. Transports on a WebRtcServer share its socket, so a
/// fan-out to them costs one syscall per `SEND_BATCH` datagrams instead of
/// one each; a transport's own socket gets one datagram per routed packet,
/// sent as before.
#[derive(Default)]
pub struct SendBatch {
    queued: Vec<Queued>,
}

struct Queued {
    port: Rc<UdpPort>,
    destination: SocketAddr,
    contents: Vec<u8>,
}

/// Datagrams per batch: as many buffers as a transport output keeps spare,
/// so they cycle without allocation.
pub const SEND_BATCH: usize = 32;

impl SendBatch {
    /// Queues a datagram; true when the batch is full (flush it).
    pub fn push(&mut self, port: &Rc<UdpPort>, destination: SocketAddr, contents: Vec<u8>) -> bool {
        self.queued.push(Queued {
            port: port.clone(),
            destination,
            contents,
        });
        self.queued.len() >= SEND_BATCH
    }

    /// Sends everything queued, in order; each buffer goes to `recycle`.
    pub fn flush(&mut self, mut recycle: impl FnMut(Vec<u8>)) {
        let mut at = 0;
        while at < self.queued.len() {
            let port = &self.queued[at].port;
            let run = self.queued[at..]
                .iter()
                .take_while(|q| Rc::ptr_eq(&q.port, port))
                .count();
            port.send_many(&self.queued[at..at + run]);
            at += run;
        }
        for q in self.queued.drain(..) {
            recycle(q.contents);
        }
    }
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
        // it had nothing more (a full batch leaves it ready).
        if drained {
            ready.clear_ready();
        }
        drop(ready);
        tokio::task::yield_now().await;
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
            // ICMP errors (port unreachable...) surface here on Linux: skip them.
            Err(_) => continue,
        }
    }
    st.flush_events();
    drained
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn receiver(ip: &str) -> UdpSocket {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    fn received(s: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 64];
        (0..n)
            .map(|_| {
                let (len, _) = s.recv_from(&mut buf).unwrap();
                buf[..len].to_vec()
            })
            .collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_goes_out_in_order_across_sockets() {
        let shared = Rc::new(UdpPort::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap());
        let own = Rc::new(UdpPort::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap());
        let (a, b) = (receiver("127.0.0.1"), receiver("127.0.0.1"));
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut batch = SendBatch::default();
        // A run of three on the shared socket (to two peers), one on
        // another socket, and one more on the shared socket.
        let plan = [
            (&shared, to_a),
            (&shared, to_b),
            (&shared, to_a),
            (&own, to_b),
            (&shared, to_a),
        ];
        for (i, (port, to)) in plan.iter().enumerate() {
            assert!(!batch.push(port, *to, vec![i as u8; 10 + i]));
        }
        let mut recycled = 0;
        batch.flush(|buf| {
            assert!(buf.capacity() >= 10);
            recycled += 1;
        });
        assert_eq!(recycled, 5);
        assert_eq!(
            received(&a, 3),
            vec![vec![0u8; 10], vec![2u8; 12], vec![4u8; 14]]
        );
        assert_eq!(received(&b, 2), vec![vec![1u8; 11], vec![3u8; 13]]);
        // Nothing is sent twice.
        batch.flush(|_| recycled += 1);
        assert_eq!(recycled, 5);
        a.set_nonblocking(true).unwrap();
        assert!(a.recv_from(&mut [0u8; 64]).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_batch_says_so_and_a_bad_destination_loses_only_its_datagram() {
        let port = Rc::new(UdpPort::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap());
        let a = receiver("127.0.0.1");
        let to_a = a.local_addr().unwrap();
        let mut batch = SendBatch::default();
        for i in 0..SEND_BATCH - 1 {
            // An IPv6 destination from an IPv4 socket fails on its own.
            let to = if i == 3 {
                "[::1]:9".parse().unwrap()
            } else {
                to_a
            };
            assert!(!batch.push(&port, to, vec![i as u8]));
        }
        assert!(batch.push(&port, to_a, vec![99]));
        batch.flush(|_| {});
        let got = received(&a, SEND_BATCH - 1);
        let firsts: Vec<u8> = got.iter().map(|d| d[0]).collect();
        let mut want: Vec<u8> = (0..SEND_BATCH as u8 - 1).filter(|i| *i != 3).collect();
        want.push(99);
        assert_eq!(firsts, want);
    }
}
