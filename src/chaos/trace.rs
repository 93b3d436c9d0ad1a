//! The run's trace: every event that crossed a boundary of the simulated world, in order
//! (each API request reaching the simulator and its outcome, each webhook and its fate,
//! each workload action, crash, restart and configuration change), with its simulated
//! time. Its SHA-256 is the run's digest: two runs of one seed took the same path exactly
//! when their digests are equal.
//!
//! Must not: record anything that is not a function of the seed (no wall time, no
//! addresses, no hash-map order).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

struct Inner {
    hasher: Sha256,
    /// Kept only when asked for (a failing run is replayed with them).
    lines: Option<Vec<String>>,
    origin: Instant,
    /// Stamps handed out (`Trace::stamp`).
    stamps: u64,
}

/// Shared by the world and the network. Cheap to clone.
#[derive(Clone)]
pub struct Trace {
    inner: Arc<Mutex<Inner>>,
}

impl Trace {
    pub fn new(keep_lines: bool) -> Trace {
        Trace {
            inner: Arc::new(Mutex::new(Inner {
                hasher: Sha256::new(),
                lines: keep_lines.then(Vec::new),
                origin: Instant::now(),
                stamps: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Milliseconds of simulated time since the run began.
    pub fn now_ms(&self) -> u64 {
        let origin = self.lock().origin;
        Instant::now().saturating_duration_since(origin).as_millis() as u64
    }

    /// A number that orders what happened within one simulated millisecond (the clock
    /// is paused: a write and a reload can share one instant). Not in the digest.
    pub fn stamp(&self) -> u64 {
        let mut inner = self.lock();
        inner.stamps += 1;
        inner.stamps
    }

    /// Appends one event, stamped with the simulated time.
    pub fn record(&self, what: std::fmt::Arguments<'_>) {
        let mut inner = self.lock();
        let ms = Instant::now()
            .saturating_duration_since(inner.origin)
            .as_millis();
        let mut line = String::with_capacity(64);
        let _ = write!(line, "{}.{:03} {what}", ms / 1000, ms % 1000);
        inner.hasher.update(line.as_bytes());
        inner.hasher.update(b"\n");
        if let Some(lines) = &mut inner.lines {
            lines.push(line);
        }
    }

    /// The digest of everything recorded so far (hex, 32 characters).
    pub fn digest(&self) -> String {
        let d = self.lock().hasher.clone().finalize();
        d.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The recorded lines, if they were kept.
    pub fn lines(&self) -> Option<Vec<String>> {
        self.lock().lines.clone()
    }
}

/// A short, stable hash of a body (FNV-1a, 64 bits), for trace lines.
pub fn short_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h >> 32) as u32 ^ h as u32)
}

/// Records one trace line: `trace!(trace, "crash #{n}")`.
macro_rules! trace {
    ($t:expr, $($arg:tt)*) => { $t.record(format_args!($($arg)*)) };
}
pub(crate) use trace;
