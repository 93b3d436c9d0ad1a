//! The engine's main loop, [`Engine::run`]: hints go into the scheduler, ticket tasks come
//! out, and every task's end is accounted for — done, retried after a transient failure,
//! parked while an account's credential is dead, or, after a panic, retried later rather
//! than left "running" until a restart. Each configured account has its poller for as
//! long as it is configured: a reload that adds an account starts one, a removed account's
//! stops, a changed account's uses the new client from its next poll on.
//!
//! Must not: decide anything about a ticket (that is `process`); it only sequences.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::hints::Hint;
use super::scheduler::Scheduler;
use super::workers::Worker;
use super::{
    CONCURRENCY, Engine, EngineError, MIN_RETRY, PER_ACCOUNT, RETRY_AFTER, poll, reconcile,
};

/// Delay before a ticket whose task panicked is tried again (a panic is a bug; its ticket
/// is not dropped, but not hammered either).
const PANIC_RETRY: Duration = Duration::from_secs(60);

/// How one ticket task ended.
#[derive(Debug)]
pub(crate) enum Ended {
    Done(Hint, Result<(), EngineError>),
    /// It panicked (the message, when it was a string).
    Panicked(Hint, String),
    /// It was aborted (shutdown).
    Cancelled(Hint),
}

/// The ticket tasks in flight, each known by its ticket even when it panics.
#[derive(Default)]
pub(crate) struct TicketTasks {
    set: JoinSet<(Hint, Result<(), EngineError>)>,
    keys: HashMap<tokio::task::Id, Hint>,
}

impl TicketTasks {
    pub(crate) fn spawn(
        &mut self,
        key: Hint,
        task: impl Future<Output = Result<(), EngineError>> + Send + 'static,
    ) {
        let k = key.clone();
        let handle = self.set.spawn(async move { (k, task.await) });
        self.keys.insert(handle.id(), key);
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next task to end; `None` when none is in flight.
    pub(crate) async fn next(&mut self) -> Option<Ended> {
        let done = self.set.join_next_with_id().await?;
        Some(match done {
            Ok((id, (key, result))) => {
                self.keys.remove(&id);
                Ended::Done(key, result)
            }
            Err(e) => {
                let key = self.keys.remove(&e.id()).unwrap_or(Hint {
                    account: String::new(),
                    ticket: 0,
                });
                if e.is_panic() {
                    let payload = e.into_panic();
                    let msg = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".to_owned());
                    Ended::Panicked(key, msg)
                } else {
                    Ended::Cancelled(key)
                }
            }
        })
    }

    pub(crate) fn abort_all(&mut self) {
        self.set.abort_all();
    }
}

impl Engine {
    /// Starts a recovery pass among the background tasks. A pass that panics (a bug)
    /// asks for another shortly: the writes after the one it stopped at would otherwise
    /// wait for the next start (found by the deterministic simulation, seed 8173: a
    /// transport panic in one settle left a reply in doubt for ever).
    fn spawn_recovery(&self, background: &mut JoinSet<()>) {
        let engine = self.clone();
        background.spawn(async move {
            let pass = crate::tasks::spawn({
                let engine = engine.clone();
                async move { engine.recover().await }
            });
            if let Err(e) = pass.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "a recovery pass panicked (a bug: please report it); another follows shortly");
                engine.metrics().task_panics.inc();
                engine.recover_at(crate::clock::now() + super::RETRY_AFTER);
            }
        });
    }

    /// Runs the engine until `shutdown`: the scheduler loop, one poller per configured
    /// account, the reconcile sweep and the start's recovery pass. On shutdown, stops
    /// taking work and waits up to `daemon.shutdown_grace` for tasks in flight (each ends
    /// between two recorded writes).
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut background = JoinSet::new();
        background.spawn(reconcile::run(self.clone(), shutdown.clone()));
        // Writes a crash left in doubt are settled first thing, in the background: READY
        // never waits on Zendesk (a link's own sync settles its pending write anyway).
        self.spawn_recovery(&mut background);
        let mut pollers: HashMap<String, AbortHandle> = HashMap::new();
        let mut sched = Scheduler::default();
        let mut tasks = TicketTasks::default();
        let hints = self.shared.hints.clone();
        loop {
            self.keep_pollers(&mut background, &mut pollers, &shutdown);
            // Writes in doubt a recovery pass could not decide yet, looked at again.
            if self.take_due_recovery() {
                self.spawn_recovery(&mut background);
            }
            while let Some(ended) = background.try_join_next() {
                if let Err(e) = ended
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a background task panicked (a bug: please report it)");
                    self.metrics().task_panics.inc();
                }
            }
            let window = self.config().daemon.coalesce_window;
            let now = tokio::time::Instant::now();
            // Drained and counted in one step (see `Shared::activity`): a reader never
            // sees a hint drained and not yet counted.
            {
                let mut activity = self.activity();
                for account in self.take_revived() {
                    sched.unpark(&account, now);
                }
                for h in hints.drain() {
                    sched.hint(h, now, window);
                }
                for key in sched.take_due(now, CONCURRENCY.saturating_sub(tasks.len()), PER_ACCOUNT)
                {
                    // A ticket of an account whose credential is dead waits for the fix.
                    if self.shared.workers.credential_dead(&key.account) {
                        let account = key.account.clone();
                        sched.park(key, &account);
                        continue;
                    }
                    let engine = self.clone();
                    let k = key.clone();
                    tasks.spawn(
                        key,
                        async move { engine.process(&k.account, k.ticket).await },
                    );
                }
                *activity = super::Activity {
                    total: sched.waiting() + tasks.len(),
                    by_account: sched.unfinished(),
                };
            }
            self.shared
                .parked
                .store(sched.parked(), std::sync::atomic::Ordering::SeqCst);
            *self
                .shared
                .heartbeat
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
            // Wake at least every second, so the heartbeat shows a live loop.
            let sleep_until = sched
                .next_due(CONCURRENCY.saturating_sub(tasks.len()), PER_ACCOUNT)
                .unwrap_or(now + Duration::from_secs(1))
                .min(now + Duration::from_secs(1));
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = hints.wait() => {}
                Some(ended) = tasks.next(), if !tasks.is_empty() => {
                    self.task_ended(&mut sched, ended, window);
                }
                _ = tokio::time::sleep_until(sleep_until) => {}
            }
        }
        let grace = self.config().daemon.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while tasks.next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "shutdown grace ran out; unfinished writes are reconciled at the next start"
            );
            tasks.abort_all();
            while tasks.next().await.is_some() {}
        }
        // Wait for the aborted pollers too: once `run` returns, no task holds the store.
        background.abort_all();
        while background.join_next().await.is_some() {}
    }

    /// One poller (and OAuth refresher) per configured account: started for a new account, stopped for a
    /// removed one (and started again if it ended).
    fn keep_pollers(
        &self,
        background: &mut JoinSet<()>,
        pollers: &mut HashMap<String, AbortHandle>,
        shutdown: &CancellationToken,
    ) {
        let names: Vec<String> = self.accounts().iter().map(|a| a.name.clone()).collect();
        pollers.retain(|name, handle| {
            let keep = names.contains(name) && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        for name in names {
            if let std::collections::hash_map::Entry::Vacant(slot) = pollers.entry(name) {
                let (engine, name, shutdown) = (self.clone(), slot.key().clone(), shutdown.clone());
                // The account's poller and the background refresh of its OAuth pair.
                let workers = async move {
                    let fresh =
                        super::accounts::keep_fresh(engine.clone(), name.clone(), shutdown.clone());
                    tokio::join!(poll::run(engine, name, shutdown), fresh);
                };
                slot.insert(background.spawn(workers));
            }
        }
    }

    /// Accounts a reload made worth trying again (their parked tickets run now).
    fn take_revived(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .shared
                .revived
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Accounts for how a ticket task ended.
    fn task_ended(&self, sched: &mut Scheduler, ended: Ended, window: Duration) {
        let now = tokio::time::Instant::now();
        let wall = crate::clock::now();
        match &ended {
            Ended::Done(key, Ok(())) => {
                self.shared
                    .workers
                    .succeeded(&key.account, Worker::Auth, wall)
            }
            Ended::Done(key, Err(e)) => match e.dead_credential() {
                Some(dead) => {
                    tracing::error!(account = %key.account, ticket = key.ticket, refused = %dead, error = %e, "credentials refused: the ticket waits until they are fixed and the configuration reloaded");
                    self.shared
                        .workers
                        .failed(&dead, Worker::Auth, &e.to_string(), true, wall);
                }
                None if e.is_transient() => {
                    tracing::warn!(account = %key.account, ticket = key.ticket, error = %e, "will retry")
                }
                None => {
                    tracing::error!(account = %key.account, ticket = key.ticket, error = %e, "ticket not synced")
                }
            },
            Ended::Panicked(key, msg) => {
                tracing::error!(account = %key.account, ticket = key.ticket, panic = %msg, "the ticket's task panicked (a bug: please report it); tried again in a minute");
                self.metrics().task_panics.inc();
            }
            Ended::Cancelled(_) => {}
        }
        let (key, next) = next_for(ended, wall);
        match next {
            Next::Finished => sched.finished(&key, now, window),
            Next::Retry(delay) => sched.retry(key, now + delay),
            Next::Park(account) => sched.park(key, &account),
        }
    }
}

/// What becomes of a ticket after its task.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Finished,
    Retry(Duration),
    /// Until this account's credential works again.
    Park(String),
}

/// Decides what becomes of a ticket after its task ended. Pure.
pub(crate) fn next_for(ended: Ended, now: jiff::Timestamp) -> (Hint, Next) {
    match ended {
        Ended::Done(key, Ok(())) | Ended::Cancelled(key) => (key, Next::Finished),
        Ended::Done(key, Err(e)) => {
            let next = match e.dead_credential() {
                Some(dead) => Next::Park(dead),
                None if e.is_transient() => Next::Retry(
                    e.retry_in(now)
                        .map_or(RETRY_AFTER, |d| d.clamp(MIN_RETRY, RETRY_AFTER)),
                ),
                None => Next::Finished,
            };
            (key, next)
        }
        Ended::Panicked(key, _) => (key, Next::Retry(PANIC_RETRY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(t: u64) -> Hint {
        Hint {
            account: "acme".into(),
            ticket: t,
        }
    }

    #[tokio::test]
    async fn a_task_that_panics_still_names_its_ticket() {
        let mut tasks = TicketTasks::default();
        tasks.spawn(h(1), async { Ok(()) });
        tasks.spawn(h(2), async {
            if true {
                panic!("boom");
            }
            Ok(())
        });
        let mut ended = Vec::new();
        while let Some(e) = tasks.next().await {
            ended.push(e);
        }
        assert!(
            ended
                .iter()
                .any(|e| matches!(e, Ended::Done(k, Ok(())) if k.ticket == 1))
        );
        assert!(
            ended
                .iter()
                .any(|e| matches!(e, Ended::Panicked(k, m) if k.ticket == 2 && m == "boom")),
            "{ended:?}"
        );
        assert!(tasks.is_empty());
    }

    #[tokio::test]
    async fn a_panicked_ticket_is_tried_again_not_left_running() {
        let mut tasks = TicketTasks::default();
        tasks.spawn(h(3), async { panic!("bug") });
        let ended = tasks.next().await.unwrap();
        let now = jiff::Timestamp::UNIX_EPOCH;
        assert_eq!(next_for(ended, now), (h(3), Next::Retry(PANIC_RETRY)));
        // And the other ends, for the table.
        assert_eq!(
            next_for(Ended::Done(h(1), Ok(())), now),
            (h(1), Next::Finished)
        );
        assert_eq!(
            next_for(Ended::Cancelled(h(1)), now),
            (h(1), Next::Finished)
        );
        let refused = EngineError::Zendesk(crate::zendesk::client::ZendeskError::Auth {
            ctx: crate::zendesk::client::RequestContext {
                account: "vendor".into(),
                method: "PUT".into(),
                path: "/api/v2/tickets/1".into(),
                ticket: Some(1),
            },
            status: 401,
        });
        assert_eq!(
            next_for(Ended::Done(h(1), Err(refused)), now),
            (h(1), Next::Park("vendor".into()))
        );
        let lost = EngineError::NotApplied {
            account: "vendor".into(),
            ticket: 1,
        };
        assert_eq!(
            next_for(Ended::Done(h(1), Err(lost)), now),
            (h(1), Next::Retry(RETRY_AFTER))
        );
    }
}
