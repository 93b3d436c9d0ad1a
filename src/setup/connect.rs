//! `sharebridge connect ACCOUNT`: sign the bridge in and set up its webhook, from
//! nothing but the account's subdomain and OAuth client.
//!
//! 1. The credential. Authorization code grant (the default): a stored pair that still
//!    works is kept (`--sign-in` forces a new one); otherwise the operator signs in as the
//!    bridge's dedicated user (PKCE, a loopback redirect or `--print-url`) and the pair
//!    is saved in the store before anything uses it. Client credentials: the client's id
//!    and secret get a token. An API token is used as configured (with its warning).
//! 2. Who that is (`users/me`): the user the bridge acts as, and its role.
//! 3. The webhook: found by name, created, updated or left as it is
//!    ([`super::webhook::plan`]), pointing at `{daemon.public_url}/webhooks/{ACCOUNT}`
//!    (or `--webhook-url`), then its signing secret read through the API and kept in the
//!    store, where the daemon takes it from.
//!
//! `--dry-run` opens no browser and writes nothing, to Zendesk or to the store: it reads
//! with the credential it has (a client-credentials one gets an access token) and says
//! what would change. A second run changes nothing. Must not print or log a token, a
//! code or a secret.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::signin::{self, Loopback, SignInError};
use super::webhook::{self, Action};
use crate::config::{AccountAuth, AccountConfig, Config, OAuthGrant, api_token_warning};
use crate::engine::{Account, tokens_of};
use crate::store::{Connection, Store, StoreError, WebhookRecord};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::User;
use crate::zendesk::oauth::{self, ClientCredentials, Pkce};

/// `sharebridge connect` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The account to connect (`[accounts.NAME]`).
    pub account: String,
    /// Print the sign-in address and read the redirected address (or the code) from
    /// stdin, for a host without a browser.
    #[arg(long)]
    pub print_url: bool,
    /// Use the client credentials grant (no browser; the token acts as the admin who
    /// created the OAuth client). The daemon then uses it too.
    #[arg(long)]
    pub client_credentials: bool,
    /// The loopback port Zendesk redirects to (http://127.0.0.1:PORT/callback; register
    /// it among the OAuth client's redirect URLs). 0: a free port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub redirect_port: u16,
    /// Where the webhook posts, instead of `{daemon.public_url}/webhooks/ACCOUNT`.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// Say what would change; sign nothing in and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sign in again even when the stored credential still works.
    #[arg(long)]
    pub sign_in: bool,
    /// How long to wait for the browser's redirect.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Print the result as JSON (instructions then go to stderr).
    #[arg(long)]
    pub json: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

/// Why `connect` stopped. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("account {0:?} is not configured; see `sharebridge check-config`")]
    UnknownAccount(String),
    #[error(
        "--client-credentials: account {0} uses an API token, not OAuth; configure accounts.{0}.oauth first"
    )]
    NotOAuth(String),
    #[error("signing in to {account} failed: {source}")]
    SignIn {
        account: String,
        #[source]
        source: SignInError,
    },
    #[error(transparent)]
    Zendesk(#[from] ZendeskError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "account {0}: the webhook needs an address Zendesk can reach: set daemon.public_url (where Zendesk reaches daemon.listen) or pass --webhook-url"
    )]
    NoPublicUrl(String),
    #[error(
        "account {account}: the bridge's user {user} is {role}, and only admins may create or change webhooks; make it an admin and run connect again (or create the webhook by hand and set webhook_secret)"
    )]
    NotAdmin {
        account: String,
        user: String,
        role: String,
    },
    #[error(
        "account {account}: creating the webhook lost its answer and no webhook named {name:?} exists; run connect again"
    )]
    WebhookLost { account: String, name: String },
}

/// The bridge's user as `connect` reports it (no secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserView {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
        }
    }
}

/// What `connect` did (or would do) about the webhook.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebhookStep {
    /// `created`, `updated`, `unchanged`, `would_create`, `would_update`, `skipped`.
    pub action: &'static str,
    pub id: Option<String>,
    pub name: String,
    pub endpoint: String,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
    /// `saved`, `unchanged` (the store already had it), `not_read` (dry run, skipped).
    pub signing_secret: &'static str,
}

/// The result of one `connect`, printed as text or `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    pub account: String,
    pub dry_run: bool,
    /// `authorization_code`, `client_credentials` or `api_token`.
    pub grant: &'static str,
    /// `signed_in`, `kept`, `would_sign_in`, `obtained` (client credentials), `configured`
    /// (API token).
    pub credential: &'static str,
    pub user: Option<UserView>,
    pub webhook: Option<WebhookStep>,
    /// Whether the store changed.
    pub stored: bool,
    pub warnings: Vec<String>,
}

/// Runs `connect` for `args.account`; progress and sign-in instructions go to `out`.
pub async fn connect(
    config: &Config,
    store: &Store,
    args: &ConnectArgs,
    out: &mut dyn Write,
) -> Result<ConnectReport, ConnectError> {
    let name = args.account.as_str();
    let ac = config
        .accounts
        .get(name)
        .ok_or_else(|| ConnectError::UnknownAccount(name.to_owned()))?;
    // The grant: --client-credentials, or the configured client_credentials; else
    // --sign-in means the authorization code; else the one the account was connected
    // with (the daemon uses the same, `engine::grant_in_use`).
    let grant = match &ac.auth {
        AccountAuth::ApiToken { .. } if args.client_credentials => {
            return Err(ConnectError::NotOAuth(name.to_owned()));
        }
        AccountAuth::ApiToken { .. } => None,
        AccountAuth::OAuth { grant, .. } => Some(
            if args.client_credentials || *grant == OAuthGrant::ClientCredentials {
                OAuthGrant::ClientCredentials
            } else if args.sign_in {
                OAuthGrant::AuthorizationCode
            } else {
                crate::engine::grant_in_use(ac, store).unwrap_or(*grant)
            },
        ),
    };
    let mut report = ConnectReport {
        account: name.to_owned(),
        dry_run: args.dry_run,
        grant: grant.map_or("api_token", OAuthGrant::as_str),
        credential: "configured",
        user: None,
        webhook: None,
        stored: false,
        warnings: Vec::new(),
    };
    let previous = store.connection(name)?;

    // 1. The credential.
    match grant {
        None => report.warnings.push(api_token_warning(name)),
        Some(OAuthGrant::ClientCredentials) => report.credential = "obtained",
        Some(OAuthGrant::AuthorizationCode) => {
            let has_token = store.oauth_tokens(name)?.is_some()
                || matches!(
                    &ac.auth,
                    AccountAuth::OAuth {
                        refresh_token: Some(_),
                        ..
                    }
                );
            let works = if has_token && !args.sign_in {
                match Account::with_grant(ac, store, None, grant)?
                    .client
                    .probe()
                    .await
                {
                    Ok(_) => true,
                    Err(ZendeskError::NotConnected { .. } | ZendeskError::Auth { .. }) => false,
                    Err(e) => return Err(e.into()),
                }
            } else {
                false
            };
            if works {
                report.credential = "kept";
            } else if args.dry_run {
                report.credential = "would_sign_in";
            } else {
                let pair = sign_in(ac, args, out).await?;
                store.set_oauth_tokens(name, &tokens_of(&pair))?;
                report.stored = true;
                report.credential = "signed_in";
            }
        }
    }
    let _ = writeln!(out, "{}", credential_line(&report));
    if report.credential == "would_sign_in" {
        // Nothing can be read without signing in: say what the rest would be.
        let endpoint = endpoint_of(config, ac, args);
        if let Some((e, true)) = &endpoint {
            report.warnings.push(webhook::fallback_warning(e));
        }
        report.webhook = endpoint.map(|(e, _)| {
            let want = webhook::wanted(name, &e);
            WebhookStep {
                action: "would_create",
                id: None,
                name: want.name,
                endpoint: e,
                changes: vec!["read after signing in: created, or updated if it exists".into()],
                notes: Vec::new(),
                signing_secret: "not_read",
            }
        });
        print_webhook(out, &report);
        for w in &report.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        return Ok(report);
    }

    // 2. Who the bridge is there.
    let account = Account::with_grant(ac, store, None, grant)?;
    let probe = account.client.probe().await?;
    let user = UserView::from(&probe.user);
    let _ = writeln!(
        out,
        "  the bridge acts as {} <{}> (user {}, {}); this user must be the bridge's alone",
        user.name,
        user.email.as_deref().unwrap_or("no email"),
        user.id,
        user.role
    );
    report.user = Some(user.clone());

    // 3. The webhook. A failure here still records who the bridge signed in as.
    let step = if ac.webhook_secret.is_some() {
        report.warnings.push(format!(
            "accounts.{name}.webhook_secret is set: its webhook is managed by hand and connect leaves it alone (remove webhook_secret to let connect manage it)"
        ));
        Ok(None)
    } else {
        if let Some((e, true)) = endpoint_of(config, ac, args) {
            report.warnings.push(webhook::fallback_warning(&e));
        }
        set_up_webhook(config, ac, args, &account, &user, out)
            .await
            .map(Some)
    };
    let webhook_record = match (&step, &previous) {
        (Ok(Some((_, Some(record)))), _) => Some(record.clone()),
        // Managed by hand, a dry run or a failure: what the store had stays.
        (_, Some(p)) => p.webhook.clone(),
        (_, None) => None,
    };
    if let Ok(Some((s, _))) = &step {
        report.webhook = Some(s.clone());
    }

    // 4. The store: written only when something changed.
    if !args.dry_run {
        let signed_in = report.credential == "signed_in";
        let mut conn = Connection {
            grant: report.grant.to_owned(),
            user_id: user.id,
            user_email: user.email.clone(),
            user_name: user.name.clone(),
            user_role: user.role.clone(),
            connected_at: crate::clock::now(),
            webhook: webhook_record,
        };
        if let (Some(p), false) = (&previous, signed_in) {
            conn.connected_at = p.connected_at;
        }
        let same = previous.as_ref().is_some_and(|p| same_connection(p, &conn));
        if same && !signed_in {
            if let Some(w) = &mut report.webhook
                && w.signing_secret == "saved"
            {
                w.signing_secret = "unchanged";
            }
        } else {
            store.save_connection(name, &conn, None)?;
            report.stored = true;
        }
    }
    step?;
    print_webhook(out, &report);
    for w in &report.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    Ok(report)
}

/// Whether two connections say the same, ignoring when they were made or checked.
fn same_connection(a: &Connection, b: &Connection) -> bool {
    let strip = |c: &Connection| {
        let mut c = c.clone();
        c.connected_at = jiff::Timestamp::UNIX_EPOCH;
        if let Some(w) = &mut c.webhook {
            w.checked_at = jiff::Timestamp::UNIX_EPOCH;
        }
        c
    };
    strip(a) == strip(b)
}

/// `--webhook-url`, else [`webhook::endpoint_for`]; `true` when it fell back to the
/// loopback listen address.
fn endpoint_of(config: &Config, ac: &AccountConfig, args: &ConnectArgs) -> Option<(String, bool)> {
    match &args.webhook_url {
        Some(u) => Some((u.trim().to_owned(), false)),
        None => webhook::endpoint_for(config, &ac.name),
    }
}

async fn set_up_webhook(
    config: &Config,
    ac: &AccountConfig,
    args: &ConnectArgs,
    account: &Account,
    user: &UserView,
    out: &mut dyn Write,
) -> Result<(WebhookStep, Option<WebhookRecord>), ConnectError> {
    let name = ac.name.as_str();
    let (endpoint, _) =
        endpoint_of(config, ac, args).ok_or_else(|| ConnectError::NoPublicUrl(name.to_owned()))?;
    if user.role != "admin" {
        return Err(ConnectError::NotAdmin {
            account: name.to_owned(),
            user: user.email.clone().unwrap_or_else(|| user.name.clone()),
            role: if user.role.is_empty() {
                "not an admin".into()
            } else {
                format!("an {}", user.role)
            },
        });
    }
    let client = &account.client;
    let want = webhook::wanted(name, &endpoint);
    let existing = client.list_webhooks().await?;
    let plan = webhook::plan(&existing, &want);
    let mut step = WebhookStep {
        action: "unchanged",
        id: None,
        name: want.name.clone(),
        endpoint: endpoint.clone(),
        changes: Vec::new(),
        notes: plan.notes.clone(),
        signing_secret: "saved",
    };
    let id = match &plan.action {
        Action::Create if args.dry_run => {
            step.action = "would_create";
            None
        }
        Action::Update { id, changes } if args.dry_run => {
            step.action = "would_update";
            step.changes = changes.clone();
            Some(id.clone())
        }
        Action::Keep { id } => Some(id.clone()),
        Action::Create => {
            step.action = "created";
            match client.create_webhook(&want).await {
                Ok(w) => Some(w.id),
                Err(ZendeskError::InDoubt { .. }) => {
                    // The answer was lost: it exists if Zendesk made it.
                    let again = client.list_webhooks().await?;
                    match webhook::plan(&again, &want).action {
                        Action::Keep { id } | Action::Update { id, .. } => Some(id),
                        Action::Create => {
                            return Err(ConnectError::WebhookLost {
                                account: name.to_owned(),
                                name: want.name.clone(),
                            });
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Action::Update { id, changes } => {
            step.action = "updated";
            step.changes = changes.clone();
            client.update_webhook(id, &want).await?;
            Some(id.clone())
        }
    };
    step.id = id.clone();
    if args.dry_run {
        step.signing_secret = "not_read";
        return Ok((step, None));
    }
    let id = id.expect("every applied plan names its webhook");
    let secret = client.webhook_signing_secret(&id).await?;
    let _ = out.flush();
    Ok((
        step,
        Some(WebhookRecord {
            id,
            name: want.name,
            endpoint,
            subscriptions: want.subscriptions,
            signing_secret: secret.secret,
            checked_at: crate::clock::now(),
        }),
    ))
}

/// Signs in with the authorization code grant and PKCE; returns the new pair.
async fn sign_in(
    ac: &AccountConfig,
    args: &ConnectArgs,
    out: &mut dyn Write,
) -> Result<crate::zendesk::client::TokenPair, ConnectError> {
    let AccountAuth::OAuth {
        client_id,
        client_secret,
        email,
        ..
    } = &ac.auth
    else {
        unreachable!("only OAuth accounts sign in");
    };
    let hint = email.as_deref();
    let fail = |source: SignInError| ConnectError::SignIn {
        account: ac.name.clone(),
        source,
    };
    let pkce = Pkce::new().map_err(|e| fail(e.into()))?;
    let state = oauth::new_state().map_err(|e| fail(e.into()))?;
    let code;
    let redirect_uri;
    if args.print_url {
        let port = match args.redirect_port {
            0 => free_port().await.map_err(fail)?,
            p => p,
        };
        redirect_uri = signin::redirect_uri(port);
        let url = oauth::authorize_url(
            &ac.base_url,
            client_id,
            &redirect_uri,
            &state,
            &pkce.challenge,
            hint,
        );
        code = signin::paste(&url, &state, out).await.map_err(fail)?;
    } else {
        let lb = Loopback::bind(args.redirect_port).await.map_err(fail)?;
        redirect_uri = lb.redirect_uri();
        let url = oauth::authorize_url(
            &ac.base_url,
            client_id,
            &redirect_uri,
            &state,
            &pkce.challenge,
            hint,
        );
        let _ = writeln!(
            out,
            "Open this address in a browser signed in to Zendesk ({}) as the bridge's dedicated user:\n\n  {url}\n\nWaiting up to {:?} for Zendesk's redirect to {redirect_uri} ...\n(On a host without a browser, stop this and run `sharebridge connect {} --print-url`.)",
            ac.base_url, args.timeout, ac.name
        );
        let _ = out.flush();
        code = lb.wait(&state, args.timeout).await.map_err(fail)?;
    }
    let client = ClientCredentials {
        base_url: &ac.base_url,
        client_id,
        client_secret,
    };
    let pair = oauth::exchange_code(&client, &code, &redirect_uri, &pkce.verifier)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(pair)
}

/// A free loopback port for a redirect URI nobody listens on (`--print-url`).
async fn free_port() -> Result<u16, SignInError> {
    let lb = Loopback::bind(0).await?;
    let uri = lb.redirect_uri();
    Ok(uri
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches(signin::CALLBACK_PATH)
        .parse()
        .unwrap_or(8250))
}

fn credential_line(r: &ConnectReport) -> String {
    let a = &r.account;
    match r.credential {
        "signed_in" => {
            format!("{a}: signed in (authorization code with PKCE); the token pair is in the store")
        }
        "kept" => {
            format!("{a}: the stored OAuth credential works; kept (--sign-in signs in again)")
        }
        "would_sign_in" => format!(
            "{a}: would sign in (authorization code with PKCE) and keep the token pair in the store"
        ),
        "obtained" => format!(
            "{a}: client credentials grant: the daemon asks Zendesk for access tokens with the OAuth client's id and secret"
        ),
        _ => format!("{a}: uses the configured API token"),
    }
}

fn print_webhook(out: &mut dyn Write, r: &ConnectReport) {
    let Some(w) = &r.webhook else {
        return;
    };
    let id = w.id.as_deref().unwrap_or("-");
    let line = match w.action {
        "created" => format!("  webhook {:?} created ({id}) -> {}", w.name, w.endpoint),
        "updated" => format!("  webhook {:?} updated ({id}) -> {}", w.name, w.endpoint),
        "unchanged" => format!(
            "  webhook {:?} already as wanted ({id}) -> {}",
            w.name, w.endpoint
        ),
        "would_create" => format!("  would create webhook {:?} -> {}", w.name, w.endpoint),
        "would_update" => format!(
            "  would update webhook {:?} ({id}) -> {}",
            w.name, w.endpoint
        ),
        _ => format!("  webhook {:?} left alone", w.name),
    };
    let _ = writeln!(out, "{line}");
    for c in &w.changes {
        let _ = writeln!(out, "    {c}");
    }
    for n in &w.notes {
        let _ = writeln!(out, "    note: {n}");
    }
    let secret = match w.signing_secret {
        "saved" => "  signing secret read through the API and kept in the store",
        "unchanged" => "  signing secret unchanged",
        _ => "",
    };
    if !secret.is_empty() {
        let _ = writeln!(out, "{secret}");
    }
    if r.dry_run {
        let _ = writeln!(out, "  (dry run: nothing was changed)");
    }
}
