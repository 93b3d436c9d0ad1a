//! The engine's errors: what failed, where (account, ticket, link, agreement) and what to do.

use crate::agreement::State;
use crate::store::StoreError;
use crate::zendesk::client::ZendeskError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Zendesk(#[from] ZendeskError),
    #[error("account {0:?} is not configured; see `sharebridge check-config`")]
    UnknownAccount(String),
    #[error("no agreement shares from {from} to {to}; add one to the configuration")]
    NoAgreement { from: String, to: String },
    #[error(
        "agreement {name} is {state}, not accepted: tickets flow only under an accepted agreement (the receiver lists the sender in accept_from)"
    )]
    NotAccepted { name: String, state: State },
    #[error(
        "{account} ticket {ticket} is closed: Zendesk does not let closed tickets be shared or updated"
    )]
    Closed { account: String, ticket: u64 },
    #[error("{account} ticket {ticket} does not exist or was deleted")]
    TicketNotFound { account: String, ticket: u64 },
    #[error("link {0} does not exist; see `sharebridge links list`")]
    UnknownLink(u64),
    #[error("{account} ticket {ticket} is not shared with {to}; see `sharebridge links list`")]
    NotShared {
        account: String,
        ticket: u64,
        to: String,
    },
    #[error(
        "mirror {account} ticket {ticket} belongs to orphaned link {link}; run `sharebridge resync {link} --relink` to re-attach it"
    )]
    MirrorOfOrphan {
        account: String,
        ticket: u64,
        link: u64,
    },
    #[error(
        "{account} ticket {ticket} is a mirror of a {to} ticket: a mirror is never shared back into the account it mirrors"
    )]
    MirrorOfReceiver {
        account: String,
        ticket: u64,
        to: String,
    },
    #[error(
        "link {id} is orphaned: `sharebridge resync {id} --relink` re-attaches it to its mirror, or `share` the ticket again"
    )]
    Orphaned { id: u64 },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error(
        "a write to {account} ticket {ticket} lost its answer and did not land; it is sent again"
    )]
    NotApplied { account: String, ticket: u64 },
    #[error(
        "a write to {account} ticket {ticket} lost its answer and is not visible there yet; it is decided by {until} (daemon.in_doubt_wait) and never sent twice"
    )]
    Undecided {
        account: String,
        ticket: u64,
        until: jiff::Timestamp,
    },
    #[error(
        "{source_account} ticket {ticket} is not shared into {account} yet: the mirror an earlier, ended link asked for may still be created there; decided by {until} (daemon.in_doubt_wait), never two mirrors"
    )]
    EarlierMirror {
        source_account: String,
        ticket: u64,
        account: String,
        until: jiff::Timestamp,
    },
    #[error(
        "replies to {account} ticket {ticket} wait for an older one on the mirror of link {sibling}, so that they appear in the order they were written"
    )]
    Behind {
        account: String,
        ticket: u64,
        sibling: u64,
    },
    #[error(
        "a write to {account} ticket {ticket} was not sent: {reason}; what it carried is read and planned again shortly"
    )]
    Replan {
        account: String,
        ticket: u64,
        reason: &'static str,
    },
}

impl EngineError {
    /// Worth trying again later (the network, Zendesk's limits, a write in doubt).
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Zendesk(e) => {
                !e.is_permanent() && !matches!(e, ZendeskError::Auth { status: 403, .. })
            }
            EngineError::NotApplied { .. }
            | EngineError::Undecided { .. }
            | EngineError::EarlierMirror { .. }
            | EngineError::Behind { .. }
            | EngineError::Replan { .. } => true,
            _ => false,
        }
    }

    /// The account whose credential Zendesk refused (401, or a refused OAuth refresh):
    /// its work waits for the fix instead of being retried. A 403 is not one (a ticket
    /// the bridge's user may not see).
    pub fn dead_credential(&self) -> Option<String> {
        match self {
            EngineError::Zendesk(ZendeskError::Auth { ctx, status }) if *status != 403 => {
                Some(ctx.account.clone())
            }
            _ => None,
        }
    }

    /// When to try again after this transient failure (`None`: the usual delay).
    pub fn retry_in(&self, now: jiff::Timestamp) -> Option<std::time::Duration> {
        match self {
            EngineError::Undecided { until, .. } | EngineError::EarlierMirror { until, .. } => {
                std::time::Duration::try_from(until.duration_since(now)).ok()
            }
            _ => None,
        }
    }

    /// A failure of one link that retrying will not cure: the link goes to `error`.
    pub fn breaks_link(&self) -> bool {
        match self {
            EngineError::Zendesk(e) => {
                e.is_permanent()
                    || matches!(
                        e,
                        ZendeskError::Decode { .. } | ZendeskError::Auth { status: 403, .. }
                    )
            }
            EngineError::Closed { .. } => true,
            _ => false,
        }
    }

    /// The HTTP status the admin API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            EngineError::UnknownAccount(_)
            | EngineError::UnknownLink(_)
            | EngineError::TicketNotFound { .. }
            | EngineError::NotShared { .. } => 404,
            EngineError::NoAgreement { .. }
            | EngineError::NotAccepted { .. }
            | EngineError::Closed { .. }
            | EngineError::MirrorOfOrphan { .. }
            | EngineError::MirrorOfReceiver { .. }
            | EngineError::Orphaned { .. } => 409,
            EngineError::ShuttingDown
            | EngineError::NotApplied { .. }
            | EngineError::Undecided { .. }
            | EngineError::EarlierMirror { .. }
            | EngineError::Behind { .. }
            | EngineError::Replan { .. } => 503,
            EngineError::Zendesk(_) => 502,
            EngineError::Store(_) => 500,
        }
    }
}
