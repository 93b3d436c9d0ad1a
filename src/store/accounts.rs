//! Per-account state: incremental-export cursors, OAuth token pairs and what `connect`
//! set up (the bridge's user, its webhook and signing secret).
//!
//! Tokens and signing secrets are returned as given; the caller wraps them in `secrecy`
//! types and never logs them (the records' `Debug` is redacted). With a sealing key
//! (`Store::use_sealing_key`) they are sealed in the file (`seal.rs`); only the `Store`
//! methods here seal and open them, so the transaction-level accessors stay private. A
//! rotated pair is durable when [`Store::set_oauth_tokens`] returns, so it can be used
//! safely right after. Must not refresh tokens or interpret cursors.

use super::Store;
use super::error::StoreError;
use super::keys;
use super::records::{Connection, OAuthTokens};
use super::seal::{self, SealError};
use super::txn::{ReadView, WriteTxn};

impl ReadView<'_> {
    /// The stored cursor of an account's stream.
    pub fn cursor(&self, account: &str, stream: &str) -> Result<Option<String>, StoreError> {
        self.get(keys::CURSORS, &keys::cursor(account, stream))
    }

    /// Every cursor of an account, as (stream, cursor), by stream.
    pub fn cursors(&self, account: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.scan_prefix::<String>(keys::CURSORS, &keys::cursor_prefix(account))?
            .into_iter()
            .map(|(k, c)| {
                let (_, stream) =
                    keys::parse_cursor(&k).ok_or_else(|| self.bad_key(keys::CURSORS, &k))?;
                Ok((stream, c))
            })
            .collect()
    }

    /// The stored OAuth pair of an account, as in the file (possibly sealed).
    pub(super) fn oauth_tokens_raw(
        &self,
        account: &str,
    ) -> Result<Option<OAuthTokens>, StoreError> {
        self.get(keys::OAUTH_TOKENS, &keys::name(account))
    }

    /// What `connect` set up for an account, as in the file (possibly sealed).
    pub(super) fn connection_raw(&self, account: &str) -> Result<Option<Connection>, StoreError> {
        self.get(keys::CONNECTIONS, &keys::name(account))
    }
}

impl WriteTxn<'_> {
    /// Stores the cursor of an account's stream.
    pub fn set_cursor(&self, account: &str, stream: &str, cursor: &str) -> Result<(), StoreError> {
        self.put(keys::CURSORS, &keys::cursor(account, stream), cursor)
    }

    /// Stores (replaces) the OAuth pair of an account, already sealed.
    pub(super) fn set_oauth_tokens_raw(
        &self,
        account: &str,
        tokens: &OAuthTokens,
    ) -> Result<(), StoreError> {
        self.put(keys::OAUTH_TOKENS, &keys::name(account), tokens)
    }

    /// Stores (replaces) what `connect` set up for an account, already sealed.
    pub(super) fn set_connection_raw(
        &self,
        account: &str,
        connection: &Connection,
    ) -> Result<(), StoreError> {
        self.put(keys::CONNECTIONS, &keys::name(account), connection)
    }
}

/// Where a sealed value lives, bound into its seal.
fn aad(table: &str, account: &str, field: &str) -> String {
    format!("{table}/{account}/{field}")
}

impl Store {
    /// See [`ReadView::cursor`].
    pub fn cursor(&self, account: &str, stream: &str) -> Result<Option<String>, StoreError> {
        self.view_op("get cursor", |v| v.cursor(account, stream))
    }

    /// See [`ReadView::cursors`].
    pub fn cursors(&self, account: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.view_op("list cursors", |v| v.cursors(account))
    }

    /// See [`WriteTxn::set_cursor`].
    pub fn set_cursor(&self, account: &str, stream: &str, cursor: &str) -> Result<(), StoreError> {
        self.transaction_op("set cursor", |tx| tx.set_cursor(account, stream, cursor))
    }

    /// The stored OAuth pair of an account, opened.
    pub fn oauth_tokens(&self, account: &str) -> Result<Option<OAuthTokens>, StoreError> {
        const OP: &str = "get oauth tokens";
        let raw = self.view_op(OP, |v| v.oauth_tokens_raw(account))?;
        raw.map(|t| self.open_tokens(account, t, OP)).transpose()
    }

    /// Stores (replaces) the OAuth pair of an account, sealed when a key is set.
    pub fn set_oauth_tokens(&self, account: &str, tokens: &OAuthTokens) -> Result<(), StoreError> {
        const OP: &str = "set oauth tokens";
        let sealed = self.seal_tokens(account, tokens, OP)?;
        self.transaction_op(OP, |tx| tx.set_oauth_tokens_raw(account, &sealed))
    }

    /// What `connect` set up for an account, opened.
    pub fn connection(&self, account: &str) -> Result<Option<Connection>, StoreError> {
        const OP: &str = "get connection";
        let raw = self.view_op(OP, |v| v.connection_raw(account))?;
        raw.map(|c| self.open_connection(account, c, OP))
            .transpose()
    }

    /// Records what `connect` set up for an account and, when given, its new OAuth pair,
    /// in one transaction (sealed when a key is set).
    pub fn save_connection(
        &self,
        account: &str,
        connection: &Connection,
        tokens: Option<&OAuthTokens>,
    ) -> Result<(), StoreError> {
        const OP: &str = "save connection";
        let mut sealed = connection.clone();
        if let Some(w) = &mut sealed.webhook {
            w.signing_secret = self.seal(
                &w.signing_secret,
                &aad(keys::CONNECTIONS, account, "signing_secret"),
                OP,
            )?;
        }
        let tokens = tokens
            .map(|t| self.seal_tokens(account, t, OP))
            .transpose()?;
        self.transaction_op(OP, |tx| {
            tx.set_connection_raw(account, &sealed)?;
            if let Some(t) = &tokens {
                tx.set_oauth_tokens_raw(account, t)?;
            }
            Ok(())
        })
    }

    fn seal(&self, clear: &str, aad: &str, op: &'static str) -> Result<String, StoreError> {
        seal::seal_if(self.sealer(), clear, aad).map_err(|e| self.seal_error(e, op))
    }

    fn unseal(&self, value: &str, aad: &str, op: &'static str) -> Result<String, StoreError> {
        seal::open(self.sealer(), value, aad).map_err(|e| self.seal_error(e, op))
    }

    fn seal_error(&self, e: SealError, op: &'static str) -> StoreError {
        StoreError::Sealed {
            path: self.path().to_path_buf(),
            op,
            detail: e.to_string(),
        }
    }

    fn seal_tokens(
        &self,
        account: &str,
        t: &OAuthTokens,
        op: &'static str,
    ) -> Result<OAuthTokens, StoreError> {
        let t2 = keys::OAUTH_TOKENS;
        Ok(OAuthTokens {
            access_token: self.seal(&t.access_token, &aad(t2, account, "access"), op)?,
            refresh_token: self.seal(&t.refresh_token, &aad(t2, account, "refresh"), op)?,
            ..t.clone()
        })
    }

    fn open_tokens(
        &self,
        account: &str,
        t: OAuthTokens,
        op: &'static str,
    ) -> Result<OAuthTokens, StoreError> {
        let t2 = keys::OAUTH_TOKENS;
        Ok(OAuthTokens {
            access_token: self.unseal(&t.access_token, &aad(t2, account, "access"), op)?,
            refresh_token: self.unseal(&t.refresh_token, &aad(t2, account, "refresh"), op)?,
            ..t
        })
    }

    fn open_connection(
        &self,
        account: &str,
        mut c: Connection,
        op: &'static str,
    ) -> Result<Connection, StoreError> {
        if let Some(w) = &mut c.webhook {
            w.signing_secret = self.unseal(
                &w.signing_secret,
                &aad(keys::CONNECTIONS, account, "signing_secret"),
                op,
            )?;
        }
        Ok(c)
    }

    /// Whether any secret in the file is sealed (for `doctor`: a key is then needed).
    pub fn holds_sealed_secrets(&self) -> Result<bool, StoreError> {
        self.view_op("inspect sealing", |v| {
            let tokens: Vec<(Vec<u8>, OAuthTokens)> = v.scan_all(keys::OAUTH_TOKENS)?;
            let conns: Vec<(Vec<u8>, Connection)> = v.scan_all(keys::CONNECTIONS)?;
            Ok(tokens.iter().any(|(_, t)| {
                seal::is_sealed(&t.refresh_token) || seal::is_sealed(&t.access_token)
            }) || conns.iter().any(|(_, c)| {
                c.webhook
                    .as_ref()
                    .is_some_and(|w| seal::is_sealed(&w.signing_secret))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::WebhookRecord;
    use super::*;

    fn tokens() -> OAuthTokens {
        OAuthTokens {
            access_token: "acc-s3cret".into(),
            refresh_token: "ref-s3cret".into(),
            expires_at: jiff::Timestamp::UNIX_EPOCH,
            refresh_expires_at: None,
            issued_at: Some(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn connection() -> Connection {
        Connection {
            grant: "authorization_code".into(),
            user_id: 7,
            user_email: Some("bridge@acme.example".into()),
            user_name: "Bridge".into(),
            user_role: "admin".into(),
            connected_at: jiff::Timestamp::UNIX_EPOCH,
            webhook: Some(WebhookRecord {
                id: "01W".into(),
                name: "sharebridge acme".into(),
                endpoint: "https://bridge.example/webhooks/acme".into(),
                subscriptions: vec!["zen:event-type:ticket.comment_added".into()],
                signing_secret: "sig-s3cret".into(),
                checked_at: jiff::Timestamp::UNIX_EPOCH,
            }),
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let store = Store::open(&path).unwrap();
            store
                .use_sealing_key(b"a key of at least sixteen bytes")
                .unwrap();
            assert!(store.use_sealing_key(b"a second key is refused").is_err());
            store
                .save_connection("acme", &connection(), Some(&tokens()))
                .unwrap();
            assert_eq!(store.oauth_tokens("acme").unwrap(), Some(tokens()));
            assert_eq!(store.connection("acme").unwrap(), Some(connection()));
            assert!(store.holds_sealed_secrets().unwrap());
        }
        // Nothing secret is in the file in the clear.
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("s3cret"), "a secret is readable in the file");
        // Without the key, or with another, the secrets do not open and say why.
        {
            let store = Store::open(&path).unwrap();
            let err = store.oauth_tokens("acme").unwrap_err();
            assert!(err.to_string().contains("daemon.store_key"), "{err}");
            assert!(!err.to_string().contains("s3cret"));
            assert!(store.connection("acme").is_err());
        }
        {
            let store = Store::open(&path).unwrap();
            store.use_sealing_key(b"another key, also long").unwrap();
            let err = store.oauth_tokens("acme").unwrap_err();
            assert!(err.to_string().contains("another key"), "{err}");
        }
        let store = Store::open(&path).unwrap();
        store
            .use_sealing_key(b"a key of at least sixteen bytes")
            .unwrap();
        assert_eq!(store.connection("acme").unwrap(), Some(connection()));
    }

    #[test]
    fn without_a_key_secrets_are_kept_clear_and_sealed_once_a_key_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let store = Store::open(&path).unwrap();
            store.set_oauth_tokens("acme", &tokens()).unwrap();
            assert!(!store.holds_sealed_secrets().unwrap());
        }
        let store = Store::open(&path).unwrap();
        store
            .use_sealing_key(b"a key of at least sixteen bytes")
            .unwrap();
        // Clear pairs written before the key still read, and are sealed when rewritten.
        assert_eq!(store.oauth_tokens("acme").unwrap(), Some(tokens()));
        store.set_oauth_tokens("acme", &tokens()).unwrap();
        assert!(store.holds_sealed_secrets().unwrap());
        assert_eq!(store.connection("acme").unwrap(), None);
    }
}
