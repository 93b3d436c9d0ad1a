//! Account configuration reads: ticket fields (and field create), brands, groups, ticket
//! forms, custom roles, native sharing agreements.
//!
//! Must not: change account configuration beyond creating a ticket field.

use reqwest::Method;
use serde::Serialize;

use super::requests::TicketFieldWrite;
use super::{Call, ZendeskClient, ZendeskError};
use crate::zendesk::models::{Brand, CustomRole, Group, SharingAgreement, TicketField, TicketForm};

#[derive(Serialize)]
struct FieldEnvelope<'a> {
    ticket_field: &'a TicketFieldWrite,
}

impl ZendeskClient {
    /// `GET /api/v2/ticket_fields`, every page.
    pub async fn list_ticket_fields(&self) -> Result<Vec<TicketField>, ZendeskError> {
        self.list_all("/api/v2/ticket_fields", "ticket_fields")
            .await
    }

    /// `POST /api/v2/ticket_fields`. Not idempotent: a lost answer is `InDoubt` (list the
    /// fields to see whether it exists).
    pub async fn create_ticket_field(
        &self,
        field: &TicketFieldWrite,
    ) -> Result<TicketField, ZendeskError> {
        let call = Call::new(Method::POST, "/api/v2/ticket_fields").json(&FieldEnvelope {
            ticket_field: field,
        });
        self.fetch(call, "ticket_field").await
    }

    /// `GET /api/v2/brands`, every page.
    pub async fn list_brands(&self) -> Result<Vec<Brand>, ZendeskError> {
        self.list_all("/api/v2/brands", "brands").await
    }

    /// `GET /api/v2/groups`, every page.
    pub async fn list_groups(&self) -> Result<Vec<Group>, ZendeskError> {
        self.list_all("/api/v2/groups", "groups").await
    }

    /// `GET /api/v2/ticket_forms` (not paginated by Zendesk).
    pub async fn list_ticket_forms(&self) -> Result<Vec<TicketForm>, ZendeskError> {
        self.list_all("/api/v2/ticket_forms", "ticket_forms").await
    }

    /// `GET /api/v2/custom_roles` (not paginated by Zendesk).
    pub async fn list_custom_roles(&self) -> Result<Vec<CustomRole>, ZendeskError> {
        self.list_all("/api/v2/custom_roles", "custom_roles").await
    }

    /// `GET /api/v2/sharing_agreements`.
    pub async fn list_sharing_agreements(&self) -> Result<Vec<SharingAgreement>, ZendeskError> {
        self.list_all("/api/v2/sharing_agreements", "sharing_agreements")
            .await
    }
}
