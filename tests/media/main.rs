//! Integration tests of the media plane, in one test binary (each binary
//! links the whole SFU, so fewer binaries build faster):
//! - `in_memory`: transports and router wired in memory, virtual clock;
//! - `worker_udp`: a worker driven through its request channel over UDP;
//! - `worker_lifecycle`: many transports created, used and closed.

mod common;
mod in_memory;
mod worker_lifecycle;
mod worker_udp;
