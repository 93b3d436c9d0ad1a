//! One Zendesk account as the engine uses it: its client (built from the configuration),
//! the bridge's own user id there (for echo suppression), and a cache of agent names for
//! attribution. OAuth pairs are persisted through the store ([`StoreTokens`]) and
//! refreshed in the background ([`keep_fresh`]) before an idle account's refresh token
//! lapses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::config::{AccountAuth, AccountConfig, OAuthGrant};
use crate::store::{OAuthTokens, Store};
use crate::zendesk::client::{
    Auth, ClientSettings, SendGuard, TokenPair, TokenStore, TokenStoreError, Transport,
    ZendeskClient, ZendeskError,
};

/// The engine's view of one configured account.
pub struct Account {
    /// The local handle (`[accounts.NAME]`).
    pub name: String,
    /// The Zendesk subdomain, used in attributions and external ids.
    pub subdomain: String,
    pub client: ZendeskClient,
    /// The bridge's API user in this account, learnt once from `users/me`.
    me: OnceCell<u64>,
    /// Agent display names by user id.
    names: Mutex<HashMap<u64, String>>,
    /// The configuration this account was built from (rebuilt when it changes).
    pub fingerprint: String,
}

impl Account {
    /// The account as configured, with the OAuth grant [`grant_in_use`] says.
    pub fn new(
        config: &AccountConfig,
        store: &Store,
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<Account, ZendeskError> {
        Self::with_grant(config, store, transport, grant_in_use(config, store))
    }

    /// The account with OAuth through `grant` (`None`: as configured; ignored for API
    /// tokens).
    pub fn with_grant(
        config: &AccountConfig,
        store: &Store,
        transport: Option<Arc<dyn Transport>>,
        grant: Option<OAuthGrant>,
    ) -> Result<Account, ZendeskError> {
        let auth = match &config.auth {
            AccountAuth::ApiToken { email, token } => Auth::ApiToken {
                email: email.clone(),
                token: token.clone(),
            },
            AccountAuth::OAuth {
                client_id,
                client_secret,
                refresh_token,
                grant: configured,
                ..
            } => match grant.unwrap_or(*configured) {
                OAuthGrant::ClientCredentials => Auth::ClientCredentials {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                },
                OAuthGrant::AuthorizationCode => Auth::OAuth {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    refresh_token: refresh_token.clone(),
                },
            },
        };
        let grant_name = match &auth {
            Auth::ClientCredentials { .. } => "client_credentials",
            _ => "",
        };
        let mut settings = ClientSettings::new(config.name.clone(), config.base_url.clone(), auth);
        settings.requests_per_minute = config.requests_per_minute;
        settings.send_guard = store
            .fence()
            .map(|f| Arc::new(LeaseGuard(f)) as Arc<dyn SendGuard>);
        let tokens = Arc::new(StoreTokens(store.clone()));
        let client = match transport {
            Some(t) => ZendeskClient::with_transport(settings, tokens, t)?,
            None => ZendeskClient::new(settings, tokens)?,
        };
        Ok(Account {
            name: config.name.clone(),
            subdomain: config.subdomain.clone(),
            client,
            me: OnceCell::new(),
            names: Mutex::new(HashMap::new()),
            fingerprint: format!("{}|{grant_name}", fingerprint(config)),
        })
    }

    /// The bridge's own user id in this account.
    pub async fn bridge_user(&self) -> Result<u64, ZendeskError> {
        self.me
            .get_or_try_init(|| async { self.client.me().await.map(|u| u.id) })
            .await
            .copied()
    }

    /// The bridge's own user id if already learnt (no request).
    pub fn known_bridge_user(&self) -> Option<u64> {
        self.me.get().copied()
    }

    /// An agent's display name, looked up once; "user N" when it cannot be read.
    pub async fn user_name(&self, id: u64) -> String {
        if let Some(n) = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return n.clone();
        }
        let name = match self.client.show_user(id).await {
            Ok(u) if !u.name.is_empty() => u.name,
            _ => format!("user {id}"),
        };
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, name.clone());
        name
    }
}

/// The OAuth grant an account's client uses: `client_credentials` when the
/// configuration says so, or when `sharebridge connect --client-credentials` connected
/// it (the store's connection records the grant); else the configured one. `None` for
/// API tokens.
pub fn grant_in_use(config: &AccountConfig, store: &Store) -> Option<OAuthGrant> {
    let AccountAuth::OAuth { grant, .. } = &config.auth else {
        return None;
    };
    let connected_cc = store
        .connection(&config.name)
        .ok()
        .flatten()
        .is_some_and(|c| c.grant == OAuthGrant::ClientCredentials.as_str());
    Some(if connected_cc {
        OAuthGrant::ClientCredentials
    } else {
        *grant
    })
}

/// What decides whether an account's client must be rebuilt on reload. Secrets enter only
/// as a SHA-256 digest, so the fingerprint itself reveals nothing.
fn fingerprint(config: &AccountConfig) -> String {
    use sha2::{Digest, Sha256};
    let digest = |s: &SecretString| {
        Sha256::digest(s.expose_secret().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let auth = match &config.auth {
        AccountAuth::ApiToken { email, token } => format!("token:{email}:{}", digest(token)),
        AccountAuth::OAuth {
            client_id,
            client_secret,
            refresh_token,
            grant,
            ..
        } => {
            format!(
                "oauth:{}:{client_id}:{}:{}",
                grant.as_str(),
                digest(client_secret),
                refresh_token.as_ref().map(digest).unwrap_or_default()
            )
        }
    };
    format!(
        "{}|{}|{}|{auth}",
        config.subdomain, config.base_url, config.requests_per_minute
    )
}

/// Several daemons on one store: the leader's clients send only while its lease surely
/// lasts through the request.
#[derive(Debug)]
struct LeaseGuard(Arc<crate::store::Fence>);

impl SendGuard for LeaseGuard {
    fn send_window(&self) -> Result<std::time::Duration, String> {
        self.0.send_window().ok_or_else(|| {
            format!(
                "this daemon's lead (lease epoch {}) ended or is about to end",
                self.0.epoch()
            )
        })
    }
}

/// Rotated OAuth pairs, saved in the store before they are used.
pub struct StoreTokens(pub Store);

impl TokenStore for StoreTokens {
    fn load(&self, account: &str) -> Result<Option<TokenPair>, TokenStoreError> {
        Ok(self.0.oauth_tokens(account)?.map(pair_of))
    }

    fn save(&self, account: &str, pair: &TokenPair) -> Result<(), TokenStoreError> {
        Ok(self.0.set_oauth_tokens(account, &tokens_of(pair))?)
    }
}

/// A stored pair as the client holds it.
pub fn pair_of(t: OAuthTokens) -> TokenPair {
    TokenPair {
        access_token: SecretString::from(t.access_token),
        refresh_token: SecretString::from(t.refresh_token),
        access_expires_at: Some(t.expires_at),
        refresh_expires_at: t.refresh_expires_at,
        issued_at: t.issued_at,
    }
}

/// A client's pair as the store keeps it (an access token without a stated expiry is
/// kept as expiring now: it is refreshed before its next use after a restart).
pub fn tokens_of(pair: &TokenPair) -> OAuthTokens {
    OAuthTokens {
        access_token: pair.access_token.expose_secret().to_owned(),
        refresh_token: pair.refresh_token.expose_secret().to_owned(),
        expires_at: pair.access_expires_at.unwrap_or_else(crate::clock::now),
        refresh_expires_at: pair.refresh_expires_at,
        issued_at: pair.issued_at,
    }
}

/// How often each account's OAuth pair is looked at by [`keep_fresh`].
const KEEP_FRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The background refresh of one account: every hour, the client exchanges its refresh
/// token if half its life has passed, so an idle account (no request for weeks) never
/// lets it lapse. The rotated pair is saved before use, as every refresh is.
/// The account is looked up by name each time, so a client rebuilt by a reload is the
/// one refreshed (two sessions rotating one pair would kill each other's token).
pub(crate) async fn keep_fresh(
    engine: super::Engine,
    name: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let Ok(account) = engine.account(&name) else {
            return;
        };
        match account.client.keep_fresh().await {
            Ok(true) => {
                tracing::info!(account = %name, "OAuth pair refreshed ahead of its refresh token's expiry")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(account = %name, error = %e, "background OAuth refresh failed")
            }
        }
        drop(account);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(KEEP_FRESH_EVERY) => {}
        }
    }
}
