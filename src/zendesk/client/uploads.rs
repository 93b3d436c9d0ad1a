//! Attachments: upload bytes (`POST /api/v2/uploads?filename=…`) for a comment's
//! `uploads`, and download an attachment's `content_url`.
//!
//! Files are streamed: a download goes chunk by chunk into a file the caller owns, an
//! upload is read from such a file, so memory stays bounded whatever the file's size.
//! (Under a caller-supplied transport — the deterministic simulation's network — bodies
//! are whole, bounded by the caller's limit.)
//!
//! Must not: send the account's credentials to any origin but the account's own
//! (attachment URLs redirect to file hosts: every hop is checked, redirects are followed
//! here, not by reqwest); hold more than `max_bytes` of a download; log a URL (a
//! `content_url` holds an access token) or a file's content.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::time::Duration;

use backon::Retryable as _;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::retry::Replay;
use super::{Body, Call, RequestContext, ZendeskClient, ZendeskError, origin_of};
use crate::zendesk::models::Upload;

/// Most redirects followed from a `content_url`.
pub const MAX_REDIRECTS: usize = 5;
/// Whole-transfer timeout of one attempt of a file download or upload (a large file over
/// a slow link takes longer than an API call).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// What a download stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downloaded {
    /// The whole file, this many bytes, is in the caller's file (rewound to its start).
    Stored(u64),
    /// The answer is larger than the limit: nothing usable was kept.
    TooLarge,
}

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

    /// `PUT /api/v2/tickets/{id}/comments/{comment}/attachments/{attachment}/redact`: the
    /// attachment becomes an empty `redacted.txt` (repeating it changes nothing).
    pub async fn redact_attachment(
        &self,
        ticket: u64,
        comment: u64,
        attachment: u64,
    ) -> Result<(), ZendeskError> {
        let call = Call::new(
            Method::PUT,
            format!("/api/v2/tickets/{ticket}/comments/{comment}/attachments/{attachment}/redact"),
        )
        .json(&serde_json::json!({}))
        .ticket(ticket)
        .replay(Replay::Safe);
        self.execute(call).await.map(drop)
    }

    /// Downloads `content_url` into `file` (truncated first, rewound after), reading at
    /// most `max_bytes`. Credentials go with each hop only while it is on the account's
    /// own origin; a redirect elsewhere (a file host) is followed without them. Transient
    /// failures are retried within the client's retry bounds.
    pub async fn download_to_file(
        &self,
        content_url: &str,
        max_bytes: u64,
        file: &mut std::fs::File,
    ) -> Result<Downloaded, ZendeskError> {
        let ctx = self.file_context(Method::GET, None);
        if !self.inner.streaming {
            let mut call = Call::get(content_url);
            call.max_body = Some(max_bytes);
            return match self.execute(call).await {
                Ok(answer) => {
                    rewrite(file, &answer.body).map_err(|e| io_error(&ctx, "temporary file", e))?;
                    Ok(Downloaded::Stored(answer.body.len() as u64))
                }
                Err(ZendeskError::Invalid { status: 200, .. }) => Ok(Downloaded::TooLarge),
                Err(e) => Err(e),
            };
        }
        let start = tokio::time::Instant::now();
        let max_total = self.inner.retry.max_total;
        let file = &*file;
        (|| async {
            self.download_attempt(&ctx, content_url, max_bytes, file)
                .await
        })
        .retry(self.inner.retry.backoff())
        .when(super::retry::is_retryable)
        .adjust(|e, d| super::retry::next_delay(e, d, start.elapsed(), max_total))
        .await
    }

    /// Uploads the first `size` bytes of `file` as `filename` (`POST /api/v2/uploads`),
    /// streamed from the file. Each attempt reads the file from its start; a duplicate
    /// upload left by a lost answer is never attached and expires.
    pub async fn upload_file(
        &self,
        filename: &str,
        content_type: &str,
        file: &std::fs::File,
        size: u64,
    ) -> Result<Upload, ZendeskError> {
        let ctx = self.file_context(Method::POST, Some("/api/v2/uploads"));
        if !self.inner.streaming {
            let mut bytes = Vec::new();
            let mut f = file;
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.take(size).read_to_end(&mut bytes))
                .map_err(|e| io_error(&ctx, "temporary file", e))?;
            return self.create_upload(filename, content_type, bytes).await;
        }
        let start = tokio::time::Instant::now();
        let max_total = self.inner.retry.max_total;
        (|| async {
            self.upload_attempt(&ctx, filename, content_type, file, size)
                .await
        })
        .retry(self.inner.retry.backoff())
        .when(super::retry::is_retryable)
        .adjust(|e, d| super::retry::next_delay(e, d, start.elapsed(), max_total))
        .await
    }

    fn file_context(&self, method: Method, path: Option<&str>) -> RequestContext {
        RequestContext {
            account: self.inner.account.clone(),
            method: method.to_string(),
            path: path.unwrap_or("(attachment content_url)").to_owned(),
            ticket: None,
        }
    }

    /// The Authorization header for `url` when it is on the account's own origin.
    async fn auth_for(&self, url: &reqwest::Url) -> Result<Option<HeaderValue>, ZendeskError> {
        if origin_of(url.as_str()).as_deref() != Some(self.inner.origin.as_str()) {
            return Ok(None);
        }
        Ok(Some(self.inner.creds.current(|| self.http()).await?.header))
    }

    async fn download_attempt(
        &self,
        ctx: &RequestContext,
        content_url: &str,
        max_bytes: u64,
        mut file: &std::fs::File,
    ) -> Result<Downloaded, ZendeskError> {
        let mut url = reqwest::Url::parse(content_url).map_err(|e| ZendeskError::Invalid {
            ctx: ctx.clone(),
            status: 0,
            details: format!("content_url is not a URL: {e}"),
        })?;
        let mut hops = 0;
        let mut resp = loop {
            let _grant = self.inner.gate.acquire(super::EndpointClass::General).await;
            self.inner
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut req = self
                .files_http()?
                .get(url.clone())
                .timeout(TRANSFER_TIMEOUT);
            if let Some(auth) = self.auth_for(&url).await? {
                req = req.header(AUTHORIZATION, auth);
            }
            let resp = req.send().await.map_err(|e| transient(ctx, &e))?;
            let status = resp.status();
            if !status.is_redirection() {
                break resp;
            }
            hops += 1;
            let next = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| url.join(loc).ok());
            match next {
                Some(next) if hops <= MAX_REDIRECTS => url = next,
                _ => {
                    return Err(ZendeskError::Invalid {
                        ctx: ctx.clone(),
                        status: status.as_u16(),
                        details: "the attachment's redirect has no usable Location, or there are more than 5".into(),
                    });
                }
            }
        };
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            return Err(self.file_status_error(ctx, status, &headers, &body));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Ok(Downloaded::TooLarge);
        }
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(|e| io_error(ctx, "temporary file", e))?;
        let mut n: u64 = 0;
        while let Some(chunk) = resp.chunk().await.map_err(|e| transient(ctx, &e))? {
            n += chunk.len() as u64;
            if n > max_bytes {
                return Ok(Downloaded::TooLarge);
            }
            file.write_all(&chunk)
                .map_err(|e| io_error(ctx, "temporary file", e))?;
        }
        file.flush()
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(|e| io_error(ctx, "temporary file", e))?;
        Ok(Downloaded::Stored(n))
    }

    async fn upload_attempt(
        &self,
        ctx: &RequestContext,
        filename: &str,
        content_type: &str,
        file: &std::fs::File,
        size: u64,
    ) -> Result<Upload, ZendeskError> {
        if let Some(guard) = &self.inner.send_guard {
            // An upload changes nothing visible (it is attached only by a comment write,
            // which the guard bounds), so it is not cut to the lease's window; a daemon
            // that does not lead sends nothing at all.
            guard
                .send_window()
                .map_err(|reason| ZendeskError::NotLeading {
                    ctx: ctx.clone(),
                    reason,
                })?;
        }
        let _grant = self.inner.gate.acquire(super::EndpointClass::General).await;
        self.inner
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut url =
            reqwest::Url::parse(&format!("{}/api/v2/uploads", self.inner.base)).map_err(|e| {
                ZendeskError::Settings {
                    account: self.inner.account.clone(),
                    reason: format!("upload URL: {e}"),
                }
            })?;
        url.query_pairs_mut().append_pair("filename", filename);
        let mut reader = file
            .try_clone()
            .map_err(|e| io_error(ctx, "temporary file", e))?;
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_error(ctx, "temporary file", e))?;
        let reader = tokio::fs::File::from_std(reader);
        let stream = tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(reader, size));
        let content_type = HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let mut req = self
            .files_http()?
            .post(url.clone())
            .timeout(TRANSFER_TIMEOUT)
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(auth) = self.auth_for(&url).await? {
            req = req.header(AUTHORIZATION, auth);
        }
        let resp = req.send().await.map_err(|e| transient(ctx, &e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| transient(ctx, &e))?;
        if status == 429 {
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(super::error::parse_retry_after);
            let pause = self.inner.gate.on_throttled(retry_after);
            return Err(ZendeskError::RateLimited {
                ctx: ctx.clone(),
                retry_after: Some(pause),
            });
        }
        if !(200..300).contains(&status) {
            return Err(self.file_status_error(ctx, status, &headers, &body));
        }
        super::decode_key(ctx, &body, "upload")
    }

    fn file_status_error(
        &self,
        ctx: &RequestContext,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ZendeskError {
        // Both a download and an upload may be sent again: a duplicate upload is never
        // attached.
        let call = Call::get(ctx.path.clone()).replay(Replay::Safe);
        Self::status_error(&call, ctx, status, headers, body)
    }
}

fn transient(ctx: &RequestContext, e: &reqwest::Error) -> ZendeskError {
    ZendeskError::Transient {
        ctx: ctx.clone(),
        reason: super::describe_reqwest(e),
    }
}

fn io_error(ctx: &RequestContext, what: &str, e: std::io::Error) -> ZendeskError {
    ZendeskError::Transient {
        ctx: ctx.clone(),
        reason: format!("{what}: {e}"),
    }
}

/// Replaces the file's content with `bytes` and rewinds it.
fn rewrite(mut file: &std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)?;
    file.flush()?;
    file.seek(SeekFrom::Start(0))?;
    Ok(())
}

impl ZendeskClient {
    /// The client files are streamed through (only with the reqwest transport).
    fn files_http(&self) -> Result<&reqwest::Client, ZendeskError> {
        self.inner
            .files_http
            .as_ref()
            .ok_or_else(|| ZendeskError::Settings {
                account: self.inner.account.clone(),
                reason: "files are not streamed under this transport".into(),
            })
    }
}
