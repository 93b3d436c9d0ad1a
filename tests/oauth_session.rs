//! The client's OAuth session beyond rotation (issue #15): an idle account's pair is
//! refreshed once half its refresh token's life has passed; an account with no token
//! fails at once naming `connect`, without asking Zendesk; a refresh Zendesk refuses
//! marks the credential dead (no more token requests) until a new pair is stored; the
//! client credentials grant gets tokens from the client's id and secret alone.

use std::sync::Arc;

use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use sharebridge::sim::{Limits, SimConfig, Simulator};
use sharebridge::zendesk::client::{
    Auth, ClientSettings, MemoryTokenStore, TokenPair, TokenStore, ZendeskClient, ZendeskError,
};

const EMAIL: &str = "bridge@acme.example";

async fn sim() -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = SimConfig::local(&["acme"]);
    sc.limits = Limits::unlimited();
    Simulator::start(sc).await.unwrap()
}

fn client(sim: &Simulator, auth: Auth, store: Arc<dyn TokenStore>) -> ZendeskClient {
    let mut s = ClientSettings::new("acme", sim.base_url("acme"), auth);
    s.retry.max_total = std::time::Duration::from_secs(2);
    ZendeskClient::new(s, store).unwrap()
}

fn token_requests(sim: &Simulator) -> u64 {
    sim.stats("acme")
        .by_endpoint
        .get("POST /oauth/tokens")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn an_idle_pair_is_refreshed_at_half_its_refresh_tokens_life() {
    let sim = sim().await;
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(MemoryTokenStore::new());
    let now = sharebridge::clock::now();
    // Issued 20 days ago, its refresh token lasting 30 days: past half its life.
    store
        .save(
            "acme",
            &TokenPair {
                access_token: SecretString::from(grant.access_token.clone()),
                refresh_token: SecretString::from(grant.refresh_token.clone()),
                access_expires_at: Some(now + SignedDuration::from_hours(1)),
                refresh_expires_at: Some(now + SignedDuration::from_hours(10 * 24)),
                issued_at: Some(now - SignedDuration::from_hours(20 * 24)),
            },
        )
        .unwrap();
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: None,
    };
    let c = client(&sim, auth, store.clone());
    assert!(c.keep_fresh().await.unwrap(), "due: refreshed");
    let pair = store.load("acme").unwrap().unwrap();
    assert_ne!(pair.refresh_token.expose_secret(), grant.refresh_token);
    assert!(pair.issued_at.unwrap() >= now);
    assert!(pair.refresh_expires_at.unwrap() > now + SignedDuration::from_hours(29 * 24));
    // Fresh now: nothing more to do, and the new pair works.
    assert!(!c.keep_fresh().await.unwrap());
    assert_eq!(token_requests(&sim), 1);
    assert_eq!(c.me().await.unwrap().email.as_deref(), Some(EMAIL));
    let state = c.auth_state().await;
    assert_eq!(state.kind, "oauth");
    assert_eq!(state.refresh_expires_at, pair.refresh_expires_at);
    assert_eq!(state.dead, None);

    // Any request (the poller's) renews a pair past half its life too, before using it.
    let old = store.load("acme").unwrap().unwrap();
    store
        .save(
            "acme",
            &TokenPair {
                issued_at: Some(now - SignedDuration::from_hours(16 * 24)),
                refresh_expires_at: Some(now + SignedDuration::from_hours(14 * 24)),
                ..old.clone()
            },
        )
        .unwrap();
    let c2 = client(
        &sim,
        Auth::OAuth {
            client_id: grant.client_id.clone(),
            client_secret: SecretString::from(grant.client_secret.clone()),
            refresh_token: None,
        },
        store.clone(),
    );
    c2.me().await.unwrap();
    assert_eq!(token_requests(&sim), 2);
    let renewed = store.load("acme").unwrap().unwrap();
    assert_ne!(
        renewed.refresh_token.expose_secret(),
        old.refresh_token.expose_secret()
    );
}

#[tokio::test]
async fn no_token_fails_at_once_naming_connect() {
    let sim = sim().await;
    let auth = Auth::OAuth {
        client_id: "sb".into(),
        client_secret: SecretString::from("cs"),
        refresh_token: None,
    };
    let c = client(&sim, auth, Arc::new(MemoryTokenStore::new()));
    sim.reset_stats("acme");
    let err = c.me().await.unwrap_err();
    assert!(matches!(err, ZendeskError::NotConnected { .. }), "{err}");
    assert!(
        err.to_string().contains("sharebridge connect acme"),
        "{err}"
    );
    assert_eq!(sim.stats("acme").requests, 0, "nothing was sent");
    assert!(!c.keep_fresh().await.unwrap());
}

#[tokio::test]
async fn a_refused_refresh_kills_the_credential_until_a_new_pair_is_stored() {
    let sim = sim().await;
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(MemoryTokenStore::new());
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: Some(SecretString::from("not-a-refresh-token")),
    };
    let c = client(&sim, auth, store.clone());
    let err = c.me().await.unwrap_err();
    assert!(matches!(err, ZendeskError::NotConnected { .. }), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(!err.to_string().contains("not-a-refresh-token"));
    let asked = token_requests(&sim);
    // Dead: the next calls fail without asking Zendesk again.
    for _ in 0..3 {
        assert!(c.me().await.is_err());
    }
    assert_eq!(token_requests(&sim), asked);
    assert!(c.auth_state().await.dead.is_some());
    // `connect` stores a new pair: the session takes it up by itself.
    store
        .save(
            "acme",
            &TokenPair {
                access_token: SecretString::from(grant.access_token.clone()),
                refresh_token: SecretString::from(grant.refresh_token.clone()),
                access_expires_at: None,
                refresh_expires_at: None,
                issued_at: Some(sharebridge::clock::now()),
            },
        )
        .unwrap();
    assert_eq!(c.me().await.unwrap().email.as_deref(), Some(EMAIL));
    assert_eq!(c.auth_state().await.dead, None);
}

#[tokio::test]
async fn client_credentials_get_tokens_from_the_client_alone() {
    let sim = sim().await;
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(MemoryTokenStore::new());
    let auth = Auth::ClientCredentials {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
    };
    let c = client(&sim, auth, store.clone());
    c.me().await.unwrap();
    c.me().await.unwrap();
    assert_eq!(token_requests(&sim), 1, "one token, reused");
    assert!(store.load("acme").unwrap().is_none(), "nothing kept");
    let state = c.auth_state().await;
    assert_eq!(state.kind, "client_credentials");
    assert!(state.access_expires_at.is_some());
    // A wrong secret is refused and named.
    let bad = client(
        &sim,
        Auth::ClientCredentials {
            client_id: grant.client_id.clone(),
            client_secret: SecretString::from("wrong"),
        },
        Arc::new(MemoryTokenStore::new()),
    );
    let err = bad.me().await.unwrap_err();
    assert!(matches!(err, ZendeskError::NotConnected { .. }), "{err}");
    assert!(err.to_string().contains("id and secret"), "{err}");
}
