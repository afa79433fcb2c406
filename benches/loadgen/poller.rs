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

    /// Sleeps for `timeout` (at most a millisecond), then returns the keys
    /// of the sockets that are readable.
    ///
    /// The thread sleeps on a timer, not on its sockets. On loopback, a
    /// datagram's receiving side runs inside the sender's `sendto`, and a
    /// receiver asleep in `epoll_wait` is woken from there: on this kind of
    /// virtual machine that wake-up (an inter-processor interrupt) was a
    /// third of the SFU's perf samples at a fan-out of four, a cost no SFU
    /// pays when its packets leave on a network card. Datagrams wait in
    /// their sockets until the timer; delays are taken from the kernel's
    /// arrival stamps (`arrival.rs`), so the wait is not in them.
    ///
    /// The timer is precise to the microsecond (see `precise_timers`): the
    /// caller sets it for its next send, and a millisecond wait would send
    /// every sender's due packets in one burst per millisecond, so that an
    /// SFU woken once for the burst paid one wake-up for many packets, which
    /// independent browsers do not give it.
    pub fn wait(&mut self, timeout: Duration) -> Vec<usize> {
        let timeout = timeout.min(Duration::from_millis(1));
        if !timeout.is_zero() {
            std::thread::sleep(timeout);
        }
        // SAFETY: the events buffer outlives the call and its length is passed.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                0,
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

/// A 1 µs timer slack for the calling thread (the default is 50 µs), so that
/// its waits end when their deadline is due.
pub fn precise_timers() {
    // SAFETY: plain prctl on the calling thread.
    if unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) } != 0 {
        eprintln!("timer slack not set: sends may leave up to 50 µs late");
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: we own epfd.
        unsafe { libc::close(self.epfd) };
    }
}
