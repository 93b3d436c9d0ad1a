//! The Webhooks API: list (cursor pages), show, create, update, and read a webhook's
//! signing secret. Creating or changing webhooks needs an admin.
//!
//! Must not: decide which webhook the bridge wants (that is `setup::webhook`).

use reqwest::Method;
use serde::Serialize;

use super::retry::Replay;
use super::{Call, ZendeskClient, ZendeskError};
use crate::zendesk::webhooks::{SigningSecret, Webhook, WebhookWrite};

#[derive(Serialize)]
struct Envelope<'a> {
    webhook: &'a WebhookWrite,
}

impl ZendeskClient {
    /// `GET /api/v2/webhooks`, every page.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, ZendeskError> {
        self.list_all("/api/v2/webhooks", "webhooks").await
    }

    /// `GET /api/v2/webhooks/{id}`.
    pub async fn webhook(&self, id: &str) -> Result<Webhook, ZendeskError> {
        self.fetch(Call::get(format!("/api/v2/webhooks/{id}")), "webhook")
            .await
    }

    /// `POST /api/v2/webhooks`. Not idempotent: a lost answer is `InDoubt` (list the
    /// webhooks by name to see whether it was made).
    pub async fn create_webhook(&self, webhook: &WebhookWrite) -> Result<Webhook, ZendeskError> {
        let call = Call::new(Method::POST, "/api/v2/webhooks").json(&Envelope { webhook });
        self.fetch(call, "webhook").await
    }

    /// `PUT /api/v2/webhooks/{id}` (204, no body): replaces the webhook's settings, so a
    /// replay is harmless.
    pub async fn update_webhook(
        &self,
        id: &str,
        webhook: &WebhookWrite,
    ) -> Result<(), ZendeskError> {
        let call = Call::new(Method::PUT, format!("/api/v2/webhooks/{id}"))
            .json(&Envelope { webhook })
            .replay(Replay::Safe);
        self.execute(call).await.map(|_| ())
    }

    /// `GET /api/v2/webhooks/{id}/signing_secret`.
    pub async fn webhook_signing_secret(&self, id: &str) -> Result<SigningSecret, ZendeskError> {
        self.fetch(
            Call::get(format!("/api/v2/webhooks/{id}/signing_secret")),
            "signing_secret",
        )
        .await
    }
}
