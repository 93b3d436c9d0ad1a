//! Per-account state: incremental-export cursors and OAuth token pairs.
//!
//! Tokens are stored as given and returned as given; the caller wraps them in `secrecy`
//! types and never logs them ([`OAuthTokens`]'s `Debug` is redacted). A rotated pair is
//! durable when [`Store::set_oauth_tokens`] returns, so it can be used safely right
//! after. Must not refresh tokens or interpret cursors.

use super::Store;
use super::error::StoreError;
use super::keys;
use super::records::OAuthTokens;
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

    /// The stored OAuth pair of an account.
    pub fn oauth_tokens(&self, account: &str) -> Result<Option<OAuthTokens>, StoreError> {
        self.get(keys::OAUTH_TOKENS, &keys::name(account))
    }
}

impl WriteTxn<'_> {
    /// Stores the cursor of an account's stream.
    pub fn set_cursor(&self, account: &str, stream: &str, cursor: &str) -> Result<(), StoreError> {
        self.put(keys::CURSORS, &keys::cursor(account, stream), cursor)
    }

    /// Stores (replaces) the OAuth pair of an account.
    pub fn set_oauth_tokens(&self, account: &str, tokens: &OAuthTokens) -> Result<(), StoreError> {
        self.put(keys::OAUTH_TOKENS, &keys::name(account), tokens)
    }
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

    /// See [`ReadView::oauth_tokens`].
    pub fn oauth_tokens(&self, account: &str) -> Result<Option<OAuthTokens>, StoreError> {
        self.view_op("get oauth tokens", |v| v.oauth_tokens(account))
    }

    /// See [`WriteTxn::set_oauth_tokens`].
    pub fn set_oauth_tokens(&self, account: &str, tokens: &OAuthTokens) -> Result<(), StoreError> {
        self.transaction_op("set oauth tokens", |tx| {
            tx.set_oauth_tokens(account, tokens)
        })
    }
}
