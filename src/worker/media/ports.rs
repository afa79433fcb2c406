//! Binding a transport's sockets inside the worker's port range, as
//! mediasoup does: a random starting point, then the next free port, so that
//! concurrent workers rarely collide and a busy port is simply skipped.

use crate::error::{CoreError, CoreResult};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

/// The range a listen info may bind in: an explicit port, its own
/// `portRange`, or the worker's `rtcMinPort..=rtcMaxPort`.
#[derive(Debug, Clone, Copy)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

fn random_offset(span: u32) -> u32 {
    // No need for a CSPRNG: this only spreads binds over the range.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos.wrapping_mul(2654435761) ^ std::process::id();
    mixed % span.max(1)
}

fn bind_in_range<T>(
    ip: IpAddr,
    range: PortRange,
    bind: impl Fn(SocketAddr) -> std::io::Result<T>,
) -> CoreResult<T> {
    if range.min > range.max || range.min == 0 {
        return Err(CoreError::type_error(format!(
            "invalid port range {}-{}",
            range.min, range.max
        )));
    }
    let span = u32::from(range.max - range.min) + 1;
    let start = random_offset(span);
    let mut last_error = None;
    for i in 0..span {
        let port = range.min as u32 + (start + i) % span;
        match bind(SocketAddr::new(ip, port as u16)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(CoreError::other(format!("cannot bind {ip}:{port}: {e}"))),
        }
    }
    Err(CoreError::other(format!(
        "no free port in {}-{} on {ip}: {}",
        range.min,
        range.max,
        last_error.map(|e| e.to_string()).unwrap_or_default()
    )))
}

pub fn bind_udp(ip: IpAddr, port: Option<u16>, range: PortRange) -> CoreResult<UdpSocket> {
    let socket = match port {
        Some(p) if p != 0 => UdpSocket::bind(SocketAddr::new(ip, p))
            .map_err(|e| CoreError::other(format!("cannot bind udp {ip}:{p}: {e}")))?,
        _ => bind_in_range(ip, range, UdpSocket::bind)?,
    };
    // Made non-blocking where the runtime takes it (`net::UdpPort::new`).
    set_recv_buffer(&socket, UDP_RECV_BUFFER);
    Ok(socket)
}

/// Receive buffer asked for on every UDP socket. The kernel default (about
/// 200 KB, some 90 full-size datagrams) overflows when the worker thread is
/// kept off the CPU for a few tens of milliseconds at high ingress rates: on a
/// busy host every datagram past that is dropped, and one dropped producer
/// packet is lost for all of its consumers. The memory is only used while
/// packets wait; the kernel caps the request at `net.core.rmem_max`.
const UDP_RECV_BUFFER: i32 = 1 << 20;

fn set_recv_buffer(socket: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt only reads `bytes` during the call; a failure
    // leaves the default buffer, which still works.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

pub fn bind_tcp(ip: IpAddr, port: Option<u16>, range: PortRange) -> CoreResult<TcpListener> {
    let listener = match port {
        Some(p) if p != 0 => TcpListener::bind(SocketAddr::new(ip, p))
            .map_err(|e| CoreError::other(format!("cannot bind tcp {ip}:{p}: {e}")))?,
        _ => bind_in_range(ip, range, TcpListener::bind)?,
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| CoreError::other(format!("cannot set non-blocking: {e}")))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_inside_the_range_and_skips_busy_ports() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let range = PortRange {
            min: 47100,
            max: 47101,
        };
        let a = bind_udp(ip, None, range).unwrap();
        let b = bind_udp(ip, None, range).unwrap();
        let ports = [
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        ];
        assert!(ports.contains(&47100) && ports.contains(&47101));
        assert!(bind_udp(ip, None, range).is_err(), "the range is exhausted");
    }

    #[test]
    fn rejects_an_empty_range() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(bind_tcp(ip, None, PortRange { min: 10, max: 9 }).is_err());
    }
}
