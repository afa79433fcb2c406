//! Cache-line prefetch for the fan-out. A fan-out touches each consumer's
//! state once per packet; between two packets of a producer (milliseconds)
//! the kernel's send path for every other copy (a fresh socket buffer each,
//! ~2.5 KB written) pushes that state out of the first caches, so each piece
//! of it is a miss. The forwarding loop asks for the next copies' state a
//! few copies ahead, one level of pointers per step (see
//! `Media::prefetch_ahead`), so that the copy finds it in cache.

/// Asks the CPU to bring in the cache line holding `p`. A hint only: it never
/// faults, whatever the address; it waits only when the core already has as
/// many lines in flight as it can track.
#[inline(always)]
pub fn line<T: ?Sized>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of x86_64's baseline, and a prefetch reads
        // nothing the program sees: any address is allowed.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`line`] for each cache line `*value` spans, at most `max_lines` of
/// them, from the line where it starts.
#[inline(always)]
pub fn lines<T>(value: &T, max_lines: usize) {
    let start = std::ptr::from_ref(value) as usize;
    let end = start + size_of::<T>();
    let mut at = start & !(LINE - 1);
    for _ in 0..max_lines {
        if at >= end {
            break;
        }
        line(at as *const u8);
        at += LINE;
    }
}

const LINE: usize = 64;
