//! The simulated disk under the daemon's store: a redb [`StorageBackend`] in memory whose
//! synced bytes survive a simulated crash and whose unsynced writes do not (all are lost,
//! or a seeded subset reaches the platter, as a disk cache might have written some of them
//! before the power went).
//!
//! Owns: the [`Platter`] (what is durable, kept across the daemon's incarnations) and the
//! [`DiskFile`] each incarnation opens (its own view: everything it wrote, synced or not).
//! A crash can be armed to happen at a given sync (`crash_at_sync`): the process dies
//! there, with that sync's writes durable or not.
//!
//! Must not: know what the bytes mean (the store does) or let a dead process's writes
//! reach the platter.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::StorageBackend;

use super::Life;

/// One write the disk has not made durable yet.
#[derive(Debug, Clone)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

fn apply(bytes: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write(offset, data) => {
            let start = *offset as usize;
            let end = start + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[start..end].copy_from_slice(data);
        }
        Op::SetLen(len) => bytes.resize(*len as usize, 0),
    }
}

/// What survives a crash.
#[derive(Debug)]
struct PlatterState {
    durable: Vec<u8>,
    /// Syncs made durable so far (all incarnations).
    syncs: u64,
    /// The process dies at this sync (counted from when it was armed).
    crash_at_sync: Option<CrashAtSync>,
    rng: fastrand::Rng,
}

#[derive(Debug, Clone, Copy)]
struct CrashAtSync {
    /// Syncs left before the one it dies at.
    left: u64,
    /// Whether that sync's writes are durable.
    synced: bool,
}

/// The durable bytes of the daemon's store, across its incarnations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Platter {
    state: Arc<Mutex<PlatterState>>,
}

/// The writes of one incarnation's file not yet synced; the world keeps a handle to
/// lose (or partly keep) them at a crash.
#[derive(Debug, Clone, Default)]
pub struct Unsynced {
    ops: Arc<Mutex<Vec<Op>>>,
}

impl Platter {
    pub fn new(seed: u64) -> Platter {
        Platter {
            state: Arc::new(Mutex::new(PlatterState {
                durable: Vec::new(),
                syncs: 0,
                crash_at_sync: None,
                rng: fastrand::Rng::with_seed(seed),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PlatterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file one incarnation opens: the durable bytes, and what it writes from now on.
    pub fn open(&self, life: Arc<Life>) -> (DiskFile, Unsynced) {
        let volatile = self.lock().durable.clone();
        let unsynced = Unsynced::default();
        let file = DiskFile {
            platter: self.clone(),
            volatile: Mutex::new(volatile),
            unsynced: unsynced.clone(),
            life,
        };
        (file, unsynced)
    }

    /// Arms a crash at the `n`-th sync from now (1 = the next one).
    pub fn crash_at_sync(&self, n: u64, synced: bool) {
        self.lock().crash_at_sync = Some(CrashAtSync {
            left: n.max(1) - 1,
            synced,
        });
    }

    pub fn disarm(&self) {
        self.lock().crash_at_sync = None;
    }

    /// The power goes: of the writes `unsynced` holds, none reach the platter, or (`torn`)
    /// a seeded subset of them does, in order. Returns how many were kept.
    pub fn power_loss(&self, unsynced: &Unsynced, torn: bool) -> usize {
        let ops = std::mem::take(&mut *unsynced.ops.lock().unwrap_or_else(|e| e.into_inner()));
        if !torn {
            return 0;
        }
        let mut state = self.lock();
        let mut kept = 0;
        for op in &ops {
            if state.rng.bool() {
                apply(&mut state.durable, op);
                kept += 1;
            }
        }
        kept
    }

    /// Syncs made durable so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Bytes on the platter.
    pub fn len(&self) -> usize {
        self.lock().durable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One incarnation's store file.
pub struct DiskFile {
    platter: Platter,
    /// What this incarnation reads: everything it wrote.
    volatile: Mutex<Vec<u8>>,
    unsynced: Unsynced,
    /// The process; once it is dead nothing more reaches the platter.
    life: Arc<Life>,
}

impl std::fmt::Debug for DiskFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskFile").finish_non_exhaustive()
    }
}

impl DiskFile {
    fn volatile(&self) -> MutexGuard<'_, Vec<u8>> {
        self.volatile.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self, op: Op) {
        if self.life.is_alive() {
            self.unsynced
                .ops
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(op);
        }
    }
}

impl StorageBackend for DiskFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.volatile().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let bytes = self.volatile();
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let src = bytes
            .get(start..start + out.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.volatile().resize(len as usize, 0);
        self.log(Op::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        if !self.life.is_alive() {
            return Ok(());
        }
        let ops = std::mem::take(&mut *self.unsynced.ops.lock().unwrap_or_else(|e| e.into_inner()));
        let mut state = self.platter.lock();
        let dies = match &mut state.crash_at_sync {
            Some(c) if c.left == 0 => Some(c.synced),
            Some(c) => {
                c.left -= 1;
                None
            }
            None => None,
        };
        if dies.is_some() {
            state.crash_at_sync = None;
        }
        if dies != Some(false) {
            for op in &ops {
                apply(&mut state.durable, op);
            }
            state.syncs += 1;
        }
        drop(state);
        if dies.is_some() {
            self.life.kill("crash at a store sync");
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        apply(&mut self.volatile(), &Op::Write(offset, data.to_vec()));
        self.log(Op::Write(offset, data.to_vec()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditKind, NewAudit, Store};

    fn audit(store: &Store, n: u64) {
        store
            .append_audit(NewAudit {
                at: jiff::Timestamp::from_second(1_900_000_000 + n as i64).unwrap(),
                kind: AuditKind::Config,
                subject: format!("s{n}"),
                detail: String::new(),
            })
            .unwrap();
    }

    #[test]
    fn synced_commits_survive_a_crash_and_the_store_reopens() {
        let platter = Platter::new(7);
        let life = Arc::new(Life::new());
        let (file, unsynced) = platter.open(life.clone());
        let store = Store::open_with_backend(file, "sim.redb").unwrap();
        audit(&store, 1);
        audit(&store, 2);
        life.kill("test");
        platter.power_loss(&unsynced, true);
        drop(store);
        let (file, _) = platter.open(Arc::new(Life::new()));
        let store = Store::open_with_backend(file, "sim.redb").unwrap();
        assert_eq!(store.audit_all().unwrap().len(), 2);
    }

    #[test]
    fn a_crash_at_a_sync_keeps_nothing_after_it() {
        for synced in [false, true] {
            let platter = Platter::new(1);
            let life = Arc::new(Life::new());
            let (file, unsynced) = platter.open(life.clone());
            let store = Store::open_with_backend(file, "sim.redb").unwrap();
            audit(&store, 1);
            platter.crash_at_sync(1, synced);
            audit(&store, 2);
            assert!(!life.is_alive());
            audit(&store, 3); // a dead process writes on; nothing of it is kept
            platter.power_loss(&unsynced, false);
            drop(store);
            let (file, _) = platter.open(Arc::new(Life::new()));
            let store = Store::open_with_backend(file, "sim.redb").unwrap();
            let want = if synced { 2 } else { 1 };
            assert_eq!(store.audit_all().unwrap().len(), want, "synced: {synced}");
        }
    }
}
