//! Uploads: `POST /api/v2/uploads?filename=X` with the raw bytes → 201 `{"upload":
//! {token, attachment, attachments}}`; `uploads: [token]` in a comment attaches them; the
//! attachment's `content_url` (`/attachments/token/{t}/?name=X`) serves the bytes, or,
//! when the simulator has a file host (`sim::files`, bound by `Simulator::start`), answers
//! 302 to a short-lived URL there, as Zendesk sends downloads to its file host. A private
//! attachment (not yet on a comment, or on a private one) needs the account's credentials
//! at `content_url`; the file host takes none.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, percent_encode};
use crate::sim::state::{Account, Blob, UploadRec};
use crate::zendesk::models::Attachment;

/// An upload token lasts 60 minutes (of the simulator's clock).
pub const UPLOAD_TOKEN_LIFETIME_SECS: i64 = 3600;

/// Whether `token` names an upload that has not expired (an expired one is forgotten).
pub(crate) fn live_token(a: &mut Account, token: &str, now: jiff::Timestamp) -> bool {
    match a.uploads.get(token) {
        Some(up) if up.expires_at > now => true,
        Some(_) => {
            if let Some(up) = a.uploads.remove(token) {
                for id in up.attachments {
                    a.blobs.remove(&id);
                }
            }
            false
        }
        None => false,
    }
}

/// 422 for an upload token that expired (after 60 minutes) or never existed.
pub(crate) fn expired(token: &str) -> ApiError {
    ApiError::invalid_with(
        "uploads",
        &format!(
            "Uploads: token {token} is invalid or has expired (upload tokens last 60 minutes)"
        ),
        "InvalidValue",
    )
}

/// How long a file-host URL that `content_url` redirected to stays valid.
pub const FILE_GRANT_SECS: i64 = 300;

/// The file host's answer for `grant` of this account: the bytes, or 404 for a grant
/// unknown or expired. Counts the download, and whether it carried credentials (it must
/// not: they belong to the account's host alone).
pub(crate) fn file_host(
    a: &mut Account,
    grant: &str,
    with_credentials: bool,
    now: jiff::Timestamp,
) -> Result<Resp, ApiError> {
    a.stats.file_downloads += 1;
    if with_credentials {
        a.stats.file_downloads_with_credentials += 1;
    }
    let blob = a
        .file_grants
        .get(grant)
        .filter(|g| g.expires_at > now)
        .map(|g| g.blob)
        .and_then(|id| a.blobs.get(&id))
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp {
        status: StatusCode::OK,
        body: blob.bytes.clone(),
        content_type: blob.attachment.content_type.clone(),
        headers: Vec::new(),
    })
}

/// Zendesk refuses files over 50 MB.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

fn random_token(a: &mut Account) -> String {
    crate::sim::oauth::random(&mut a.token_rng, 25)
}

/// `POST /api/v2/uploads?filename=X[&token=T]`.
pub(crate) fn create(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let name = req
        .param("filename")
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| ApiError::bad_param("InvalidValue", "filename is required"))?
        .to_owned();
    if req.body.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "FileTooLarge", "description": "File size exceeds the 50 MB limit"}),
        ));
    }
    let content_type = req
        .content_type
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let id = a.ids.object();
    let blob_token = random_token(a);
    let attachment = Attachment {
        id,
        file_name: name.clone(),
        content_url: format!(
            "{}/attachments/token/{blob_token}/?name={}",
            a.base_url,
            percent_encode(&name)
        ),
        content_type,
        size: req.body.len() as u64,
        inline: false,
    };
    a.blobs.insert(
        id,
        Blob {
            attachment: attachment.clone(),
            bytes: req.body.clone(),
            private: true,
        },
    );
    a.blob_tokens.insert(blob_token, id);
    let expires_at = req
        .now
        .checked_add(jiff::SignedDuration::from_secs(UPLOAD_TOKEN_LIFETIME_SECS))
        .unwrap_or(req.now);
    if let Some(t) = req.param("token")
        && !live_token(a, t, req.now)
    {
        a.blobs.remove(&id);
        return Err(expired(t));
    }
    let token = match req.param("token") {
        Some(t) => t.to_owned(),
        None => {
            let t = random_token(a);
            a.uploads.insert(
                t.clone(),
                UploadRec {
                    attachments: Vec::new(),
                    expires_at,
                },
            );
            t
        }
    };
    let up = a.uploads.get_mut(&token).ok_or_else(ApiError::not_found)?;
    up.attachments.push(id);
    let ids = up.attachments.clone();
    let expires_at = up.expires_at;
    let attachments: Vec<&Attachment> = ids
        .iter()
        .filter_map(|i| a.blobs.get(i).map(|b| &b.attachment))
        .collect();
    let body = json!({"upload": {
        "token": token,
        "expires_at": expires_at,
        "attachment": attachment,
        "attachments": attachments,
    }});
    Ok(Resp::json(StatusCode::CREATED, &body))
}

/// `DELETE /api/v2/uploads/{token}` → 204.
pub(crate) fn delete(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let token = req.token.as_deref().unwrap_or("");
    let up = a.uploads.remove(token).ok_or_else(ApiError::not_found)?;
    for id in up.attachments {
        a.blobs.remove(&id);
    }
    a.blob_tokens.retain(|_, id| a.blobs.contains_key(id));
    Ok(Resp::no_content())
}

/// `GET /attachments/token/{t}/` → the bytes; a private attachment needs the account's
/// credentials (401 without).
pub(crate) fn content(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let token = req.token.as_deref().unwrap_or("");
    let id = a.blob_tokens.get(token).ok_or_else(ApiError::not_found)?;
    let blob = a.blobs.get(id).ok_or_else(ApiError::not_found)?;
    if blob.private && req.caller.id == 0 {
        return Err(ApiError::unauthorized());
    }
    if let Some(files) = a.files_base.clone() {
        let blob_id = *id;
        let name = percent_encode(&blob.attachment.file_name);
        let grant = random_token(a);
        let expires_at = req
            .now
            .checked_add(jiff::SignedDuration::from_secs(FILE_GRANT_SECS))
            .unwrap_or(req.now);
        a.file_grants.retain(|_, g| g.expires_at > req.now);
        a.file_grants.insert(
            grant.clone(),
            crate::sim::state::FileGrant {
                blob: blob_id,
                expires_at,
            },
        );
        let mut r = Resp::no_content();
        r.status = StatusCode::FOUND;
        r.headers
            .push(("location", format!("{files}/{}/{grant}/{name}", a.name)));
        return Ok(r);
    }
    Ok(Resp {
        status: StatusCode::OK,
        body: blob.bytes.clone(),
        content_type: blob.attachment.content_type.clone(),
        headers: Vec::new(),
    })
}

/// An attachment as Zendesk renders it (`GET /api/v2/attachments/{id}`, comments, audits):
/// the model plus `url`, `mapped_content_url`, sizes, malware scan and thumbnails.
pub(crate) fn wire(base_url: &str, att: &Attachment) -> Value {
    let mut v = serde_json::to_value(att).unwrap_or_else(|_| json!({}));
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "url".to_owned(),
            json!(format!("{base_url}/api/v2/attachments/{}.json", att.id)),
        );
        m.insert("mapped_content_url".to_owned(), json!(att.content_url));
        m.insert("width".to_owned(), Value::Null);
        m.insert("height".to_owned(), Value::Null);
        m.insert("deleted".to_owned(), json!(false));
        m.insert("malware_access_override".to_owned(), json!(false));
        m.insert("malware_scan_result".to_owned(), json!("malware_not_found"));
        m.insert("thumbnails".to_owned(), json!([]));
    }
    v
}

/// `GET /api/v2/attachments/{id}` → `{"attachment": …}` (uploaded, attached or not).
pub(crate) fn show(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let blob = a.blobs.get(&req.ids[0]).ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(
        &json!({"attachment": wire(&a.base_url, &blob.attachment)}),
    ))
}
