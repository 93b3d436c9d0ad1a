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

    /// Downloads an attachment (`Attachment::content_url`), refusing more than `max_bytes`.
    pub async fn download_attachment(
        &self,
        content_url: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ZendeskError> {
        let call = Call::get(content_url);
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        if answer.body.len() as u64 > max_bytes {
            return Err(ZendeskError::Invalid {
                ctx,
                status: 200,
                details: format!(
                    "attachment is {} bytes, over the {max_bytes}-byte limit",
                    answer.body.len()
                ),
            });
        }
        Ok(answer.body)
    }
}
