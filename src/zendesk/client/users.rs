//! Users: the bridge's own API user (`users/me`), show, create_or_update.
//!
//! Must not: decide which users to create; that is the engine's call.

use reqwest::Method;
use serde::Serialize;

use super::requests::UserWrite;
use super::retry::Replay;
use super::{Call, ZendeskClient, ZendeskError};
use crate::zendesk::models::User;

/// What one `users/me` told about the account.
#[derive(Debug, Clone)]
pub struct Probe {
    pub user: User,
    /// The server's `Date` header.
    pub server_date: Option<jiff::Timestamp>,
    /// `X-Rate-Limit` (or `ratelimit-limit`): the plan's requests per minute.
    pub rate_limit: Option<u32>,
    pub rate_limit_remaining: Option<u32>,
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's IMF-fixdate). Pure.
pub fn http_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::parse(text.trim())
        .ok()
        .map(|z| z.timestamp())
}

#[derive(Serialize)]
struct UserEnvelope<'a> {
    user: &'a UserWrite,
}

impl ZendeskClient {
    /// `GET /api/v2/users/me`: the user the credentials belong to (the bridge's API user,
    /// whose writes the engine must not mirror back).
    pub async fn me(&self) -> Result<User, ZendeskError> {
        self.fetch(Call::get("/api/v2/users/me"), "user").await
    }

    /// `GET /api/v2/users/me` with what its answer's headers say about the account: the
    /// server's clock (`Date`) and the plan's rate limit (`X-Rate-Limit`), for `doctor`.
    pub async fn probe(&self) -> Result<Probe, ZendeskError> {
        let call = Call::get("/api/v2/users/me");
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_owned)
        };
        Ok(Probe {
            user: super::decode_key(&ctx, &answer.body, "user")?,
            server_date: header("date").as_deref().and_then(http_date),
            rate_limit: header("x-rate-limit")
                .or_else(|| header("ratelimit-limit"))
                .and_then(|v| v.parse().ok()),
            rate_limit_remaining: header("x-rate-limit-remaining")
                .or_else(|| header("ratelimit-remaining"))
                .and_then(|v| v.parse().ok()),
        })
    }

    /// `GET /api/v2/users/{id}`.
    pub async fn show_user(&self, id: u64) -> Result<User, ZendeskError> {
        self.fetch(Call::get(format!("/api/v2/users/{id}")), "user")
            .await
    }

    /// `POST /api/v2/users/create_or_update`: matched by email or external id, so a
    /// replay updates the same user: retried like an idempotent request.
    pub async fn create_or_update_user(&self, user: &UserWrite) -> Result<User, ZendeskError> {
        let call = Call::new(Method::POST, "/api/v2/users/create_or_update")
            .json(&UserEnvelope { user })
            .replay(Replay::Safe);
        self.fetch(call, "user").await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(
            super::http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some("1994-11-06T08:49:37Z".parse().unwrap())
        );
        assert_eq!(super::http_date("yesterday"), None);
    }
}
