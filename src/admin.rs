//! The admin API's client: what `agreements list`, `links`, `orphans`, `share`, `unshare`,
//! `resync`, `audit`, `backup` (and `doctor`, `fields` while a daemon holds the store) use
//! to talk to a running daemon at `daemon.listen`.
//!
//! Architecture invariant: only HTTP to this machine's daemon; the token travels in the
//! `Authorization` header and is never printed.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::server::api::{AgreementView, BackupRequest, LinkDetail, ResyncRequest, ShareRequest};
use crate::store::{AuditEntry, Link, Orphan};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot reach the daemon at http://{addr}: {reason}; is `sharebridge run` running with this configuration?"
    )]
    Unreachable { addr: SocketAddr, reason: String },
    #[error(
        "the daemon refused the admin token (HTTP 401); check daemon.admin_token in the configuration"
    )]
    Unauthorized,
    #[error("{0}")]
    Refused(String),
    #[error("unexpected answer from the daemon: {0}")]
    Decode(String),
}

pub struct AdminClient {
    base: String,
    addr: SocketAddr,
    token: SecretString,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(addr: SocketAddr, token: SecretString) -> AdminClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        AdminClient {
            base: format!("http://{addr}/api"),
            addr,
            token,
            http,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, AdminError> {
        let resp = req
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| AdminError::Unreachable {
                addr: self.addr,
                reason: e.to_string(),
            })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| AdminError::Decode(e.to_string()))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AdminError::Unauthorized);
        }
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(AdminError::Refused(msg));
        }
        serde_json::from_slice(&bytes).map_err(|e| AdminError::Decode(e.to_string()))
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn post<B: Serialize>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).json(body)
    }

    pub async fn agreements(&self) -> Result<Vec<AgreementView>, AdminError> {
        self.call(self.get("/agreements")).await
    }

    pub async fn links(&self) -> Result<Vec<Link>, AdminError> {
        self.call(self.get("/links")).await
    }

    pub async fn link(&self, id: u64) -> Result<LinkDetail, AdminError> {
        self.call(self.get(&format!("/links/{id}"))).await
    }

    pub async fn orphans(&self) -> Result<Vec<Orphan>, AdminError> {
        self.call(self.get("/orphans")).await
    }

    pub async fn audit(&self) -> Result<Vec<AuditEntry>, AdminError> {
        self.call(self.get("/audit")).await
    }

    pub async fn share(&self, account: &str, ticket: u64, to: &str) -> Result<Link, AdminError> {
        let body = ShareRequest {
            account: account.to_owned(),
            ticket,
            to: to.to_owned(),
        };
        self.call(self.post("/share", &body)).await
    }

    pub async fn unshare(
        &self,
        account: &str,
        ticket: u64,
        to: &str,
    ) -> Result<Orphan, AdminError> {
        let body = ShareRequest {
            account: account.to_owned(),
            ticket,
            to: to.to_owned(),
        };
        self.call(self.post("/unshare", &body)).await
    }

    pub async fn resync(&self, link: u64, relink: bool) -> Result<Link, AdminError> {
        self.call(self.post(&format!("/resync/{link}"), &ResyncRequest { relink }))
            .await
    }

    /// `doctor` run by the daemon (it holds the store): every check of `account`, or of
    /// every account.
    pub async fn doctor(
        &self,
        account: Option<&str>,
    ) -> Result<Vec<crate::setup::checks::Check>, AdminError> {
        let mut req = self.get("/doctor");
        if let Some(a) = account {
            req = req.query(&[("account", a)]);
        }
        self.call(req).await
    }

    /// An account's ticket fields, read by the daemon.
    pub async fn fields(
        &self,
        account: &str,
    ) -> Result<Vec<crate::setup::fields::FieldView>, AdminError> {
        self.call(self.get(&format!("/fields/{account}"))).await
    }

    pub async fn backup(&self, path: &str) -> Result<serde_json::Value, AdminError> {
        self.call(self.post(
            "/backup",
            &BackupRequest {
                path: path.to_owned(),
            },
        ))
        .await
    }
}
