//! When a datagram reached its socket, as the kernel stamped it
//! (`SO_TIMESTAMPNS`), not when the generator got round to reading it.
//!
//! The generator sleeps on a timer, not on its sockets (see `poller.rs`), so
//! it may read a datagram up to a millisecond after it came. The one-way
//! delay of a measured receiver is taken from the kernel's stamp, which the
//! loopback path sets as the SFU's send hands the datagram over: the delay
//! the SFU added, without the generator's own reading delay.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Asks the kernel to stamp every datagram this socket receives.
pub fn stamp_arrivals(socket: &UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `on` for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram: its length, its source, and when it arrived (the
/// kernel's stamp on a socket given to [`stamp_arrivals`], otherwise now).
pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Instant)> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut from: libc::sockaddr_storage = unsafe { zeroed() };
    // Room for an SCM_TIMESTAMPNS message (32 bytes) and to spare; u64 keeps
    // the buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>() as _;
    // SAFETY: every pointer in msg refers to a live local for the call, and
    // each length given (name, iovec, control) is its buffer's.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let arrived = kernel_stamp(&msg).map_or_else(Instant::now, instant_of);
    Ok((n as usize, socket_addr(&from)?, arrived))
}

fn kernel_stamp(msg: &libc::msghdr) -> Option<libc::timespec> {
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return None;
    }
    let stamp_len = size_of::<libc::timespec>() as u32;
    // SAFETY: msg was filled by recvmsg; the CMSG macros stay within
    // msg_controllen, and a stamp is read only from a message long enough
    // to hold one.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                && (*c).cmsg_len as usize >= libc::CMSG_LEN(stamp_len) as usize
            {
                return Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c).cast::<libc::timespec>(),
                ));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// The kernel stamps on the wall clock; the generator's clock is monotonic.
/// Both are read now, and the stamp's age carried over.
fn instant_of(stamp: libc::timespec) -> Instant {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let stamped = Duration::new(stamp.tv_sec as u64, stamp.tv_nsec as u32);
    now.checked_sub(wall.saturating_sub(stamped)).unwrap_or(now)
}

fn socket_addr(s: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(a.sin_addr.s_addr).into(),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                a.sin6_addr.s6_addr.into(),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        f => Err(io::Error::other(format!("address family {f}"))),
    }
}
