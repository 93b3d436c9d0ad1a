//! Cursor pagination (`page[size]`, `page[after]`, `meta.has_more`, `meta.after_cursor`):
//! one page at a time, or every page of a list.
//!
//! Must not: follow `links.next` to another host (the cursor is resent to our own base URL,
//! so credentials never leave the account's origin); loop forever on a cursor that does
//! not advance.

use serde::de::DeserializeOwned;

use super::{Call, ZendeskClient, ZendeskError, decode_key};
use crate::zendesk::models::CursorMeta;

/// Zendesk's largest page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// One page of a cursor-paginated list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `None` when there is none.
    pub after_cursor: Option<String>,
    pub has_more: bool,
}

impl ZendeskClient {
    pub(crate) async fn page_of<T: DeserializeOwned>(
        &self,
        call: &Call,
        key: &str,
        after: Option<&str>,
        size: u32,
    ) -> Result<Page<T>, ZendeskError> {
        let mut call = call
            .clone()
            .query("page[size]", size.clamp(1, MAX_PAGE_SIZE).to_string());
        if let Some(a) = after {
            call = call.query("page[after]", a);
        }
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        let items: Vec<T> = decode_key(&ctx, &answer.body, key)?;
        // Endpoints without pagination answer without `meta`: one page.
        let meta: CursorMeta = decode_key(&ctx, &answer.body, "meta").unwrap_or_default();
        Ok(Page {
            items,
            has_more: meta.has_more,
            after_cursor: meta.after_cursor.filter(|_| meta.has_more),
        })
    }

    /// One page of `GET {path}` whose items are under `key`, after cursor `after`.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        after: Option<&str>,
        size: u32,
    ) -> Result<Page<T>, ZendeskError> {
        self.page_of(&Call::get(path), key, after, size).await
    }

    /// Every item of `GET {path}` (items under `key`), following cursors to the end.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
    ) -> Result<Vec<T>, ZendeskError> {
        self.all_pages(Call::get(path), key).await
    }

    pub(crate) async fn all_pages<T: DeserializeOwned>(
        &self,
        call: Call,
        key: &str,
    ) -> Result<Vec<T>, ZendeskError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page: Page<T> = self
                .page_of(&call, key, after.as_deref(), MAX_PAGE_SIZE)
                .await?;
            all.extend(page.items);
            if !page.has_more {
                return Ok(all);
            }
            match page.after_cursor {
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => {
                    return Err(ZendeskError::Decode {
                        ctx: self.context(&call),
                        reason: "has_more without a new after_cursor".into(),
                    });
                }
            }
        }
    }
}
