//! The configuration of an account connected with OAuth (issue #15): only a subdomain
//! and an OAuth client are needed; API tokens draw the 2027-04-30 warning; the keys
//! `connect` relies on (`daemon.public_url`, `oauth.grant`, `daemon.store_key`) are
//! checked like every other.

use sharebridge::config::{AccountAuth, LoadOptions, OAuthGrant, Severity, load_with};

fn load(text: &str) -> Result<sharebridge::config::Loaded, sharebridge::config::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, text).unwrap();
    load_with(&path, &LoadOptions::default())
}

const DAEMON: &str = "[daemon]\nadmin_token = \"admin\"\nstate_dir = \"/nonexistent\"\n";

#[test]
fn subdomain_and_oauth_client_alone_pass() {
    let text = format!(
        "{DAEMON}public_url = \"https://bridge.example.com/\"\n\
         [accounts.acme]\nsubdomain = \"acme\"\n\
         oauth = {{ client_id = \"sb\", client_secret = \"cs\" }}\n\
         [accounts.vendor]\nsubdomain = \"vendor\"\n\
         oauth = {{ client_id = \"sb\", client_secret = \"cs\", grant = \"client_credentials\" }}\n"
    );
    let loaded = load(&text).unwrap();
    let c = &loaded.config;
    assert_eq!(
        c.daemon.public_url.as_deref(),
        Some("https://bridge.example.com")
    );
    match &c.accounts["acme"].auth {
        AccountAuth::OAuth {
            refresh_token,
            grant,
            ..
        } => {
            assert!(refresh_token.is_none());
            assert_eq!(*grant, OAuthGrant::AuthorizationCode);
        }
        other => panic!("{other:?}"),
    }
    match &c.accounts["vendor"].auth {
        AccountAuth::OAuth { grant, .. } => assert_eq!(*grant, OAuthGrant::ClientCredentials),
        other => panic!("{other:?}"),
    }
    assert!(c.accounts["acme"].webhook_secret.is_none());
    // No API token: no retirement warning.
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.reason.contains("2027-04-30")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn api_tokens_warn_with_the_date_and_the_fix() {
    let text = format!(
        "{DAEMON}[accounts.acme]\nsubdomain = \"acme\"\nemail = \"b@acme.example\"\ntoken = \"t\"\n"
    );
    let loaded = load(&text).unwrap();
    let w = loaded
        .warnings
        .iter()
        .find(|w| w.key == "accounts.acme.token")
        .expect("a warning on the token");
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.reason.contains("2027-04-30"), "{}", w.reason);
    assert!(
        w.reason.contains("sharebridge connect acme"),
        "{}",
        w.reason
    );
}

#[test]
fn wrong_grants_urls_and_keys_are_refused_by_key() {
    let cases = [
        (
            "[accounts.acme]\nsubdomain = \"acme\"\noauth = { client_id = \"c\", client_secret = \"s\", grant = \"password\" }\n",
            "accounts.acme.oauth.grant",
        ),
        (
            "[accounts.acme]\nsubdomain = \"acme\"\noauth = { client_id = \"c\", client_secret = \"s\", grant = \"client_credentials\", refresh_token = \"r\" }\n",
            "accounts.acme.oauth.refresh_token",
        ),
        (
            "[accounts.acme]\nsubdomain = \"acme\"\noauth = { client_id = \"c\" }\n",
            "accounts.acme.oauth.client_secret",
        ),
    ];
    for (account, key) in cases {
        let err = load(&format!("{DAEMON}{account}")).unwrap_err();
        assert!(
            err.problems
                .iter()
                .any(|p| p.key == key && p.severity == Severity::Error),
            "{key}: {:?}",
            err.problems
        );
    }
    let acct = "[accounts.acme]\nsubdomain = \"acme\"\noauth = { client_id = \"c\", client_secret = \"s\" }\n";
    for (daemon, key) in [
        ("public_url = \"ftp://x\"\n", "daemon.public_url"),
        ("public_url = \"https://x/?a=1\"\n", "daemon.public_url"),
        ("store_key = \"short\"\n", "daemon.store_key"),
    ] {
        let err = load(&format!("{DAEMON}{daemon}{acct}")).unwrap_err();
        assert!(
            err.problems.iter().any(|p| p.key == key),
            "{key}: {:?}",
            err.problems
        );
        // The value of a secret is never in a problem.
        assert!(!err.to_string().contains("\"short\""));
    }
}
