//! Background tasks of the daemon: [`spawn`], the one way daemon code (daemon, engine,
//! server) starts a task that outlives the call that started it.
//!
//! In production it is `tokio::spawn`. In `sharebridge chaos` the daemon is a "process"
//! inside a simulated world: the world enters a [`Process`] on its thread while it starts
//! the daemon, and every task spawned through here from then on is registered with it, so
//! a simulated crash ([`Process::kill`]) aborts every task of that process at once (its
//! memory goes; its store's synced bytes stay), as SIGKILL would. Tasks spawned into a
//! `JoinSet` are owned by the task that holds the set and die with it.
//!
//! Must not: be bypassed by daemon code (a bare `tokio::spawn` there would survive a
//! simulated crash and keep writing). The simulator and the simulated network use
//! `tokio::spawn` on purpose: they are the outside world and keep running.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::task::{AbortHandle, JoinHandle};

thread_local! {
    /// The process whose tasks are being started on this thread, if any.
    static CURRENT: RefCell<Option<Process>> = const { RefCell::new(None) };
}

/// Spawns `task` on the current tokio runtime, registered with the entered [`Process`]
/// if there is one.
pub fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = tokio::spawn(task);
    CURRENT.with(|c| {
        if let Some(p) = &*c.borrow() {
            p.register(handle.abort_handle());
        }
    });
    handle
}

/// The tasks of one simulated daemon process. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Process {
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Process {
    pub fn new() -> Process {
        Process::default()
    }

    /// Makes this the process of every [`spawn`] on this thread until the guard drops.
    pub fn enter(&self) -> Entered {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        Entered { previous }
    }

    /// Registers a task started some other way (e.g. the process's main task).
    pub fn register(&self, task: AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        // Finished tasks are dropped now and then, so a long run keeps a short list.
        if tasks.len() >= 64 {
            tasks.retain(|t| !t.is_finished());
        }
        tasks.push(task);
    }

    /// Aborts every registered task (each stops at its next await point; it is never
    /// polled again).
    pub fn kill(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            t.abort();
        }
    }

    /// Registered tasks that have not finished.
    pub fn live(&self) -> usize {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|t| !t.is_finished())
            .count()
    }
}

/// Restores the previously entered process when dropped.
#[must_use = "spawns are registered only while this guard lives"]
pub struct Entered {
    previous: Option<Process>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn kill_aborts_what_was_spawned_inside() {
        let p = Process::new();
        let inside = {
            let _in = p.enter();
            spawn(async { tokio::time::sleep(Duration::from_secs(60)).await })
        };
        let outside = spawn(async { tokio::time::sleep(Duration::from_secs(1)).await });
        assert_eq!(p.live(), 1);
        p.kill();
        assert!(inside.await.unwrap_err().is_cancelled());
        outside.await.unwrap();
        assert_eq!(p.live(), 0);
    }
}
