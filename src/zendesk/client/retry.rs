//! Retry decisions: which failed requests may be sent again, and after how long.
//!
//! Owns: the pure policy (`Replay`, `is_retryable`, `next_delay`, `after_send_failure`)
//! and the backon backoff builder. The client runs the loop with backon; this file decides.
//!
//! Must not: retry a non-idempotent write whose request may have reached Zendesk. Such a
//! write that lost its answer becomes `ZendeskError::InDoubt` for the caller to reconcile.

use std::time::Duration;

use backon::ExponentialBuilder;

use super::error::{RequestContext, ZendeskError};

/// Whether a request may be replayed after it may have reached Zendesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Idempotent (GET, PUT without a comment or marker, DELETE, tag writes): replay freely.
    Safe,
    /// Ticket create carrying an `Idempotency-Key`: Zendesk answers a replay with the
    /// original result, so replay is safe.
    Keyed,
    /// Not idempotent (create without a key, an update adding a comment): replay only when
    /// the request certainly did not reach Zendesk (connection refused, 429, 401 before
    /// refresh); otherwise report `InDoubt`.
    Unsafe,
}

/// How long and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Upper bound on the whole retry effort of one call, waits included.
    pub max_total: Duration,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Largest single backoff delay (`Retry-After` may be longer; `max_total` still holds).
    pub max_delay: Duration,
    /// Most attempts after the first.
    pub max_retries: usize,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_total: Duration::from_secs(120),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_retries: 10,
        }
    }
}

impl RetrySettings {
    /// Exponential backoff with jitter, as backon runs it.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// The error for a request that failed after it may have been sent (timeout, dropped
/// connection, 5xx): `Transient` when replay is safe, `InDoubt` when it is not.
pub fn after_send_failure(replay: Replay, ctx: RequestContext, reason: String) -> ZendeskError {
    match replay {
        Replay::Safe | Replay::Keyed => ZendeskError::Transient { ctx, reason },
        Replay::Unsafe => ZendeskError::InDoubt { ctx, reason },
    }
}

/// Whether `err` may be retried. `Transient` only ever reaches here for requests that are
/// safe to replay or were certainly not sent (see `after_send_failure`); 429 means Zendesk
/// did not process the request, so it is retried for every request.
pub fn is_retryable(err: &ZendeskError) -> bool {
    matches!(
        err,
        ZendeskError::RateLimited { .. } | ZendeskError::Transient { .. }
    )
}

/// The delay before the next attempt: Zendesk's `Retry-After` when it sent one, else the
/// backoff's; `None` (give up) when the backoff is exhausted or the wait would take the
/// whole effort past `max_total`.
pub fn next_delay(
    err: &ZendeskError,
    backoff: Option<Duration>,
    elapsed: Duration,
    max_total: Duration,
) -> Option<Duration> {
    let backoff = backoff?;
    let delay = match err {
        ZendeskError::RateLimited {
            retry_after: Some(ra),
            ..
        } => *ra,
        _ => backoff,
    };
    (elapsed + delay <= max_total).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            account: "acme".into(),
            method: "PUT".into(),
            path: "/api/v2/tickets/1".into(),
            ticket: Some(1),
        }
    }

    #[test]
    fn lost_answers_are_in_doubt_only_for_unsafe_writes() {
        for (replay, in_doubt) in [
            (Replay::Safe, false),
            (Replay::Keyed, false),
            (Replay::Unsafe, true),
        ] {
            let e = after_send_failure(replay, ctx(), "timeout".into());
            assert_eq!(
                matches!(e, ZendeskError::InDoubt { .. }),
                in_doubt,
                "{replay:?}"
            );
            assert_eq!(is_retryable(&e), !in_doubt, "{replay:?}");
        }
    }

    #[test]
    fn what_is_retried() {
        let c = ctx();
        assert!(is_retryable(&ZendeskError::RateLimited {
            ctx: c.clone(),
            retry_after: None
        }));
        for e in [
            ZendeskError::NotFound { ctx: c.clone() },
            ZendeskError::Closed { ctx: c.clone() },
            ZendeskError::CommentLimit { ctx: c.clone() },
            ZendeskError::Conflict { ctx: c.clone() },
            ZendeskError::Auth {
                ctx: c.clone(),
                status: 401,
            },
            ZendeskError::InDoubt {
                ctx: c.clone(),
                reason: "x".into(),
            },
            ZendeskError::Invalid {
                ctx: c.clone(),
                status: 400,
                details: String::new(),
            },
            ZendeskError::Decode {
                ctx: c.clone(),
                reason: String::new(),
            },
        ] {
            assert!(!is_retryable(&e), "{e:?}");
        }
    }

    #[test]
    fn retry_after_overrides_backoff_within_total() {
        let ra = ZendeskError::RateLimited {
            ctx: ctx(),
            retry_after: Some(Duration::from_secs(30)),
        };
        let s = |n| Duration::from_secs(n);
        assert_eq!(next_delay(&ra, Some(s(1)), s(0), s(120)), Some(s(30)));
        assert_eq!(next_delay(&ra, Some(s(1)), s(100), s(120)), None);
        assert_eq!(next_delay(&ra, None, s(0), s(120)), None);
        let t = after_send_failure(Replay::Safe, ctx(), "HTTP 503".into());
        assert_eq!(next_delay(&t, Some(s(2)), s(10), s(120)), Some(s(2)));
        assert_eq!(next_delay(&t, Some(s(2)), s(119), s(120)), None);
    }
}
