//! Users: the bridge's own API user (`users/me`), show, create_or_update.
//!
//! Must not: decide which users to create; that is the engine's call.

use reqwest::Method;
use serde::Serialize;

use super::requests::UserWrite;
use super::retry::Replay;
use super::{Call, ZendeskClient, ZendeskError};
use crate::zendesk::models::User;

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
