//! Who works in an account, for visibility: its staff (agents and admins, with role,
//! custom role and organization), brand memberships (`brand_agents`), group memberships,
//! organizations; and the Search API reads `plan` uses to find tickets without reading
//! every one (`search/export`, `search/count`).
//!
//! Every list is paginated to its end (cursor pagination where Zendesk offers it).
//!
//! Must not: change anything; decide who sees what (that is `crate::visibility`).

use super::pagination::Page;
use super::{Call, ZendeskClient, ZendeskError, decode_key};
use crate::zendesk::models::{BrandAgent, GroupMembership, Organization, Ticket, User};

impl ZendeskClient {
    /// `GET /api/v2/users?role[]=agent&role[]=admin`, every page: the account's staff,
    /// without its end users.
    pub async fn list_staff(&self) -> Result<Vec<User>, ZendeskError> {
        let call = Call::get("/api/v2/users")
            .query("role[]", "agent")
            .query("role[]", "admin");
        let users: Vec<User> = self.all_pages(call, "users").await?;
        // A server that ignores the filter still answers correctly.
        Ok(users
            .into_iter()
            .filter(|u| u.role == "agent" || u.role == "admin")
            .collect())
    }

    /// `GET /api/v2/brand_agents`, every page: which agent is a member of which brand.
    pub async fn list_brand_agents(&self) -> Result<Vec<BrandAgent>, ZendeskError> {
        self.list_all("/api/v2/brand_agents", "brand_agents").await
    }

    /// `GET /api/v2/group_memberships`, every page.
    pub async fn list_group_memberships(&self) -> Result<Vec<GroupMembership>, ZendeskError> {
        self.list_all("/api/v2/group_memberships", "group_memberships")
            .await
    }

    /// `GET /api/v2/organizations`, every page.
    pub async fn list_organizations(&self) -> Result<Vec<Organization>, ZendeskError> {
        self.list_all("/api/v2/organizations", "organizations")
            .await
    }

    /// One page of `GET /api/v2/search/export?query=…&filter[type]=ticket` (cursor
    /// pagination, no 1000-result cap), after cursor `after`: the tickets a query finds.
    pub async fn search_export_page(
        &self,
        query: &str,
        after: Option<&str>,
        size: u32,
    ) -> Result<Page<Ticket>, ZendeskError> {
        let call = Call::get("/api/v2/search/export")
            .query("query", query)
            .query("filter[type]", "ticket");
        let page: Page<serde_json::Value> = self.page_of(&call, "results", after, size).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .filter_map(|v| serde_json::from_value::<Ticket>(v).ok())
                .collect(),
            after_cursor: page.after_cursor,
            has_more: page.has_more,
        })
    }

    /// `GET /api/v2/search/count?query=…`: how many results a query has.
    pub async fn search_count(&self, query: &str) -> Result<u64, ZendeskError> {
        let call = Call::get("/api/v2/search/count").query("query", query);
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        decode_key(&ctx, &answer.body, "count")
    }
}
