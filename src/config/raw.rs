//! The configuration exactly as written: serde shapes of DESIGN §3, every field optional
//! so that one missing or mistyped key never hides the others. `validate` turns these into
//! the checked [`super::Config`]. No I/O and no defaults here beyond serde's.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawDaemon {
    pub state_dir: Option<String>,
    pub listen: Option<String>,
    pub admin_token: Option<String>,
    pub admin_token_file: Option<String>,
    pub poll_interval: Option<String>,
    pub reconcile_interval: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub shutdown_grace: Option<String>,
    pub coalesce_window: Option<String>,
    pub public_url: Option<String>,
    pub store_key: Option<String>,
    pub store_key_file: Option<String>,
    pub in_doubt_wait: Option<String>,
    pub ordering: Option<String>,
    pub store: Option<String>,
    pub store_password: Option<String>,
    pub store_password_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOAuth {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<String>,
    pub refresh_token: Option<String>,
    pub refresh_token_file: Option<String>,
    pub grant: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAccount {
    pub subdomain: Option<String>,
    pub base_url: Option<String>,
    pub email: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub oauth: Option<RawOAuth>,
    pub requests_per_minute: Option<u32>,
    pub webhook_secret: Option<String>,
    pub webhook_secret_file: Option<String>,
    pub accept_from: Option<Vec<String>>,
    pub decline_from: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTarget {
    pub brand_id: Option<u64>,
    pub group_id: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawComments {
    pub public: Option<bool>,
    pub private: Option<bool>,
    pub attribution: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStatus {
    pub sync: Option<bool>,
    pub map: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTags {
    pub sync: Option<bool>,
    pub exclude: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawField {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub values: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAttachments {
    pub sync: Option<bool>,
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAgreement {
    pub name: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub enabled: Option<bool>,
    pub auto_share_tags: Option<Vec<String>>,
    pub unshare_on_tag_removal: Option<bool>,
    pub brands: Option<Vec<u64>>,
    pub target: Option<RawTarget>,
    pub comments: Option<RawComments>,
    pub status: Option<RawStatus>,
    pub tags: Option<RawTags>,
    pub fields: Option<Vec<RawField>>,
    pub attachments: Option<RawAttachments>,
}
