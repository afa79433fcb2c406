//! Readiness for a few hundred UDP sockets in one thread (level-triggered
//! epoll): the generator must not spend a syscall per idle socket per loop.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

pub struct Poller {
    epfd: i32,
    events: Vec<libc::epoll_event>,
}

impl Poller {
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            epfd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 512],
        })
    }

    pub fn add(&self, socket: &UdpSocket, key: usize) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: key as u64,
        };
        // SAFETY: ev is valid for the call.
        let rc =
            unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, socket.as_raw_fd(), &mut ev) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn remove(&self, socket: &UdpSocket) {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epfd,
                libc::EPOLL_CTL_DEL,
                socket.as_raw_fd(),
                std::ptr::null_mut(),
            );
        }
    }

    /// Keys of the sockets that are readable, waiting at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Vec<usize> {
        // Round up: a zero timeout for a deadline 300 µs away would spin.
        let ms = timeout.as_micros().div_ceil(1000).min(1000) as i32;
        // SAFETY: the events buffer outlives the call and its length is passed.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        if n <= 0 {
            return Vec::new();
        }
        self.events[..n as usize]
            .iter()
            .map(|e| e.u64 as usize)
            .collect()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: we own epfd.
        unsafe { libc::close(self.epfd) };
    }
}
