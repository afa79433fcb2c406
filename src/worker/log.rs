//! Rust `tracing` events → the worker's event batch → JS (`setLogEventListeners`
//! and the `debug` package's `opencall:*` namespaces).
//!
//! Filtering follows mediasoup's `logLevel`/`logTags`: warnings and errors
//! pass by level alone; debug events of our own code pass at level `debug`;
//! debug events of the WebRTC stack (str0m, its ICE/DTLS/SCTP crates) are
//! chatty, so they pass only when their tag (ice, dtls, rtp, sctp, bwe, ...)
//! is listed in `logTags`.

use super::{WorkerSettings, outbox};
use serde_json::json;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::{DefaultGuard, Interest};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

const DEBUG: u8 = 0;
const WARN: u8 = 1;
const ERROR: u8 = 2;
const NONE: u8 = 3;

fn level_code(name: &str) -> u8 {
    match name {
        "debug" => DEBUG,
        "warn" => WARN,
        "error" => ERROR,
        _ => NONE,
    }
}

/// Shared with `updateSettings()`, which may change both at run time.
#[derive(Clone)]
pub struct LogFilter {
    level: Arc<AtomicU8>,
    tags: Arc<RwLock<Vec<String>>>,
}

impl LogFilter {
    pub fn new(settings: &WorkerSettings) -> Self {
        Self {
            level: Arc::new(AtomicU8::new(level_code(&settings.log_level))),
            tags: Arc::new(RwLock::new(settings.log_tags.clone())),
        }
    }

    /// On the worker's own thread: with a single worker, tracing asks the
    /// calling thread's subscriber for the hint.
    pub fn update(&self, level: Option<&str>, tags: Option<Vec<String>>) {
        if let Some(level) = level {
            // The process-wide most verbose level any worker wants is
            // recomputed from the subscribers' hints (`max_level_hint`);
            // one recomputation at a time, or a slower one could write a
            // maximum read before another worker's change.
            let _one_at_a_time = REBUILD.lock();
            self.level.store(level_code(level), Ordering::Relaxed);
            tracing::callsite::rebuild_interest_cache();
        }
        if let Some(tags) = tags
            && let Ok(mut t) = self.tags.write()
        {
            *t = tags;
        }
    }

    fn passes_level(&self, level: &Level) -> bool {
        let wanted = self.level.load(Ordering::Relaxed);
        let code = match *level {
            Level::ERROR => ERROR,
            Level::WARN => WARN,
            Level::INFO | Level::DEBUG => DEBUG,
            Level::TRACE => return false,
        };
        wanted != NONE && code >= wanted
    }

    fn tag_enabled(&self, tag: &str) -> bool {
        self.tags
            .read()
            .map(|t| t.iter().any(|x| x == tag))
            .unwrap_or(false)
    }
}

/// The mediasoup log tag a third-party module's events belong to.
fn tag_of(target: &str) -> Option<&'static str> {
    if target.starts_with("opencall") {
        return None;
    }
    Some(
        if target.contains("ice") || target.starts_with("is::") || target == "is" {
            "ice"
        } else if target.contains("dtls") || target.starts_with("dimpl") {
            "dtls"
        } else if target.contains("sctp") {
            "sctp"
        } else if target.contains("bwe") || target.contains("pacer") {
            "bwe"
        } else if target.contains("srtp") {
            "srtp"
        } else if target.contains("rtx") || target.contains("nack") {
            "rtx"
        } else if target.contains("rtcp") {
            "rtcp"
        } else if target.contains("rtp") || target.contains("stream") {
            "rtp"
        } else {
            "info"
        },
    )
}

struct JsLayer {
    filter: LogFilter,
}

impl<S: Subscriber> Layer<S> for JsLayer {
    // Interest is cached per callsite for the whole process; the level can
    // change at run time (updateSettings) and differs between workers, so
    // ask every time (one atomic load).
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.filter.passes_level(metadata.level())
    }

    // The most verbose level this worker passes: tracing compares every
    // event's level with the most verbose hint of all subscribers (one
    // relaxed load) before anything else, so at the default `error` the
    // WebRTC stack's many trace and debug events on the packet path cost
    // nothing more (without a hint each asked its subscriber: a thread-local
    // lookup and a filter call, about a tenth of a received packet's time).
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match self.filter.level.load(Ordering::Relaxed) {
            DEBUG => LevelFilter::DEBUG,
            WARN => LevelFilter::WARN,
            ERROR => LevelFilter::ERROR,
            _ => LevelFilter::OFF,
        })
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = *meta.level();
        if !self.filter.passes_level(&level) {
            return;
        }
        let tag = tag_of(meta.target());
        if level > Level::WARN
            && let Some(tag) = tag
            && !self.filter.tag_enabled(tag)
        {
            return;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        let level_name = match level {
            Level::ERROR => "error",
            Level::WARN => "warn",
            _ => "debug",
        };
        outbox::emit(
            "",
            "log",
            json!({ "level": level_name, "tag": tag, "target": meta.target(), "message": text.0 }),
        );
    }
}

/// "message key=value key=value", like tracing's own formatter.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let mut head = format!("{value:?}");
            if !self.0.is_empty() {
                head.push(' ');
                head.push_str(&self.0);
            }
            self.0 = head;
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={:?}", field.name(), value);
        }
    }
}

/// Serializes the recomputations of tracing's most verbose level: a level
/// change and a new worker's subscriber (whose registration recomputes it).
static REBUILD: Mutex<()> = Mutex::new(());

/// Installs the worker's subscriber on the calling (worker) thread, for as
/// long as the guard lives.
pub fn install(filter: LogFilter) -> Installed {
    let _one_at_a_time = REBUILD.lock();
    let guard = tracing::subscriber::set_default(Registry::default().with(JsLayer { filter }));
    Installed(Some(guard))
}

/// A worker's subscriber, installed. Dropped as the worker ends, it
/// recomputes tracing's most verbose level without it: otherwise a closed
/// debug-level worker's hint would keep every debug callsite asking the
/// remaining workers' subscribers until the next level change.
pub struct Installed(Option<DefaultGuard>);

impl Drop for Installed {
    fn drop(&mut self) {
        // The subscriber goes first (the guard held its only reference).
        drop(self.0.take());
        let _one_at_a_time = REBUILD.lock();
        tracing::callsite::rebuild_interest_cache();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_worker_s_level_no_longer_counts() {
        use std::sync::mpsc::channel;
        let at = |level: &str| {
            LogFilter::new(&WorkerSettings {
                log_level: level.into(),
                ..WorkerSettings::default()
            })
        };
        // A worker at the default level stays up throughout.
        let (ready, is_ready) = channel();
        let (close, closed) = channel::<()>();
        let quiet = at("error");
        let staying = std::thread::spawn(move || {
            let _installed = install(quiet);
            ready.send(()).unwrap();
            let _ = closed.recv();
        });
        is_ready.recv().unwrap();
        let verbose = at("debug");
        std::thread::spawn(move || {
            let _installed = install(verbose);
            assert!(LevelFilter::current() >= LevelFilter::DEBUG);
        })
        .join()
        .unwrap();
        // (Other tests' workers log at the default level, `error`.)
        assert!(LevelFilter::current() < LevelFilter::DEBUG);
        close.send(()).unwrap();
        staying.join().unwrap();
    }
}
