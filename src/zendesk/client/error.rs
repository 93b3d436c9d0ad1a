//! `ZendeskError`: what went wrong talking to one Zendesk account, classified so callers
//! branch on it (closed ticket, comment limit, conflict, in doubt, …), and the pure
//! classification of an HTTP status plus Zendesk error body into a kind.
//!
//! Must not: carry a token, a comment body or a request body in any variant or message;
//! only account, method, path, ticket id, status and Zendesk's own error description.

use std::fmt;
use std::time::Duration;

use crate::zendesk::models::ErrorBody;

/// Where a request went: enough to say what failed and where, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The local account handle (`[accounts.NAME]`).
    pub account: String,
    /// HTTP method (`GET`, `PUT`, …).
    pub method: String,
    /// Path without query string (`/api/v2/tickets/42`).
    pub path: String,
    /// The ticket concerned, when there is one.
    pub ticket: Option<u64>,
}

impl fmt::Display for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {}: {} {}", self.account, self.method, self.path)?;
        if let Some(t) = self.ticket {
            write!(f, " (ticket {t})")?;
        }
        Ok(())
    }
}

/// Errors of the Zendesk client. Each message says what failed, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ZendeskError {
    /// 401/403, or an OAuth refresh that was refused.
    #[error(
        "{ctx}: authentication refused (HTTP {status}); check the account's API token, or sign the bridge in again with `sharebridge connect {}`", .ctx.account
    )]
    Auth { ctx: RequestContext, status: u16 },

    /// No usable OAuth credential: none stored yet, or Zendesk refused it (revoked,
    /// expired, used elsewhere). Nothing is sent until a new pair is stored.
    #[error(
        "account {account}: {reason}; run `sharebridge connect {account}` to sign the bridge in"
    )]
    NotConnected { account: String, reason: String },

    #[error("{ctx}: not found (HTTP 404); the record does not exist or was deleted")]
    NotFound { ctx: RequestContext },

    /// 422 naming the closed status: closed tickets cannot be updated.
    #[error("{ctx}: ticket is closed and cannot be updated; end the link, do not retry")]
    Closed { ctx: RequestContext },

    /// 422 for a ticket at Zendesk's 5000-comment limit.
    #[error("{ctx}: ticket reached Zendesk's 5000-comment limit; end the link, do not retry")]
    CommentLimit { ctx: RequestContext },

    /// 409: a safe_update with a stale `updated_stamp`, or a concurrent write.
    #[error(
        "{ctx}: conflict (HTTP 409), the ticket changed since it was read; re-read it and retry"
    )]
    Conflict { ctx: RequestContext },

    /// 429 still standing when the retry budget ran out. `retry_after` is how long the
    /// account is paused: Zendesk's `Retry-After`, or the fallback backoff without one.
    #[error("{ctx}: rate limited (HTTP 429){}; the account is paused, try again later", fmt_retry_after(.retry_after))]
    RateLimited {
        ctx: RequestContext,
        retry_after: Option<Duration>,
    },

    /// 5xx, timeout or connection failure still standing after retries, for a request that
    /// either was not sent or is safe to repeat.
    #[error("{ctx}: transient failure ({reason}); try again later")]
    Transient { ctx: RequestContext, reason: String },

    /// A non-idempotent write was sent but its answer was lost (timeout, dropped
    /// connection, 5xx). It may or may not have been applied: reconcile by reading the
    /// ticket (e.g. its comments) before writing again.
    #[error(
        "{ctx}: write sent but outcome unknown ({reason}); read the ticket to check whether it was applied before retrying"
    )]
    InDoubt { ctx: RequestContext, reason: String },

    /// Not sent: this daemon does not lead (several daemons on one store), or its lease
    /// would not last through the request.
    #[error("{ctx}: not sent: {reason}; the leading daemon sends it")]
    NotLeading { ctx: RequestContext, reason: String },

    /// Not sent: the caller's guard ([`super::StillAllowed`]) no longer allows this write
    /// (consent withdrawn while it waited). Never retried.
    #[error("{ctx}: not sent: {reason}")]
    Withheld { ctx: RequestContext, reason: String },

    /// Any other 4xx: the request itself is wrong; retrying will not help.
    #[error("{ctx}: rejected (HTTP {status}): {details}; fix the request or mapping")]
    Invalid {
        ctx: RequestContext,
        status: u16,
        details: String,
    },

    /// A 2xx whose body was not what Zendesk documents.
    #[error("{ctx}: unexpected response body ({reason}); is base_url really a Zendesk API?")]
    Decode { ctx: RequestContext, reason: String },

    /// Client settings unusable (bad base_url, TLS setup).
    #[error("account {account}: invalid client settings: {reason}")]
    Settings { account: String, reason: String },

    /// The token store failed to load or save the rotated OAuth pair.
    #[error(
        "account {account}: OAuth token store failed: {reason}; the new token is not used until it is saved"
    )]
    TokenStore { account: String, reason: String },
}

fn fmt_retry_after(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(", Retry-After {}s", d.as_secs()),
        None => String::new(),
    }
}

impl ZendeskError {
    /// The request context, when the error is about one request.
    pub fn context(&self) -> Option<&RequestContext> {
        match self {
            ZendeskError::Auth { ctx, .. }
            | ZendeskError::NotFound { ctx }
            | ZendeskError::Closed { ctx }
            | ZendeskError::CommentLimit { ctx }
            | ZendeskError::Conflict { ctx }
            | ZendeskError::RateLimited { ctx, .. }
            | ZendeskError::Transient { ctx, .. }
            | ZendeskError::InDoubt { ctx, .. }
            | ZendeskError::NotLeading { ctx, .. }
            | ZendeskError::Withheld { ctx, .. }
            | ZendeskError::Invalid { ctx, .. }
            | ZendeskError::Decode { ctx, .. } => Some(ctx),
            ZendeskError::Settings { .. }
            | ZendeskError::TokenStore { .. }
            | ZendeskError::NotConnected { .. } => None,
        }
    }

    /// The account whose credential is refused, when that is what this error says: a
    /// 401, or [`ZendeskError::NotConnected`] (no token, or a refused OAuth refresh).
    /// Retrying cannot help until `sharebridge connect ACCOUNT` stores a new pair.
    pub fn refused_credential(&self) -> Option<&str> {
        match self {
            ZendeskError::Auth { ctx, status: 401 } => Some(&ctx.account),
            ZendeskError::NotConnected { account, .. } => Some(account),
            _ => None,
        }
    }

    /// A create refused because its `Idempotency-Key` was used, within the key's window,
    /// by an earlier create with another body: that earlier create made a ticket.
    pub fn is_key_reused(&self) -> bool {
        matches!(
            self,
            ZendeskError::Invalid { status: 400, details, .. }
                if details.starts_with("IdempotentRequestError")
        )
    }

    /// True for errors that end a link rather than being retried later.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ZendeskError::Closed { .. }
                | ZendeskError::CommentLimit { .. }
                | ZendeskError::Invalid { .. }
                | ZendeskError::NotFound { .. }
        )
    }
}

/// What an HTTP error status plus body means, before a context is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Auth,
    NotFound,
    Closed,
    CommentLimit,
    Conflict,
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// 5xx.
    Server,
    Invalid {
        details: String,
    },
}

impl ErrorKind {
    /// Attaches the context. `Server` becomes `Transient` (the retry layer turns it into
    /// `InDoubt` for writes that must not be repeated).
    pub fn into_error(self, ctx: RequestContext, status: u16) -> ZendeskError {
        match self {
            ErrorKind::Auth => ZendeskError::Auth { ctx, status },
            ErrorKind::NotFound => ZendeskError::NotFound { ctx },
            ErrorKind::Closed => ZendeskError::Closed { ctx },
            ErrorKind::CommentLimit => ZendeskError::CommentLimit { ctx },
            ErrorKind::Conflict => ZendeskError::Conflict { ctx },
            ErrorKind::RateLimited { retry_after } => {
                ZendeskError::RateLimited { ctx, retry_after }
            }
            ErrorKind::Server => ZendeskError::Transient {
                ctx,
                reason: format!("HTTP {status}"),
            },
            ErrorKind::Invalid { details } => ZendeskError::Invalid {
                ctx,
                status,
                details,
            },
        }
    }
}

/// Longest error detail kept from a Zendesk body (details never hold comment bodies, but
/// an unbounded string has no place in a log line).
const MAX_DETAILS: usize = 300;

/// Classifies an error response. `body` is Zendesk's error body when it parsed.
pub fn classify(status: u16, body: Option<&ErrorBody>, retry_after: Option<Duration>) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited { retry_after },
        500..=599 => ErrorKind::Server,
        422 => {
            let text = body.map(error_text).unwrap_or_default();
            let lower = text.to_ascii_lowercase();
            if lower.contains("closed") {
                ErrorKind::Closed
            } else if lower.contains("5000")
                || (lower.contains("comment")
                    && (lower.contains("limit") || lower.contains("maximum")))
            {
                ErrorKind::CommentLimit
            } else {
                ErrorKind::Invalid {
                    details: truncate(&text),
                }
            }
        }
        _ => ErrorKind::Invalid {
            details: truncate(&body.map(error_text).unwrap_or_default()),
        },
    }
}

/// Zendesk's error name, description and details flattened into one line.
fn error_text(body: &ErrorBody) -> String {
    let mut parts = Vec::new();
    match &body.error {
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => parts.push(s.clone()),
        other => parts.push(other.to_string()),
    }
    if let Some(d) = &body.description {
        parts.push(d.clone());
    }
    if let Some(d) = &body.details {
        parts.push(d.to_string());
    }
    parts.join(": ")
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_DETAILS {
        return s.to_owned();
    }
    let mut end = MAX_DETAILS;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The longest pause one `Retry-After` may impose. A larger value (a broken or hostile
/// answer) pauses the account this long, then the request is tried again; without the cap
/// the pause overflowed the rate gate's clock arithmetic.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses `Retry-After`: delta seconds (Zendesk's form), at most [`MAX_RETRY_AFTER`]; an
/// HTTP date is not used by Zendesk and yields `None` (the fallback backoff then applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    let delay = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::try_from_secs_f64(s).unwrap_or(MAX_RETRY_AFTER))?,
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> ErrorBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn classification_table() {
        let closed = body(
            json!({"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}),
        );
        let limit = body(
            json!({"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"base": [{"description": "Ticket has reached the limit of 5000 comments"}]}}),
        );
        let other = body(
            json!({"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"subject": [{"description": "Subject: cannot be blank"}]}}),
        );
        let cases: Vec<(u16, Option<&ErrorBody>, Option<Duration>, ErrorKind)> = vec![
            (401, None, None, ErrorKind::Auth),
            (403, None, None, ErrorKind::Auth),
            (404, None, None, ErrorKind::NotFound),
            (409, None, None, ErrorKind::Conflict),
            (
                429,
                None,
                Some(Duration::from_secs(7)),
                ErrorKind::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                },
            ),
            (
                429,
                None,
                None,
                ErrorKind::RateLimited { retry_after: None },
            ),
            (500, None, None, ErrorKind::Server),
            (503, None, None, ErrorKind::Server),
            (422, Some(&closed), None, ErrorKind::Closed),
            (422, Some(&limit), None, ErrorKind::CommentLimit),
        ];
        for (status, b, ra, want) in cases {
            assert_eq!(classify(status, b, ra), want, "status {status}");
        }
        match classify(422, Some(&other), None) {
            ErrorKind::Invalid { details } => assert!(details.contains("cannot be blank")),
            k => panic!("{k:?}"),
        }
        assert!(matches!(
            classify(400, None, None),
            ErrorKind::Invalid { .. }
        ));
    }

    #[test]
    fn details_are_truncated() {
        let long = body(json!({"error": "x".repeat(2000)}));
        match classify(400, Some(&long), None) {
            ErrorKind::Invalid { details } => assert!(details.len() < 400),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        // Beyond Duration's range, or beyond what an Instant can add: capped, no panic.
        assert_eq!(parse_retry_after("1e20"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("90000"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn messages_say_where_and_what_to_do() {
        let ctx = RequestContext {
            account: "acme".into(),
            method: "PUT".into(),
            path: "/api/v2/tickets/42".into(),
            ticket: Some(42),
        };
        let msg = ZendeskError::Closed { ctx: ctx.clone() }.to_string();
        assert!(
            msg.contains("acme")
                && msg.contains("PUT /api/v2/tickets/42")
                && msg.contains("ticket 42")
        );
        let msg = ZendeskError::RateLimited {
            ctx,
            retry_after: Some(Duration::from_secs(9)),
        }
        .to_string();
        assert!(msg.contains("Retry-After 9s"), "{msg}");
    }

    #[test]
    fn refused_credentials_name_their_account() {
        let ctx = RequestContext {
            account: "acme".into(),
            method: "GET".into(),
            path: "/api/v2/users/me".into(),
            ticket: None,
        };
        let auth = ZendeskError::Auth {
            ctx: ctx.clone(),
            status: 401,
        };
        assert_eq!(auth.refused_credential(), Some("acme"));
        assert!(auth.to_string().contains("sharebridge connect acme"));
        let nc = ZendeskError::NotConnected {
            account: "vendor".into(),
            reason: "no OAuth token is stored for it yet".into(),
        };
        assert_eq!(nc.refused_credential(), Some("vendor"));
        assert!(nc.to_string().contains("run `sharebridge connect vendor`"));
        // A 403 is a missing permission, not a dead credential.
        assert_eq!(
            ZendeskError::Auth { ctx, status: 403 }.refused_credential(),
            None
        );
    }
}
