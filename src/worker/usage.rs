//! Resource usage of the calling thread: real figures for one worker, read on
//! the worker thread itself with RUSAGE_THREAD (the whole process would mix
//! in Node and the other workers).

use serde_json::{Value, json};

fn tv_ms(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 * 1000.0 + tv.tv_usec as f64 / 1000.0
}

pub fn current_thread() -> Value {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return json!({});
    }
    json!({
        "ru_utime": tv_ms(ru.ru_utime),
        "ru_stime": tv_ms(ru.ru_stime),
        "ru_maxrss": ru.ru_maxrss,
        "ru_ixrss": ru.ru_ixrss,
        "ru_idrss": ru.ru_idrss,
        "ru_isrss": ru.ru_isrss,
        "ru_minflt": ru.ru_minflt,
        "ru_majflt": ru.ru_majflt,
        "ru_nswap": ru.ru_nswap,
        "ru_inblock": ru.ru_inblock,
        "ru_oublock": ru.ru_oublock,
        "ru_msgsnd": ru.ru_msgsnd,
        "ru_msgrcv": ru.ru_msgrcv,
        "ru_nsignals": ru.ru_nsignals,
        "ru_nvcsw": ru.ru_nvcsw,
        "ru_nivcsw": ru.ru_nivcsw,
    })
}
