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
    ///
    /// The wait ends at the deadline to the microsecond (`epoll_pwait2` and
    /// a 1 µs timer slack, see `precise_timers`): browsers send each packet
    /// when it is due, each on its own clock. A millisecond wait would send
    /// every sender's due packets in one burst per millisecond, and an SFU
    /// woken once for a burst pays one wake-up for many packets, which real
    /// traffic does not give it.
    pub fn wait(&mut self, timeout: Duration) -> Vec<usize> {
        let timeout = timeout.min(Duration::from_secs(1));
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: the events buffer outlives the call and its length is
        // passed; ts is valid for the call; a null sigmask is allowed.
        let mut n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        } as i32;
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            // Before Linux 5.11: milliseconds, rounded up so that a deadline
            // 300 µs away does not spin.
            let ms = timeout.as_micros().div_ceil(1000) as i32;
            // SAFETY: as above.
            n = unsafe {
                libc::epoll_wait(
                    self.epfd,
                    self.events.as_mut_ptr(),
                    self.events.len() as i32,
                    ms,
                )
            };
        }
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
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: we own epfd.
        unsafe { libc::close(self.epfd) };
    }
}
