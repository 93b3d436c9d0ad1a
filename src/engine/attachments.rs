//! Attachments with their comment: just before a mirror comment is written
//! (`write::write_one`, under the receiving ticket's lock, after the consent check and
//! before the pending write is recorded), each file of its source comments is downloaded
//! with the sender's credentials and uploaded to the receiver; the comment then carries
//! the upload tokens, names the files not copied (`crate::attachments::note`) and shows
//! inline images in its `html_body`.
//!
//! Exactly once follows from the comment's own protocol: uploads are made afresh for every
//! attempt of a write (an upload token lasts 60 minutes, and an upload never attached is
//! harmless: Zendesk forgets it), so a crash between the uploads and the comment leaves
//! nothing recorded and the next step uploads again; a write in doubt is settled by its
//! marker as any other, and a write that did not land is planned, and uploaded, again.
//!
//! Memory stays bounded: one file at a time goes through an anonymous temporary file in
//! `daemon.state_dir` (gone when closed, or when the process dies), streamed in chunks
//! both ways.
//!
//! Must not: log a file's name, URL or content; hold a file in memory.

use std::path::Path;

use crate::attachments::{self, InlineImage, NotCopied, Skip};
use crate::config::AgreementConfig;
use crate::metrics::{AgreementLabels, SkippedLabels};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::client::uploads::Downloaded;
use crate::zendesk::models::Attachment;

use super::{Account, Engine, EngineError};

/// What a mirror comment carries of its source comments' files.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// Upload tokens for `comment.uploads`.
    pub uploads: Vec<String>,
    /// Images shown inline, by their receiver URL.
    pub inline: Vec<InlineImage>,
    /// Files not copied, named in the comment (some) and counted (all).
    pub not_copied: Vec<NotCopied>,
    /// Bytes of each file uploaded.
    copied: Vec<u64>,
}

impl Prepared {
    /// The comment's words about the files not copied.
    pub fn note(&self) -> String {
        attachments::note(&self.not_copied)
    }
}

impl Engine {
    /// Downloads each of `files` from `sender` and uploads it to `receiver`, under the
    /// sending agreement's `[agreements.attachments]` rules. A transient failure, or a
    /// refused credential, fails the whole write (it is tried again later); a file the
    /// sender does not serve, or the receiver refuses, is named instead.
    pub(crate) async fn prepare_files(
        &self,
        rules: &AgreementConfig,
        sender: &Account,
        receiver: &Account,
        link: u64,
        files: &[Attachment],
    ) -> Result<Prepared, EngineError> {
        let mut out = Prepared::default();
        let dir = self.config().daemon.state_dir.clone();
        for file in files {
            if let Some(skip) = attachments::verdict(&rules.attachments, file.size) {
                out.not_copied.push(not_copied(file, skip));
                continue;
            }
            let mut tmp = temp_file(&dir).map_err(|e| {
                EngineError::Zendesk(ZendeskError::Transient {
                    ctx: file_ctx(&sender.name, "GET"),
                    reason: format!(
                        "no temporary file for an attachment in {} or {}: {e}",
                        dir.display(),
                        std::env::temp_dir().display()
                    ),
                })
            })?;
            let got = sender
                .client
                .download_to_file(&file.content_url, rules.attachments.max_bytes, &mut tmp)
                .await;
            let size = match got {
                Ok(Downloaded::Stored(n)) => n,
                Ok(Downloaded::TooLarge) => {
                    out.not_copied.push(not_copied(
                        file,
                        Skip::TooLarge {
                            limit: rules.attachments.max_bytes,
                        },
                    ));
                    continue;
                }
                // The sender's read of the comment just worked, so a refusal here is the
                // file's own (deleted, flagged, a broken redirect): it is named, and the
                // comment still crosses.
                Err(
                    ZendeskError::NotFound { .. }
                    | ZendeskError::Auth { .. }
                    | ZendeskError::Invalid { .. },
                ) => {
                    out.not_copied.push(not_copied(file, Skip::Unavailable));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let content_type = if file.content_type.is_empty() {
                "application/octet-stream"
            } else {
                file.content_type.as_str()
            };
            let upload = receiver
                .client
                .upload_file(&file.file_name, content_type, &tmp, size)
                .await;
            match upload {
                Ok(up) => {
                    if file.inline {
                        out.inline.push(InlineImage {
                            url: up.attachment.content_url.clone(),
                            name: file.file_name.clone(),
                        });
                    }
                    out.uploads.push(up.token);
                    out.copied.push(size);
                }
                Err(ZendeskError::Invalid { .. }) => {
                    out.not_copied.push(not_copied(file, Skip::Refused));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !files.is_empty() {
            tracing::debug!(
                link,
                files = files.len(),
                uploaded = out.uploads.len(),
                bytes = out.copied.iter().sum::<u64>(),
                "attachments prepared"
            );
        }
        Ok(out)
    }

    /// The files of the source's first comment on the mirror's creation, when that
    /// comment crosses: uploaded, and added to the create's comment. (The create's
    /// `Idempotency-Key` covers the client's own retries, which resend the same tokens; a
    /// create retried after a crash looks the mirror up by external id first, and uploads
    /// afresh only when none was made.)
    pub(crate) async fn attach_first(
        &self,
        agreement: &AgreementConfig,
        from: &Account,
        to: &Account,
        link: u64,
        first: Option<&crate::zendesk::models::Comment>,
        write: &mut crate::zendesk::models::TicketWrite,
    ) -> Result<Prepared, EngineError> {
        let Some(first) = first.filter(|c| !c.attachments.is_empty()) else {
            return Ok(Prepared::default());
        };
        let crosses = matches!(
            crate::rules::comment_verdict(
                &agreement.comments,
                crate::rules::CommentFacts {
                    public: first.public,
                    written_by_bridge: false,
                    author_is_bridge: false,
                },
            ),
            crate::rules::CommentVerdict::Send { .. }
        );
        let Some(comment) = write.comment.as_mut().filter(|_| crosses) else {
            return Ok(Prepared::default());
        };
        let prepared = self
            .prepare_files(agreement, from, to, link, &first.attachments)
            .await?;
        let text = attachments::body_with_note(
            comment.body.as_deref().unwrap_or_default(),
            &prepared.note(),
        );
        if prepared.inline.is_empty() {
            comment.body = Some(text);
        } else {
            comment.body = None;
            comment.html_body = Some(attachments::html_with_images(&text, &prepared.inline));
        }
        comment.uploads = prepared.uploads.clone();
        Ok(prepared)
    }

    /// Counts what a landed mirror comment copied and did not copy.
    pub(crate) fn count_files(&self, agreement: &str, prepared: &Prepared) {
        let labels = AgreementLabels {
            agreement: agreement.to_owned(),
        };
        let m = self.metrics();
        if !prepared.copied.is_empty() {
            m.attachments_copied
                .get_or_create(&labels)
                .inc_by(prepared.copied.len() as u64);
            m.attachment_bytes_copied
                .get_or_create(&labels)
                .inc_by(prepared.copied.iter().sum());
        }
        for n in &prepared.not_copied {
            m.attachments_skipped
                .get_or_create(&SkippedLabels {
                    agreement: agreement.to_owned(),
                    reason: n.skip.reason().to_owned(),
                })
                .inc();
        }
    }
}

fn not_copied(file: &Attachment, skip: Skip) -> NotCopied {
    NotCopied {
        name: file.file_name.clone(),
        size: file.size,
        skip,
    }
}

fn file_ctx(account: &str, method: &str) -> crate::zendesk::client::RequestContext {
    crate::zendesk::client::RequestContext {
        account: account.to_owned(),
        method: method.to_owned(),
        path: "(attachment content_url)".to_owned(),
        ticket: None,
    }
}

/// An anonymous temporary file in the state directory (beside the store, so on a disk
/// the daemon may write), else in the system's temporary directory.
fn temp_file(dir: &Path) -> std::io::Result<std::fs::File> {
    tempfile::tempfile_in(dir).or_else(|_| tempfile::tempfile())
}
