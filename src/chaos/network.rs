//! The simulated network between the daemon and the simulated Zendesk accounts, both
//! ways: the daemon's [`Transport`] ([`Network::transport`]) and the simulator's webhook
//! sender ([`Network::webhooks`]). Every request and webhook is decided here from the
//! run's seed: latency, a connection reset before arrival, a request that arrives only
//! after the client timed out (a write applied after its answer timed out), an answer that
//! comes too late, a partition, a panic in the transport; webhooks lost, duplicated,
//! delayed past each other. The simulator adds its own seeded 429/5xx/drops.
//!
//! A request on the wire is a task of the network, not of the daemon: it is still applied
//! if the daemon dies after sending it. Webhooks reach the daemon's routes in-process
//! (`tower` `oneshot`), refused while it is down.
//!
//! Must not: let a dead process see anything (its requests never leave; answers to it
//! are dropped) or draw from any randomness but its own seeded generator.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use tower::ServiceExt as _;

use crate::sim::{Simulator, WebhookDelivery, WebhookSender};
use crate::zendesk::client::transport::{Failure, Incoming, Outgoing, Sending, Transport};

use super::Life;
use super::schedule::{NetFaults, WebhookFaults};
use super::trace::{Trace, short_hash, trace};

/// The client's own timeout (`ClientSettings::new`): "late" deliveries exceed it.
const CLIENT_TIMEOUT_MS: u64 = 30_000;
/// A late request lands at most this long after it was sent: within the 60 s the engine
/// waits before it decides a write in doubt did not land (`daemon.in_doubt_wait`; a
/// ticket update carries no idempotency key, so a write landing later than any wait
/// could be doubled, the limit README states).
const LATEST_ARRIVAL_MS: u64 = 55_000;

/// What the network did, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetStats {
    pub requests: u64,
    /// Requests the network faulted (late, slow, reset, partition, panic).
    pub faults: u64,
    pub webhooks: u64,
    pub webhooks_lost: u64,
    pub webhooks_duplicated: u64,
}

/// A write that carried comment tokens, as it left the daemon.
#[derive(Debug, Clone)]
pub struct SentWrite {
    pub sent_ms: u64,
    /// Orders it among what happened in its millisecond (`Trace::stamp`).
    pub order: u64,
    pub account: String,
    pub tokens: Vec<u32>,
    /// Per token it carries: the accounts the sending process last read it from, and
    /// whether that read showed it public (what the daemon knew when it sent this).
    pub seen: BTreeMap<u32, BTreeMap<String, bool>>,
}

/// What one daemon process last read of each comment token: (account, token) → shown
/// public in the newest answer that carried it.
pub(crate) type Seen = BTreeMap<(String, u32), bool>;

/// The comment tokens an API answer shows, each with whether the comment carrying it is
/// public there: every JSON object with a boolean `public` and a text field holding
/// tokens (comments, comment events).
pub fn tokens_shown(body: &[u8]) -> Vec<(u32, bool)> {
    fn walk(v: &serde_json::Value, out: &mut Vec<(u32, bool)>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(public) = m.get("public").and_then(serde_json::Value::as_bool) {
                    for key in ["body", "html_body", "plain_body"] {
                        if let Some(text) = m.get(key).and_then(serde_json::Value::as_str) {
                            out.extend(tokens_in(text).into_iter().map(|t| (t, public)));
                        }
                    }
                }
                m.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        walk(&v, &mut out);
    }
    out
}

struct Net {
    rng: fastrand::Rng,
    sim: Option<Arc<Simulator>>,
    /// The daemon's routes, while a process is up and serving.
    daemon: Option<(axum::Router, Arc<Life>)>,
    faults: NetFaults,
    hooks: WebhookFaults,
    partitioned: BTreeSet<String>,
    /// The process dies as the answer to this many more of its requests arrives.
    crash_at_answer: Option<u64>,
    in_flight: u64,
    stats: NetStats,
    writes: Vec<SentWrite>,
    /// The first attempt's `SentWrite::seen` of each keyed create.
    keyed: BTreeMap<String, BTreeMap<u32, BTreeMap<String, bool>>>,
    next_request: u64,
    next_hook: u64,
}

/// The network of one run. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Mutex<Net>>,
    trace: Trace,
}

/// What happens to one request.
enum Route {
    Unreachable(Duration),
    Reset(Duration),
    Panic,
    Deliver { there: Duration, back: Duration },
}

/// The tokens (`[[T17]]`) a body carries.
pub fn tokens_in(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("[[T") {
        rest = &rest[i + 3..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if rest[digits.len()..].starts_with("]]")
            && let Ok(n) = digits.parse()
        {
            out.push(n);
        }
    }
    out
}

/// `http://acme.sim.invalid/...` → `acme`.
fn account_of(url: &str) -> Option<String> {
    let host = url.strip_prefix("http://")?.split('/').next()?;
    host.strip_suffix(".sim.invalid").map(str::to_owned)
}

impl Network {
    pub fn new(seed: u64, trace: Trace) -> Network {
        Network {
            inner: Arc::new(Mutex::new(Net {
                rng: fastrand::Rng::with_seed(seed ^ 0x6e65_7477_6f72_6b00),
                sim: None,
                daemon: None,
                faults: NetFaults::default(),
                hooks: WebhookFaults::default(),
                partitioned: BTreeSet::new(),
                crash_at_answer: None,
                in_flight: 0,
                stats: NetStats::default(),
                writes: Vec::new(),
                keyed: BTreeMap::new(),
                next_request: 0,
                next_hook: 0,
            })),
            trace,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Net> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn attach(&self, sim: Arc<Simulator>) {
        self.lock().sim = Some(sim);
    }

    /// The transport of one daemon process.
    pub fn transport(&self, life: Arc<Life>) -> Arc<dyn Transport> {
        Arc::new(SimTransport {
            net: self.clone(),
            life,
            seen: Mutex::new(Seen::new()),
        })
    }

    /// The simulator's webhook sender.
    pub fn webhooks(&self) -> Arc<dyn WebhookSender> {
        Arc::new(Hooks { net: self.clone() })
    }

    /// The process now serving webhooks (`None`: nobody listens).
    pub fn serve_daemon(&self, daemon: Option<(axum::Router, Arc<Life>)>) {
        self.lock().daemon = daemon;
    }

    pub fn set_faults(&self, faults: NetFaults) {
        self.lock().faults = faults;
    }

    pub fn set_webhook_faults(&self, hooks: WebhookFaults) {
        self.lock().hooks = hooks;
    }

    pub fn partition(&self, account: &str, cut: bool) {
        let mut net = self.lock();
        if cut {
            net.partitioned.insert(account.to_owned());
        } else {
            net.partitioned.remove(account);
        }
    }

    pub fn crash_at_answer(&self, n: Option<u64>) {
        self.lock().crash_at_answer = n;
    }

    /// Everything lifted: no faults, no partitions, no armed crash.
    pub fn lift(&self) {
        let mut net = self.lock();
        net.faults = NetFaults::default();
        net.hooks = WebhookFaults::default();
        net.partitioned.clear();
        net.crash_at_answer = None;
    }

    /// Requests and webhooks on the wire.
    pub fn in_flight(&self) -> u64 {
        self.lock().in_flight
    }

    pub fn stats(&self) -> NetStats {
        self.lock().stats
    }

    /// Every write that carried tokens, in the order sent.
    pub fn writes(&self) -> Vec<SentWrite> {
        self.lock().writes.clone()
    }

    fn sim(&self) -> Arc<Simulator> {
        match &self.lock().sim {
            Some(s) => s.clone(),
            None => panic!("the simulated network has no simulator attached"),
        }
    }

    fn ms(rng: &mut fastrand::Rng, range: std::ops::Range<u64>) -> Duration {
        Duration::from_millis(rng.u64(range))
    }

    /// Decides one request's fate and records it.
    fn plan(&self, account: &str, req: &Outgoing, seen: &Seen) -> (u64, Route) {
        let mut net = self.lock();
        let n = net.next_request;
        net.next_request += 1;
        net.stats.requests += 1;
        let path = req
            .url
            .split_once(".sim.invalid")
            .map_or(req.url.as_str(), |(_, p)| p);
        let body = String::from_utf8_lossy(&req.body);
        let tokens = tokens_in(&body);
        if req.method != reqwest::Method::GET && !tokens.is_empty() {
            let sent_ms = self.trace.now_ms();
            let mut seen: BTreeMap<u32, BTreeMap<String, bool>> = tokens
                .iter()
                .map(|t| {
                    let from = seen
                        .iter()
                        .filter(|((_, tok), _)| tok == t)
                        .map(|((a, _), public)| (a.clone(), *public))
                        .collect();
                    (*t, from)
                })
                .collect();
            // A keyed create's retry is the same request (Zendesk refuses another body
            // under its key): what the daemon knew is what it knew at the first attempt.
            if let Some(key) = req
                .headers
                .get("Idempotency-Key")
                .and_then(|v| v.to_str().ok())
            {
                seen = net.keyed.entry(key.to_owned()).or_insert(seen).clone();
            }
            net.writes.push(SentWrite {
                sent_ms,
                order: self.trace.stamp(),
                account: account.to_owned(),
                tokens,
                seen,
            });
        }
        let f = net.faults;
        let route = if net.partitioned.contains(account) {
            Route::Unreachable(Self::ms(&mut net.rng, 100..3_000))
        } else {
            let r = net.rng.f64();
            if r < f.panic {
                Route::Panic
            } else if r < f.panic + f.reset {
                Route::Reset(Self::ms(&mut net.rng, 1..50))
            } else if r < f.panic + f.reset + f.late {
                Route::Deliver {
                    there: Self::ms(&mut net.rng, CLIENT_TIMEOUT_MS + 1..LATEST_ARRIVAL_MS),
                    back: Self::ms(&mut net.rng, 1..40),
                }
            } else if r < f.panic + f.reset + f.late + f.slow {
                Route::Deliver {
                    there: Self::ms(&mut net.rng, 1..40),
                    back: Self::ms(
                        &mut net.rng,
                        CLIENT_TIMEOUT_MS + 1..CLIENT_TIMEOUT_MS + 30_000,
                    ),
                }
            } else {
                Route::Deliver {
                    there: Self::ms(&mut net.rng, 2..40),
                    back: Self::ms(&mut net.rng, 2..40),
                }
            }
        };
        let what = match &route {
            Route::Unreachable(_) => "unreachable".to_owned(),
            Route::Reset(_) => "reset".to_owned(),
            Route::Panic => "panic".to_owned(),
            Route::Deliver { there, back } => {
                let (t, b) = (there.as_millis(), back.as_millis());
                if t > u128::from(CLIENT_TIMEOUT_MS) {
                    format!("late {t}ms")
                } else if b > u128::from(CLIENT_TIMEOUT_MS) {
                    format!("slow answer {b}ms")
                } else {
                    format!("{t}+{b}ms")
                }
            }
        };
        if !matches!(&route, Route::Deliver { there, back } if there.as_millis() <= u128::from(CLIENT_TIMEOUT_MS) && back.as_millis() <= u128::from(CLIENT_TIMEOUT_MS))
        {
            net.stats.faults += 1;
        }
        drop(net);
        trace!(
            self.trace,
            "req{n} {account} {} {path} {} {what}",
            req.method,
            short_hash(&req.body)
        );
        (n, route)
    }

    /// Delivers one request to the simulator and reads its answer (the wire's work).
    /// `travelled`: how long it was on the wire (a late-apply fault counts from the send).
    async fn serve(
        &self,
        n: u64,
        account: &str,
        req: Outgoing,
        travelled: Duration,
    ) -> Result<Incoming, Failure> {
        let mut builder = axum::http::Request::builder()
            .method(req.method)
            .uri(req.url.as_str())
            .extension(crate::sim::faults::Travelled(travelled));
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let request = match builder.body(Body::from(req.body)) {
            Ok(r) => r,
            Err(e) => return Err(Failure::NotSent(format!("bad request: {e}"))),
        };
        let resp = self.sim().handle(account, request).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        match axum::body::to_bytes(resp.into_body(), usize::MAX).await {
            Ok(body) => {
                trace!(self.trace, "req{n} -> {status} {}", short_hash(&body));
                Ok(Incoming {
                    status,
                    headers,
                    body: body.to_vec(),
                })
            }
            Err(_) => {
                trace!(self.trace, "req{n} -> dropped");
                Err(Failure::Lost(
                    "connection closed without an answer".to_owned(),
                ))
            }
        }
    }

    /// The answer to a live process arrives: whether the process dies now instead.
    fn answer_kills(&self) -> bool {
        let mut net = self.lock();
        match net.crash_at_answer {
            Some(k) if k <= 1 => {
                net.crash_at_answer = None;
                true
            }
            Some(k) => {
                net.crash_at_answer = Some(k - 1);
                false
            }
            None => false,
        }
    }

    fn done(&self) {
        let mut net = self.lock();
        net.in_flight = net.in_flight.saturating_sub(1);
    }

    /// Decides a webhook's fate: the delays of the copies to deliver (none: lost).
    fn plan_webhook(&self, d: &WebhookDelivery) -> (u64, Vec<Duration>) {
        let mut net = self.lock();
        let n = net.next_hook;
        net.next_hook += 1;
        net.stats.webhooks += 1;
        let h = net.hooks;
        let jitter = |rng: &mut fastrand::Rng| {
            Duration::from_millis(
                rng.u64(5..60)
                    + if h.delay_ms > 0 {
                        rng.u64(0..h.delay_ms)
                    } else {
                        0
                    },
            )
        };
        let copies = if net.rng.f64() < h.loss {
            net.stats.webhooks_lost += 1;
            Vec::new()
        } else if net.rng.f64() < h.dup {
            net.stats.webhooks_duplicated += 1;
            vec![jitter(&mut net.rng), jitter(&mut net.rng)]
        } else {
            vec![jitter(&mut net.rng)]
        };
        net.in_flight += copies.len() as u64;
        drop(net);
        let fate = if copies.is_empty() {
            "lost".to_owned()
        } else {
            copies
                .iter()
                .map(|c| format!("{}ms", c.as_millis()))
                .collect::<Vec<_>>()
                .join(",")
        };
        trace!(
            self.trace,
            "hook{n} {} {} {fate}",
            d.account,
            short_hash(&d.body)
        );
        (n, copies)
    }

    /// Hands one webhook copy to the daemon, if one is up and reachable.
    async fn deliver(&self, n: u64, d: WebhookDelivery) {
        let target = {
            let net = self.lock();
            match &net.daemon {
                Some((router, life))
                    if life.is_alive() && !net.partitioned.contains(&d.account) =>
                {
                    Some(router.clone())
                }
                _ => None,
            }
        };
        let Some(router) = target else {
            trace!(self.trace, "hook{n} refused (daemon down or unreachable)");
            return;
        };
        let path = d
            .url
            .split_once(".sim.invalid")
            .map_or("/", |(_, p)| p)
            .to_owned();
        let mut builder = axum::http::Request::builder().method("POST").uri(path);
        for (k, v) in &d.headers {
            builder = builder.header(*k, v.as_str());
        }
        let Ok(request) = builder.body(Body::from(d.body)) else {
            return;
        };
        let status = match router.oneshot(request).await {
            Ok(r) => r.status().as_u16(),
            Err(never) => match never {},
        };
        trace!(self.trace, "hook{n} -> {status}");
    }
}

/// The daemon's transport: one per process.
struct SimTransport {
    net: Network,
    life: Arc<Life>,
    /// What this process read of each comment (for the model's "leaked": a comment made
    /// private after the daemon last read it public cannot be held back by it).
    seen: Mutex<Seen>,
}

impl Transport for SimTransport {
    fn send(&self, request: Outgoing, max_body: Option<u64>) -> Sending<'_> {
        Box::pin(async move {
            // A dead process sends nothing; its tasks are about to be aborted.
            if !self.life.is_alive() {
                return std::future::pending().await;
            }
            let Some(account) = account_of(&request.url) else {
                return Err(Failure::NotSent(format!(
                    "no route to {}",
                    request.url.split('/').nth(2).unwrap_or("")
                )));
            };
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let (n, route) = self.net.plan(&account, &request, &seen);
            let is_read = request.method == reqwest::Method::GET;
            let from = account.clone();
            let (there, back) = match route {
                Route::Unreachable(d) => {
                    tokio::time::sleep(d).await;
                    return Err(Failure::NotSent("connect timed out (partition)".into()));
                }
                Route::Reset(d) => {
                    tokio::time::sleep(d).await;
                    return Err(Failure::Lost("connection reset by peer".into()));
                }
                Route::Panic => panic!("injected transport panic (sharebridge chaos)"),
                Route::Deliver { there, back } => (there, back),
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let net = self.net.clone();
            net.lock().in_flight += 1;
            // The wire: a task of the network, so a request already sent is still
            // applied if the daemon dies meanwhile.
            tokio::spawn(async move {
                tokio::time::sleep(there).await;
                let answer = net.serve(n, &account, request, there).await;
                tokio::time::sleep(back).await;
                net.done();
                let _ = tx.send(answer);
            });
            let answer = rx
                .await
                .unwrap_or_else(|_| Err(Failure::Lost("connection closed".into())));
            if !self.life.is_alive() {
                return std::future::pending().await;
            }
            if self.net.answer_kills() {
                trace!(self.net.trace, "req{n} answer arrives: the daemon dies");
                self.life.kill("crash as an answer arrived");
                return std::future::pending().await;
            }
            let answer = answer?;
            if is_read && answer.status == 200 {
                let shown = tokens_shown(&answer.body);
                if !shown.is_empty() {
                    let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                    for (t, public) in shown {
                        seen.insert((from.clone(), t), public);
                    }
                }
            }
            if let Some(max) = max_body
                && answer.body.len() as u64 > max
            {
                return Err(Failure::TooLarge(max));
            }
            Ok(answer)
        })
    }
}

/// The simulator's webhook sender: hands each delivery to the network, which decides its
/// fate and delivers the copies itself (the simulator sees it accepted at once).
struct Hooks {
    net: Network,
}

impl WebhookSender for Hooks {
    fn send(
        &self,
        delivery: WebhookDelivery,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
        let net = self.net.clone();
        Box::pin(async move {
            let (n, copies) = net.plan_webhook(&delivery);
            for delay in copies {
                let net = net.clone();
                let d = delivery.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    net.deliver(n, d).await;
                    net.done();
                });
            }
            true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_shows_each_token_with_its_comment_privacy() {
        let body = br#"{"comments":[{"id":1,"body":"a [[T3]]","public":true},
            {"id":2,"body":"b [[T4]] [[T5]]","public":false}],"next_page":null}"#;
        assert_eq!(tokens_shown(body), vec![(3, true), (4, false), (5, false)]);
        let events = br#"{"ticket_events":[{"child_events":[
            {"event_type":"Comment","body":"c [[T9]]","public":true}]}]}"#;
        assert_eq!(tokens_shown(events), vec![(9, true)]);
        assert!(tokens_shown(b"not json [[T1]]").is_empty());
        assert!(tokens_shown(br#"{"ticket":{"subject":"[[T2]]"}}"#).is_empty());
    }

    #[test]
    fn tokens_are_found_wherever_they_sit() {
        assert_eq!(
            tokens_in("a [[T12]] b [[T3]] [[T]] [[Tx]] [[T45"),
            vec![12, 3]
        );
        assert_eq!(
            account_of("http://acme.sim.invalid/api/v2/x?y=1").as_deref(),
            Some("acme")
        );
        assert_eq!(account_of("https://acme.zendesk.com/x"), None);
    }
}
