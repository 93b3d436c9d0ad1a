//! Attachments: upload bytes (`POST /api/v2/uploads?filename=…`) for a comment's
//! `uploads`, and download an attachment's `content_url`.
//!
//! Must not: send the account's credentials to any origin but the account's own
//! (attachment URLs may point elsewhere); hold more than `max_bytes` of a download.

use reqwest::Method;

use super::retry::Replay;
use super::{Body, Call, ZendeskClient, ZendeskError};
use crate::zendesk::models::Upload;

impl ZendeskClient {
    /// Uploads `bytes` as `filename`; pass the returned `token` in `NewComment::uploads`.
    /// Retried like an idempotent request: a duplicate upload is never attached to
    /// anything and expires.
    pub async fn create_upload(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Upload, ZendeskError> {
        let mut call = Call::new(Method::POST, "/api/v2/uploads")
            .query("filename", filename)
            .replay(Replay::Safe);
        call.body = Some(Body::Raw {
            bytes,
            content_type: content_type.to_owned(),
        });
        self.fetch(call, "upload").await
    }

    /// Downloads an attachment (`Attachment::content_url`). An answer over `max_bytes` is
    /// refused (`Invalid`) without being read past the limit.
    pub async fn download_attachment(
        &self,
        content_url: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ZendeskError> {
        let mut call = Call::get(content_url);
        call.max_body = Some(max_bytes);
        Ok(self.execute(call).await?.body)
    }
}
