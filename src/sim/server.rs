//! The [`Simulator`] handle tests and the CLI hold: binds one listener per account (or
//! none, in-process), owns the shared clock, token and webhook queue, and offers helpers
//! that act as a human agent would in the web UI (no limits, no faults). The HTTP surface
//! of an account is `routes::app`; `/sim/*` is `control`.
//!
//! Seam for a deterministic simulation: [`Simulator::in_process`] starts without a
//! socket, its webhooks go to a caller-supplied [`WebhookSender`] and may run on a
//! simulated clock; [`Simulator::router`] and [`Simulator::handle`] serve one account's
//! API to an in-process caller.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::response::Response;
use axum::serve::ListenerExt as _;
use jiff::Timestamp;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::sim::clock::{Clock, seconds};
use crate::sim::config::{FaultSettings, Limits, SimConfig, WebhookSpec};
use crate::sim::error::{ApiError, SimApiError, SimError};
use crate::sim::http::{Caller, Req};
use crate::sim::oauth::{self, OAuthGrant};
use crate::sim::routes::{self, Route};
use crate::sim::state::Account;
use crate::sim::stats::{Stats, StatsSnapshot};
use crate::sim::webhooks::{self, Change, HttpSender, WebhookCounters, WebhookSender};
use crate::sim::{comments, redaction, tickets};
use crate::zendesk::models::{
    Comment, FieldOption, Group, SharingAgreement, Ticket, TicketField, TicketForm, TicketWrite,
    User,
};

/// What every account shares.
pub(crate) struct Shared {
    pub clock: Arc<Clock>,
    pub token: String,
    pub webhooks: Arc<RwLock<Vec<WebhookSpec>>>,
    pub changes: mpsc::UnboundedSender<Change>,
    pub webhook_counters: Arc<WebhookCounters>,
}

/// One account's state and identity.
pub(crate) struct AccountHandle {
    pub name: Arc<str>,
    pub base_url: String,
    pub addr: SocketAddr,
    /// Copy of `knobs.faults.latency_ms`, readable before taking the lock.
    pub latency_ms: AtomicU64,
    pub state: Mutex<Account>,
    pub shared: Arc<Shared>,
}

impl AccountHandle {
    pub fn lock(&self) -> MutexGuard<'_, Account> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a request held back by the late-apply fault, at the current time.
    pub fn apply_late(&self, route: Route, mut req: Req, authz: Option<&str>) {
        let now_ms = self.shared.clock.now_ms();
        req.now_ms = now_ms;
        req.now = seconds(now_ms);
        let mut a = self.lock();
        if let Err(e) = routes::call(route, &mut a, &req, authz) {
            tracing::debug!(account = %self.name, status = %e.status, "late write refused");
        }
        self.settle(a);
    }

    /// Ends an operation: turns the tickets it touched into webhook deliveries (under
    /// the lock, so they follow the order of the changes), releases the lock, queues them.
    pub fn settle(&self, mut a: MutexGuard<'_, Account>) {
        if a.touched.is_empty() {
            return;
        }
        let targets = webhooks::targets_of(&self.shared.webhooks, &a, &self.name);
        let changes = webhooks::changes(&mut a, &self.name, &targets);
        drop(a);
        for c in changes {
            self.shared
                .webhook_counters
                .started
                .fetch_add(1, Ordering::SeqCst);
            let _ = self.shared.changes.send(c);
        }
    }
}

/// Checks a configuration before anything is bound or started.
fn validate(config: &SimConfig) -> Result<(), SimError> {
    if config.accounts.is_empty() {
        return Err(SimError::NoAccounts);
    }
    for (i, a) in config.accounts.iter().enumerate() {
        if config.accounts[..i].iter().any(|b| b.name == a.name) {
            return Err(SimError::DuplicateAccount(a.name.clone()));
        }
    }
    for w in &config.webhooks {
        if !config.accounts.iter().any(|a| a.name == w.account) {
            return Err(SimError::UnknownWebhookAccount(w.account.clone()));
        }
    }
    if !(0.0..=1.0).contains(&config.faults.rate) {
        return Err(SimError::BadFaultRate(config.faults.rate));
    }
    Ok(())
}

/// A running simulator: one listener per account. Tests hold it to read and seed state
/// and to turn knobs; [`Simulator::shutdown`] stops it (dropping it stops it too).
pub struct Simulator {
    accounts: Vec<Arc<AccountHandle>>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("accounts", &self.account_names())
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Simulator {
    /// Binds every account (all or nothing) and starts serving; webhooks go over HTTP.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        validate(&config)?;
        let mut listeners = Vec::new();
        for spec in &config.accounts {
            let bind_err = |source| SimError::Bind {
                account: spec.name.clone(),
                addr: spec.addr,
                source,
            };
            let l = TcpListener::bind(spec.addr).await.map_err(bind_err)?;
            let addr = l.local_addr().map_err(bind_err)?;
            listeners.push((l, addr));
        }
        let bases = listeners
            .iter()
            .map(|(_, addr)| {
                let ip = if addr.ip().is_unspecified() {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    addr.ip()
                };
                (
                    *addr,
                    format!("http://{}", SocketAddr::new(ip, addr.port())),
                )
            })
            .collect();
        let sender: Arc<dyn WebhookSender> = Arc::new(HttpSender::new()?);
        let mut sim = Simulator::assemble(&config, bases, sender, Clock::default());
        // The file host attachments redirect to: another origin than every account's.
        let files_ip = listeners
            .first()
            .map(|(_, a)| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let files_bind = |source| SimError::Bind {
            account: "(file host)".to_owned(),
            addr: SocketAddr::new(files_ip, 0),
            source,
        };
        let files = TcpListener::bind(SocketAddr::new(files_ip, 0))
            .await
            .map_err(files_bind)?;
        let files_addr = files.local_addr().map_err(files_bind)?;
        for h in &sim.accounts {
            h.lock().files_base = Some(format!("http://{files_addr}"));
        }
        let files_app = crate::sim::files::app(Arc::new(sim.accounts.clone()));
        let stop = sim.cancel.clone();
        sim.tasks.push(tokio::spawn(async move {
            let served = axum::serve(files, files_app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "simulator file host stopped");
            }
        }));
        for (handle, (listener, _)) in sim.accounts.clone().into_iter().zip(listeners) {
            let app = routes::app(handle);
            let stop = sim.cancel.clone();
            sim.tasks.push(tokio::spawn(async move {
                // Small answers go out at once (no Nagle delay behind the previous write).
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::warn!(error = %e, "simulator listener stopped");
                }
            }));
        }
        Ok(sim)
    }

    /// Starts without any socket, for a caller that drives each account's API through
    /// [`Simulator::handle`] or [`Simulator::router`]: webhooks go to `sender`, and with
    /// `clock_start` the simulator's clock starts there and moves only with
    /// [`Simulator::advance_clock`] (no wall clock). An account's `base_url` is
    /// `http://ADDR` as configured, or `http://NAME.sim.invalid` for port 0; links in
    /// answers name the `Host` a request carries. Needs a tokio runtime (the webhook
    /// queue and late writes are tasks; delays are `tokio::time` sleeps).
    pub fn in_process(
        config: SimConfig,
        sender: Arc<dyn WebhookSender>,
        clock_start: Option<Timestamp>,
    ) -> Result<Simulator, SimError> {
        validate(&config)?;
        let bases = config
            .accounts
            .iter()
            .map(|spec| {
                let base = if spec.addr.port() == 0 {
                    format!("http://{}.sim.invalid", spec.name)
                } else {
                    format!("http://{}", spec.addr)
                };
                (spec.addr, base)
            })
            .collect();
        let clock = match clock_start {
            Some(t) => Clock::starting_at(t.as_millisecond()),
            None => Clock::default(),
        };
        Ok(Simulator::assemble(&config, bases, sender, clock))
    }

    /// [`Simulator::in_process`] on the wall clock (`crate::clock::now`, which a
    /// deterministic run simulates per thread).
    pub fn start_in_process(
        config: SimConfig,
        webhooks: Arc<dyn WebhookSender>,
    ) -> Result<Simulator, SimError> {
        Simulator::in_process(config, webhooks, None)
    }

    /// [`Simulator::handle`] under the name the first in-process seam gave it.
    pub async fn serve(&self, account: &str, request: Request<Body>) -> Response {
        self.handle(account, request).await
    }

    /// The accounts, their shared state and the webhook task; serves nothing yet.
    fn assemble(
        config: &SimConfig,
        bases: Vec<(SocketAddr, String)>,
        sender: Arc<dyn WebhookSender>,
        clock: Clock,
    ) -> Simulator {
        let clock = Arc::new(clock);
        let cancel = CancellationToken::new();
        let targets = Arc::new(RwLock::new(config.webhooks.clone()));
        let webhook_counters = Arc::new(WebhookCounters::default());
        let (changes, webhook_task) = webhooks::spawn(
            config.webhook_secret.clone(),
            clock.clone(),
            webhook_counters.clone(),
            cancel.clone(),
            sender,
        );
        let shared = Arc::new(Shared {
            clock: clock.clone(),
            token: config.token.clone(),
            webhooks: targets,
            changes,
            webhook_counters,
        });
        let accounts = config
            .accounts
            .iter()
            .zip(bases)
            .enumerate()
            .map(|(i, (spec, (addr, base_url)))| {
                let account = Account::new(&spec.name, i, base_url.clone(), config, clock.now());
                Arc::new(AccountHandle {
                    name: Arc::from(spec.name.as_str()),
                    base_url,
                    addr,
                    latency_ms: AtomicU64::new(config.faults.latency_ms),
                    state: Mutex::new(account),
                    shared: shared.clone(),
                })
            })
            .collect();
        Simulator {
            accounts,
            shared,
            cancel,
            tasks: vec![webhook_task],
        }
    }

    /// One account's whole HTTP surface (the Zendesk API and `/sim/*`) as an axum
    /// router, to serve in-process (`tower::ServiceExt::oneshot`) or on a listener of the
    /// caller's. Panics for an unknown account.
    pub fn router(&self, account: &str) -> Router {
        routes::app(self.handle_of(account).clone())
    }

    /// Answers one request to `account` in-process, through the same pipeline as a
    /// socket (stats → fault → auth → limits → handler → webhooks → headers). A dropped
    /// connection fault shows as a response whose body fails to read. Panics for an
    /// unknown account.
    pub async fn handle(&self, account: &str, request: Request<Body>) -> Response {
        use tower::ServiceExt as _;
        match self.router(account).oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// Stops every listener and the webhook sender; waits up to 5 s for open requests.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn handle_of(&self, account: &str) -> &Arc<AccountHandle> {
        match self.accounts.iter().find(|a| &*a.name == account) {
            Some(h) => h,
            None => panic!("simulator has no account named {account:?}"),
        }
    }

    /// Configured account names, in order.
    pub fn account_names(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.to_string()).collect()
    }

    /// `http://127.0.0.1:PORT` of an account. Panics for an unknown account.
    pub fn base_url(&self, account: &str) -> String {
        self.handle_of(account).base_url.clone()
    }

    /// The bound address of an account. Panics for an unknown account.
    pub fn addr(&self, account: &str) -> SocketAddr {
        self.handle_of(account).addr
    }

    /// The API token every account accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The simulator's current time (wall clock plus any [`Simulator::advance_clock`]).
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// Moves the simulator's clock forward (export lag, token expiry, limit windows).
    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .clock
            .advance_ms(u64::try_from(by.as_millis()).unwrap_or(u64::MAX / 4));
    }

    /// Live (not deleted) tickets, by id, as the API would render them.
    pub fn tickets(&self, account: &str) -> Vec<Ticket> {
        let a = self.handle_of(account).lock();
        a.tickets
            .values()
            .filter(|r| !r.deleted)
            .map(|r| a.wire(r).ticket)
            .collect()
    }

    /// One ticket (also a deleted one, with status `deleted`).
    pub fn ticket(&self, account: &str, id: u64) -> Option<Ticket> {
        let a = self.handle_of(account).lock();
        a.tickets.get(&id).map(|r| a.wire(r).ticket)
    }

    /// A ticket's comments, oldest first (empty for an unknown ticket).
    pub fn comments(&self, account: &str, ticket_id: u64) -> Vec<Comment> {
        let a = self.handle_of(account).lock();
        a.tickets
            .get(&ticket_id)
            .map(|r| r.comments.clone())
            .unwrap_or_default()
    }

    /// The comments of a ticket from position `skip` on: cheap repeated polling for the
    /// benchmark, which watches mirrors every few milliseconds.
    pub fn comments_from(&self, account: &str, ticket_id: u64, skip: usize) -> Vec<Comment> {
        let a = self.handle_of(account).lock();
        a.tickets
            .get(&ticket_id)
            .and_then(|r| r.comments.get(skip..))
            .map(<[Comment]>::to_vec)
            .unwrap_or_default()
    }

    /// The account's users.
    pub fn users(&self, account: &str) -> Vec<User> {
        self.handle_of(account)
            .lock()
            .users
            .values()
            .cloned()
            .collect()
    }

    /// The user id for an email, created as an agent if new.
    pub fn user_id(&self, account: &str, email: &str) -> u64 {
        let now = self.now();
        self.handle_of(account)
            .lock()
            .ensure_user(email, "agent", now)
    }

    /// Request counters (what `GET /sim/stats` answers).
    pub fn stats(&self, account: &str) -> StatsSnapshot {
        self.handle_of(account).lock().stats.snapshot()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self, account: &str) {
        self.handle_of(account).lock().stats = Stats::default();
    }

    fn helper_req(&self, a: &mut Account, email: &str) -> Req {
        let now_ms = self.shared.clock.now_ms();
        let now = seconds(now_ms);
        let id = a.ensure_user(email, "agent", now);
        Req {
            caller: Caller {
                id,
                email: email.to_lowercase(),
            },
            ids: [0, 0],
            token: None,
            query: Vec::new(),
            body: Bytes::new(),
            idempotency_key: None,
            content_type: None,
            now,
            now_ms,
            channel: "web",
        }
    }

    /// Creates a ticket as agent `email` would in the web UI (`via.channel` "web"; no
    /// limits, no faults). Webhooks fire as for API writes.
    pub fn create_ticket(
        &self,
        account: &str,
        email: &str,
        write: &TicketWrite,
    ) -> Result<Ticket, SimApiError> {
        let h = self.handle_of(account);
        let mut a = h.lock();
        let req = self.helper_req(&mut a, email);
        let id = tickets::create_direct(&mut a, &req, write)?;
        let t = a.wire(&a.tickets[&id]).ticket;
        h.settle(a);
        Ok(t)
    }

    /// Updates a ticket as agent `email` would in the web UI (no limits, no faults).
    pub fn update_ticket(
        &self,
        account: &str,
        id: u64,
        email: &str,
        write: &TicketWrite,
    ) -> Result<Ticket, SimApiError> {
        let h = self.handle_of(account);
        let mut a = h.lock();
        let req = self.helper_req(&mut a, email);
        tickets::update_direct(&mut a, &req, id, write)?;
        let t = a.wire(&a.tickets[&id]).ticket;
        h.settle(a);
        Ok(t)
    }

    /// Adds one comment as agent `email` (a human replying in the UI).
    pub fn add_comment(
        &self,
        account: &str,
        id: u64,
        email: &str,
        body: &str,
        public: bool,
    ) -> Result<Comment, SimApiError> {
        self.update_ticket(account, id, email, &tickets::comment_write(body, public))?;
        self.comments(account, id)
            .pop()
            .ok_or_else(|| ApiError::not_found().into())
    }

    /// Deletes a ticket as agent `email` would (soft: 404 afterwards, `deleted` in the
    /// incremental export); webhooks fire.
    pub fn delete_ticket(&self, account: &str, id: u64, email: &str) -> Result<(), SimApiError> {
        let h = self.handle_of(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.ids = [id, 0];
        tickets::delete(&mut a, &req)?;
        h.settle(a);
        Ok(())
    }

    /// Makes a comment private as agent `email` would; webhooks fire.
    pub fn make_private(
        &self,
        account: &str,
        id: u64,
        comment_id: u64,
        email: &str,
    ) -> Result<(), SimApiError> {
        let h = self.handle_of(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.ids = [id, comment_id];
        comments::make_private(&mut a, &req)?;
        h.settle(a);
        Ok(())
    }

    /// Redacts a comment as agent `email` would: `Some(text)` blots that string out
    /// (`…/comments/{cid}/redact`), `None` the whole comment and its attachments (agent
    /// workspace). Webhooks fire (`ticket.comment_redacted`).
    pub fn redact_comment(
        &self,
        account: &str,
        id: u64,
        comment_id: u64,
        email: &str,
        text: Option<&str>,
    ) -> Result<(), SimApiError> {
        let h = self.handle_of(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.ids = [id, comment_id];
        match text {
            Some(t) => {
                req.body = Bytes::from(serde_json::to_vec(&json!({"text": t})).unwrap_or_default());
                redaction::redact_text(&mut a, &req)?;
            }
            None => redaction::redact_whole(&mut a, &req)?,
        }
        h.settle(a);
        Ok(())
    }

    /// Defines a custom ticket field; `options` are (name, tag value) for drop-downs.
    pub fn add_ticket_field(
        &self,
        account: &str,
        field_type: &str,
        title: &str,
        options: &[(&str, &str)],
    ) -> TicketField {
        let now = self.now();
        let mut a = self.handle_of(account).lock();
        let opts = options
            .iter()
            .map(|(n, v)| FieldOption {
                id: 0,
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect();
        let id = a.add_field(field_type, title, opts, true, now);
        a.fields[&id].field.clone()
    }

    /// Adds a group, as an admin would.
    pub fn add_group(&self, account: &str, name: &str) -> Group {
        let now = self.now();
        let mut a = self.handle_of(account).lock();
        let id = a.ids.object();
        let g = Group {
            id,
            url: a.url(&format!("groups/{id}.json")),
            name: name.to_owned(),
            is_public: true,
            default: false,
            deleted: false,
            created_at: now,
            updated_at: now,
        };
        a.groups.push(g.clone());
        g
    }

    /// The account's groups that are not deleted (the default `Support` first).
    pub fn groups(&self, account: &str) -> Vec<Group> {
        let a = self.handle_of(account).lock();
        a.groups.iter().filter(|g| !g.deleted).cloned().collect()
    }

    /// Adds an active ticket form, as an admin would.
    pub fn add_ticket_form(&self, account: &str, name: &str) -> TicketForm {
        let now = self.now();
        let mut a = self.handle_of(account).lock();
        a.add_form(name, false, now)
    }

    /// The account's ticket forms (the default one first).
    pub fn ticket_forms(&self, account: &str) -> Vec<TicketForm> {
        self.handle_of(account).lock().forms.clone()
    }

    /// Adds a native sharing agreement (`GET /sharing_agreements` lists it).
    pub fn add_sharing_agreement(
        &self,
        account: &str,
        name: &str,
        agreement_type: &str,
        status: &str,
        remote_subdomain: &str,
    ) -> SharingAgreement {
        let now = self.now();
        let mut a = self.handle_of(account).lock();
        let s = SharingAgreement {
            id: a.ids.object(),
            name: name.to_owned(),
            agreement_type: agreement_type.to_owned(),
            status: status.to_owned(),
            partner_name: None,
            remote_subdomain: Some(remote_subdomain.to_owned()),
            created_at: now,
            updated_at: now,
        };
        a.agreements.push(s.clone());
        s
    }

    /// Provisions an OAuth client and a token pair for agent `user_email`.
    pub fn oauth_client(&self, account: &str, user_email: &str) -> OAuthGrant {
        let now_ms = self.shared.clock.now_ms();
        let mut a = self.handle_of(account).lock();
        oauth::provision(&mut a, None, None, user_email, seconds(now_ms), now_ms)
    }

    /// Gives `email` (created if new) the role `end-user`, `agent` or `admin`, as an
    /// account owner would in the admin UI; returns the user id.
    pub fn set_role(&self, account: &str, email: &str, role: &str) -> u64 {
        let now = self.now();
        self.handle_of(account).lock().set_role(email, role, now)
    }

    /// Makes `email` (an agent) a member of exactly these brands.
    pub fn set_brand_memberships(&self, account: &str, email: &str, brand_ids: &[u64]) {
        let now = self.now();
        let mut a = self.handle_of(account).lock();
        let id = a.ensure_user(email, "agent", now);
        a.set_brand_memberships(id, brand_ids, now);
    }

    /// Revokes an OAuth access token (and the refresh token issued with it), as an admin
    /// would in Admin Center; whether it was live.
    pub fn revoke_oauth_token(&self, account: &str, access_token: &str) -> bool {
        self.handle_of(account).lock().revoke_access(access_token)
    }

    fn each(&self, account: Option<&str>, f: impl Fn(&AccountHandle)) {
        match account {
            Some(name) => f(self.handle_of(name)),
            None => self.accounts.iter().for_each(|h| f(h)),
        }
    }

    /// Sets the limits of one account (`Some`) or all; forgets request histories.
    pub fn set_limits(&self, account: Option<&str>, limits: Limits) {
        self.each(account, |h| {
            let mut a = h.lock();
            a.knobs.limits = limits;
            a.limits.clear();
        });
    }

    /// Sets fault injection for one account (`Some`) or all.
    pub fn set_faults(&self, account: Option<&str>, faults: FaultSettings) {
        self.each(account, |h| {
            h.latency_ms.store(faults.latency_ms, Ordering::Relaxed);
            h.lock().knobs.faults = faults.clone();
        });
    }

    /// Sets only the fault rate, on every account.
    pub fn set_fault_rate(&self, rate: f64) {
        let rate = rate.clamp(0.0, 1.0);
        self.each(None, |h| h.lock().knobs.faults.rate = rate);
    }

    /// While `stall`, the account's ticket updates hang without effect (then drop).
    pub fn set_stall_ticket_updates(&self, account: &str, stall: bool) {
        self.handle_of(account).lock().knobs.stall_ticket_updates = stall;
    }

    /// While `hold`, the account's ticket creates wait on the wire (then go on as usual).
    pub fn set_hold_ticket_creates(&self, account: &str, hold: bool) {
        self.handle_of(account).lock().knobs.hold_ticket_creates = hold;
    }

    /// How many ticket creates arrived while [`Self::set_hold_ticket_creates`] held them.
    pub fn held_ticket_creates(&self, account: &str) -> u64 {
        self.handle_of(account).lock().knobs.held_ticket_creates
    }

    /// While `hold`, the account's ticket updates wait on the wire (then go on as usual).
    pub fn set_hold_ticket_updates(&self, account: &str, hold: bool) {
        self.handle_of(account).lock().knobs.hold_ticket_updates = hold;
    }

    /// How many ticket updates arrived while [`Self::set_hold_ticket_updates`] held them.
    pub fn held_ticket_updates(&self, account: &str) -> u64 {
        self.handle_of(account).lock().knobs.held_ticket_updates
    }

    /// While `lose`, the account's ticket updates take effect and their answers are lost.
    pub fn set_lose_ticket_update_answers(&self, account: &str, lose: bool) {
        self.handle_of(account)
            .lock()
            .knobs
            .lose_ticket_update_answers = lose;
    }

    /// Sets how long the late-apply fault holds a write back, on every account.
    pub fn set_late_apply_ms(&self, ms: u64) {
        self.each(None, |h| h.lock().knobs.late_apply_ms = ms);
    }

    /// Sets the incremental export lag, on every account.
    pub fn set_export_lag(&self, secs: u64) {
        self.each(None, |h| h.lock().knobs.export_lag_secs = secs);
    }

    /// Sets the lifetime of access tokens issued from now on, on every account.
    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.each(None, |h| h.lock().knobs.access_token_lifetime_secs = secs);
    }

    /// Webhook delivery counters (started, delivered, failed; `pending()`).
    pub fn webhooks(&self) -> &WebhookCounters {
        &self.shared.webhook_counters
    }

    /// Uploads a file as agent `email` would attach it in the UI (no limits, no faults):
    /// the token goes in a comment's `uploads`.
    pub fn upload(
        &self,
        account: &str,
        email: &str,
        file_name: &str,
        content_type: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<crate::zendesk::models::Upload, SimApiError> {
        let h = self.handle_of(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.query = vec![("filename".to_owned(), file_name.to_owned())];
        req.content_type = Some(content_type.to_owned());
        req.body = bytes.into();
        let resp = crate::sim::uploads::create(&mut a, &req)?;
        let mut v: serde_json::Value =
            serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null);
        serde_json::from_value(v["upload"].take()).map_err(|_| ApiError::not_found().into())
    }

    /// The bytes behind an attachment, and whether downloading them needs credentials
    /// (`None` for an unknown attachment).
    pub fn attachment_bytes(&self, account: &str, attachment_id: u64) -> Option<(Bytes, bool)> {
        let a = self.handle_of(account).lock();
        a.blobs
            .get(&attachment_id)
            .map(|b| (b.bytes.clone(), b.private))
    }

    /// Deletes an attachment's file, as Zendesk does with a file it removed (its
    /// `content_url` then answers 404); the comment still lists it.
    pub fn delete_attachment_file(&self, account: &str, attachment_id: u64) -> bool {
        let mut a = self.handle_of(account).lock();
        let gone = a.blobs.remove(&attachment_id).is_some();
        a.blob_tokens.retain(|_, id| *id != attachment_id);
        gone
    }

    /// Adds a webhook target for an account.
    pub fn add_webhook(&self, account: &str, url: &str) {
        let _ = self.handle_of(account);
        if let Ok(mut w) = self.shared.webhooks.write() {
            w.push(WebhookSpec {
                account: account.to_owned(),
                url: url.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_is_shareable_across_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Simulator>();
    }

    #[tokio::test]
    async fn in_process_serves_without_a_socket_and_sends_webhooks_to_the_caller() {
        let (tx, mut rx) = mpsc::unbounded_channel::<crate::sim::WebhookDelivery>();
        let mut cfg = SimConfig::local(&["acme"]);
        cfg.webhooks = vec![WebhookSpec {
            account: "acme".to_owned(),
            url: "http://bridge.invalid/webhooks/acme".to_owned(),
        }];
        cfg.webhook_secret = "s".to_owned();
        let start: Timestamp = "2026-11-23T05:00:00Z".parse().unwrap();
        let sim = Simulator::in_process(cfg, Arc::new(tx), Some(start)).unwrap();
        assert_eq!(sim.base_url("acme"), "http://acme.sim.invalid");
        assert_eq!(sim.now(), start);
        let auth = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "a@acme.example/token:sim-token"
            )
        );
        let req = Request::post("/api/v2/tickets.json")
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"ticket":{"subject":"s","comment":{"body":"b"}}}"#,
            ))
            .unwrap();
        let resp = sim.handle("acme", req).await;
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["x-rate-limit"], "700");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["ticket"]["created_at"], "2026-11-23T05:00:00Z");
        assert!(
            v["ticket"]["url"]
                .as_str()
                .unwrap()
                .starts_with("http://acme.sim.invalid/")
        );
        let d = rx.recv().await.unwrap();
        assert_eq!(d.url, "http://bridge.invalid/webhooks/acme");
        let header = |n: &str| d.headers.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(
            header(crate::zendesk::signature::TIMESTAMP_HEADER),
            "2026-11-23T05:00:00Z"
        );
        assert!(crate::zendesk::signature::verify(
            b"s",
            &header(crate::zendesk::signature::TIMESTAMP_HEADER),
            &d.body,
            &header(crate::zendesk::signature::SIGNATURE_HEADER),
        ));
        assert_eq!(sim.stats("acme").by_endpoint["POST /api/v2/tickets"], 1);
        sim.advance_clock(Duration::from_secs(60));
        assert_eq!(sim.now().to_string(), "2026-11-23T05:01:00Z");
    }
}
