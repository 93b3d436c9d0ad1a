//! The schedule of one run: what the agents, the operator and the faults do, and when, as
//! an explicit list of events drawn from the seed ([`generate`]). A run takes the list;
//! shrinking re-runs the seed with events dropped (`--drop`), so every event is
//! independent: one that refers to a ticket or comment whose event was dropped does
//! nothing.
//!
//! Owns: the [`Feature`]s a seed may exercise (each seed draws a subset; `--exclude`
//! removes some), the [`Action`]s and their generation. Must not: look at the running
//! system (the world decides at run time what an action finds).

use std::collections::BTreeSet;
use std::fmt;

/// The simulator's accounts. The daemon is configured with the first three; `extra` is
/// added by a reload ([`Action::AddAccount`]).
pub const ACCOUNTS: [&str; 4] = ["acme", "vendor", "partner", "extra"];

/// Human agents per account (the bridge has its own API user in each).
pub fn agents(account: &str) -> &'static [&'static str] {
    match account {
        "acme" => &["alice", "bob", "carol"],
        "vendor" => &["victor", "wendy"],
        "partner" => &["paula", "pete"],
        _ => &["xena"],
    }
}

/// The auto-share tag of the agreement from `from` to `to`.
pub fn share_tag(from: &str, to: &str) -> String {
    if from == "acme" {
        format!("{to}_escalation")
    } else {
        format!("{from}_to_{to}")
    }
}

macro_rules! features {
    ($($variant:ident = $name:literal: $what:literal,)*) => {
        /// What a seed may exercise.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Feature { $($variant,)* }

        impl Feature {
            pub const ALL: &'static [Feature] = &[$(Feature::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Feature::$variant => $name,)* }
            }

            pub fn describe(self) -> &'static str {
                match self { $(Feature::$variant => $what,)* }
            }

            pub fn parse(s: &str) -> Option<Feature> {
                match s.trim() { $($name => Some(Feature::$variant),)* _ => None }
            }
        }
    };
}

features! {
    TwoWay = "two-way": "vendor agents reply on mirrors (vendor-to-acme accepted: two-way links)",
    FanOut = "fan-out": "tickets shared to partner too (acme-to-partner)",
    Crash = "crash": "the daemon killed at seeded moments and restarted",
    StoreCrash = "store-crash": "the daemon killed at a seeded store sync (that sync kept or lost)",
    AnswerCrash = "answer-crash": "the daemon killed as the answer to its n-th request arrives",
    Torn = "torn": "a crash keeps a seeded subset of the store's unsynced writes",
    ApiFaults = "api-faults": "the simulator answers 429, 500, 503, drops connections, drops answers after commit",
    LateWrites = "late-writes": "requests reach the simulator after the client timed out (a write applied after its answer timed out), answers come too late",
    Partitions = "partitions": "an account unreachable for a while",
    WebhookLoss = "webhook-loss": "webhooks lost",
    WebhookDup = "webhook-dup": "webhooks delivered twice",
    WebhookDelay = "webhook-delay": "webhooks delayed and reordered",
    Consent = "consent": "agreements withdrawn and accepted again by a reload mid-burst",
    Reload = "reload": "reloads with no change mid-burst",
    Unshare = "unshare": "the operator unshares and relinks tickets",
    TagRemoval = "tag-removal": "the auto-share tag removed (unshare_on_tag_removal)",
    MakePrivate = "make-private": "a public comment made private at the source after it crossed",
    ReverseTag = "reverse-tag": "a mirror tagged with the reverse agreement's auto-share tag",
    AddAccount = "add-account": "an account (extra, with agreements both ways) added by a reload",
    Panic = "panic": "the transport panics inside a request (a bug in a dependency)",
    MirrorClosed = "mirror-closed": "a mirror closed or deleted by its agents (one link's permanent error)",
    PublicOff = "public-off": "acme-to-partner with comments.public = false (nothing of a comment may cross)",
    BadTarget = "bad-target": "acme-to-vendor's (even seeds) or acme-to-partner's (odd) target group does not exist in its receiver: every mirror there is refused (422), a permanent error of one link",
}

/// A set of features.
pub type Features = BTreeSet<Feature>;

/// Parses `a,b,c` into features; the error names the unknown one.
pub fn parse_features(list: &str) -> Result<Features, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| Feature::parse(s).ok_or_else(|| format!("unknown feature {:?}", s.trim())))
        .collect()
}

/// Where an agent acts on a shared ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// The ticket as its origin account has it.
    Origin,
    /// Its mirror in this account.
    Mirror(&'static str),
}

/// Network fault rates (per request; per webhook for the webhook ones).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetFaults {
    /// The request reaches the simulator only after the client's timeout.
    pub late: f64,
    /// The simulator answers at once, the answer arrives after the client's timeout.
    pub slow: f64,
    /// The connection breaks before the request arrives.
    pub reset: f64,
    /// The transport panics.
    pub panic: f64,
}

/// Webhook fault rates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WebhookFaults {
    pub loss: f64,
    pub dup: f64,
    /// Most extra delay, in ms (uniform): webhooks overtake each other.
    pub delay_ms: u64,
}

/// One thing that happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An agent of `origin` opens ticket number `ticket` with a first public comment
    /// (`token`) and `tags`.
    NewTicket {
        ticket: u32,
        origin: &'static str,
        agent: usize,
        token: u32,
        tags: Vec<String>,
    },
    Comment {
        ticket: u32,
        side: Side,
        public: bool,
        agent: usize,
        token: u32,
    },
    Status {
        ticket: u32,
        status: &'static str,
    },
    Tag {
        ticket: u32,
        side: Side,
        tag: String,
    },
    RemoveTag {
        ticket: u32,
        tag: String,
    },
    /// An agent of the origin makes the comment `token` private.
    MakePrivate {
        ticket: u32,
        token: u32,
    },
    Unshare {
        ticket: u32,
        to: &'static str,
    },
    Relink {
        ticket: u32,
        to: &'static str,
    },
    CloseMirror {
        ticket: u32,
        to: &'static str,
    },
    DeleteMirror {
        ticket: u32,
        to: &'static str,
    },
    /// The receiver of `agreement` accepts it (`true`) or withdraws its consent; applied
    /// by a reload.
    Consent {
        agreement: &'static str,
        accept: bool,
    },
    Reload,
    AddAccount,
    Crash {
        down_ms: u64,
        torn: bool,
    },
    CrashAtSync {
        n: u64,
        synced: bool,
        down_ms: u64,
    },
    CrashAtAnswer {
        n: u64,
        down_ms: u64,
    },
    Partition {
        account: &'static str,
    },
    Heal {
        account: &'static str,
    },
    ApiFaults {
        rate: f64,
    },
    NetFaults(NetFaults),
    WebhookFaults(WebhookFaults),
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Side::Origin => f.write_str("origin"),
            Side::Mirror(a) => write!(f, "mirror@{a}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Action::*;
        match self {
            NewTicket {
                ticket,
                origin,
                agent,
                token,
                tags,
            } => write!(
                f,
                "new ticket #{ticket} in {origin} by {} (T{token}) tags {tags:?}",
                agents(origin)[*agent]
            ),
            Comment {
                ticket,
                side,
                public,
                token,
                ..
            } => write!(
                f,
                "{} comment T{token} on #{ticket} {side}",
                if *public { "public" } else { "private" }
            ),
            Status { ticket, status } => write!(f, "status {status} on #{ticket}"),
            Tag { ticket, side, tag } => write!(f, "tag {tag} on #{ticket} {side}"),
            RemoveTag { ticket, tag } => write!(f, "remove tag {tag} from #{ticket}"),
            MakePrivate { ticket, token } => write!(f, "make T{token} on #{ticket} private"),
            Unshare { ticket, to } => write!(f, "unshare #{ticket} from {to}"),
            Relink { ticket, to } => write!(f, "relink #{ticket} to {to}"),
            CloseMirror { ticket, to } => write!(f, "close the mirror of #{ticket} in {to}"),
            DeleteMirror { ticket, to } => write!(f, "delete the mirror of #{ticket} in {to}"),
            Consent { agreement, accept } => write!(
                f,
                "{} {agreement} (reload)",
                if *accept { "accept" } else { "withdraw" }
            ),
            Reload => f.write_str("reload (no change)"),
            AddAccount => f.write_str("add account extra (reload)"),
            Crash { down_ms, torn } => write!(
                f,
                "crash{}, down {down_ms} ms",
                if *torn { " (torn writes)" } else { "" }
            ),
            CrashAtSync { n, synced, down_ms } => write!(
                f,
                "crash at store sync {n} from now ({}), down {down_ms} ms",
                if *synced { "kept" } else { "lost" }
            ),
            CrashAtAnswer { n, down_ms } => {
                write!(f, "crash as answer {n} from now arrives, down {down_ms} ms")
            }
            Partition { account } => write!(f, "partition {account}"),
            Heal { account } => write!(f, "heal {account}"),
            ApiFaults { rate } => write!(f, "api faults {rate:.2}"),
            NetFaults(n) => write!(
                f,
                "net faults late {:.2} slow {:.2} reset {:.2} panic {:.3}",
                n.late, n.slow, n.reset, n.panic
            ),
            WebhookFaults(w) => write!(
                f,
                "webhook faults loss {:.2} dup {:.2} delay {} ms",
                w.loss, w.dup, w.delay_ms
            ),
        }
    }
}

/// One event: an action at a time (ms after the run began).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at_ms: u64,
    pub action: Action,
}

/// What a seed runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    pub features: Features,
    pub events: Vec<Event>,
}

impl Schedule {
    /// Whether the seed exercises `f`.
    pub fn has(&self, f: Feature) -> bool {
        self.features.contains(&f)
    }
}

/// A ticket as the generator knows it.
struct Gen {
    origin: &'static str,
    /// Accounts it should be shared into.
    targets: Vec<&'static str>,
    /// Public comment tokens written at its origin.
    public_tokens: Vec<u32>,
}

struct Generator {
    rng: fastrand::Rng,
    features: Features,
    events: Vec<Event>,
    tickets: Vec<Gen>,
    tokens: u32,
    t: u64,
    extra_added: bool,
}

impl Generator {
    fn has(&self, f: Feature) -> bool {
        self.features.contains(&f)
    }

    fn push(&mut self, action: Action) {
        self.events.push(Event {
            at_ms: self.t,
            action,
        });
    }

    fn push_at(&mut self, at_ms: u64, action: Action) {
        self.events.push(Event { at_ms, action });
    }

    fn token(&mut self) -> u32 {
        self.tokens += 1;
        self.tokens
    }

    fn pick_ticket(&mut self) -> Option<u32> {
        (!self.tickets.is_empty()).then(|| self.rng.usize(..self.tickets.len()) as u32)
    }

    fn new_ticket(&mut self) {
        let ticket = self.tickets.len() as u32;
        let from_vendor = self.has(Feature::TwoWay) && self.rng.u32(0..6) == 0;
        let origin = if from_vendor { "vendor" } else { "acme" };
        let mut targets = Vec::new();
        if from_vendor {
            targets.push("acme");
        } else {
            if self.rng.u32(0..10) < 8 {
                targets.push("vendor");
            }
            if self.has(Feature::FanOut) && self.rng.u32(0..10) < 4 {
                targets.push("partner");
            }
            if self.extra_added && self.rng.u32(0..10) < 4 {
                targets.push("extra");
            }
        }
        let mut tags: Vec<String> = targets.iter().map(|to| share_tag(origin, to)).collect();
        // Now and then a ticket gains one of its share tags a little later (so its links
        // are made in another order).
        let late = (tags.len() > 1 && self.rng.bool()).then(|| tags.remove(0));
        if self.rng.u32(0..4) == 0 {
            tags.push(format!("internal_{ticket}"));
        }
        let token = self.token();
        let agent = self.rng.usize(..agents(origin).len());
        self.tickets.push(Gen {
            origin,
            targets,
            public_tokens: vec![token],
        });
        self.push(Action::NewTicket {
            ticket,
            origin,
            agent,
            token,
            tags,
        });
        if let Some(tag) = late {
            let at = self.t + self.rng.u64(100..10_000);
            self.push_at(
                at,
                Action::Tag {
                    ticket,
                    side: Side::Origin,
                    tag,
                },
            );
        }
    }

    fn side(&mut self, ticket: u32) -> (Side, &'static str) {
        let g = &self.tickets[ticket as usize];
        if !g.targets.is_empty() && self.rng.u32(0..3) == 0 {
            let to = g.targets[self.rng.usize(..g.targets.len())];
            // Replies on mirrors cross back only on two-way links; on one-way ones they
            // must stay where they are.
            return (Side::Mirror(to), to);
        }
        (Side::Origin, g.origin)
    }

    fn comment(&mut self, ticket: u32) {
        let (side, account) = self.side(ticket);
        let public = self.rng.u32(0..5) != 0;
        let token = self.token();
        if public && side == Side::Origin {
            self.tickets[ticket as usize].public_tokens.push(token);
        }
        let agent = self.rng.usize(..agents(account).len());
        self.push(Action::Comment {
            ticket,
            side,
            public,
            agent,
            token,
        });
    }

    fn down_ms(&mut self) -> u64 {
        match self.rng.u32(0..4) {
            0 => 0,
            1 => self.rng.u64(1..2_000),
            _ => self.rng.u64(2_000..30_000),
        }
    }

    fn step(&mut self) {
        let Some(ticket) = self.pick_ticket().filter(|_| self.rng.u32(0..12) != 0) else {
            self.new_ticket();
            return;
        };
        let g = &self.tickets[ticket as usize];
        let target = (!g.targets.is_empty()).then(|| g.targets[self.rng.usize(..g.targets.len())]);
        let origin = g.origin;
        match self.rng.u32(0..100) {
            0..=34 => self.comment(ticket),
            35..=49 => {
                // A burst: several agents on both sides within the coalescing window.
                let n = self.rng.usize(3..9);
                for _ in 0..n {
                    self.comment(ticket);
                    self.t += self.rng.u64(0..400);
                }
            }
            50..=55 => {
                let status = ["open", "pending", "hold", "solved"][self.rng.usize(..4)];
                self.push(Action::Status { ticket, status });
            }
            56..=61 => {
                let (side, _) = self.side(ticket);
                let tag = if self.rng.u32(0..3) == 0 {
                    format!("internal_{}", self.events.len())
                } else {
                    format!("t{}", self.events.len())
                };
                self.push(Action::Tag { ticket, side, tag });
            }
            62..=65 if self.has(Feature::TagRemoval) && origin == "acme" => {
                if target == Some("vendor") {
                    self.push(Action::RemoveTag {
                        ticket,
                        tag: share_tag("acme", "vendor"),
                    });
                }
            }
            66..=69 if self.has(Feature::Unshare) => {
                if let Some(to) = target {
                    self.push(Action::Unshare { ticket, to });
                    if self.rng.bool() {
                        let later = self.t + self.rng.u64(500..20_000);
                        self.push_at(later, Action::Relink { ticket, to });
                    }
                }
            }
            70..=73 if self.has(Feature::MakePrivate) => {
                let tokens = &self.tickets[ticket as usize].public_tokens;
                if !tokens.is_empty() {
                    let token = tokens[self.rng.usize(..tokens.len())];
                    self.push(Action::MakePrivate { ticket, token });
                }
            }
            74..=75 if self.has(Feature::ReverseTag) && origin == "acme" => {
                if self.tickets[ticket as usize].targets.contains(&"vendor") {
                    self.push(Action::Tag {
                        ticket,
                        side: Side::Mirror("vendor"),
                        tag: share_tag("vendor", "acme"),
                    });
                }
            }
            76..=77 if self.has(Feature::MirrorClosed) => {
                if let Some(to) = target {
                    if self.rng.bool() {
                        self.push(Action::CloseMirror { ticket, to });
                    } else {
                        self.push(Action::DeleteMirror { ticket, to });
                    }
                }
            }
            78..=81 if self.has(Feature::Consent) => {
                let mut choices = vec!["acme-to-vendor"];
                if self.has(Feature::TwoWay) {
                    choices.push("vendor-to-acme");
                }
                if self.has(Feature::FanOut) {
                    choices.push("acme-to-partner");
                }
                let agreement = choices[self.rng.usize(..choices.len())];
                self.push(Action::Consent {
                    agreement,
                    accept: false,
                });
                let later = self.t + self.rng.u64(200..30_000);
                self.push_at(
                    later,
                    Action::Consent {
                        agreement,
                        accept: true,
                    },
                );
            }
            82..=83 if self.has(Feature::Reload) => self.push(Action::Reload),
            84..=85 if self.has(Feature::AddAccount) && !self.extra_added => {
                self.extra_added = true;
                self.push(Action::AddAccount);
            }
            86..=89 if self.has(Feature::Crash) => {
                let down_ms = self.down_ms();
                let torn = self.has(Feature::Torn) && self.rng.bool();
                self.push(Action::Crash { down_ms, torn });
            }
            90..=91 if self.has(Feature::StoreCrash) => {
                let down_ms = self.down_ms();
                let n = self.rng.u64(1..40);
                let synced = self.rng.bool();
                self.push(Action::CrashAtSync { n, synced, down_ms });
            }
            92..=93 if self.has(Feature::AnswerCrash) => {
                let down_ms = self.down_ms();
                let n = self.rng.u64(1..30);
                self.push(Action::CrashAtAnswer { n, down_ms });
            }
            94..=95 if self.has(Feature::Partitions) => {
                let account = ACCOUNTS[self.rng.usize(..3)];
                self.push(Action::Partition { account });
                let later = self.t + self.rng.u64(1_000..60_000);
                self.push_at(later, Action::Heal { account });
            }
            _ => self.comment(ticket),
        }
    }
}

/// The schedule of `seed`: the features it exercises (minus `exclude`) and its events,
/// in time order.
pub fn generate(seed: u64, exclude: &Features) -> Schedule {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5c4e_d01e_0000_0001);
    let mut features: Features = Feature::ALL
        .iter()
        .copied()
        .filter(|_| rng.u32(0..100) < 55)
        .collect();
    // Every seed has a workload to break: two-way replies most of the time.
    if rng.u32(0..4) != 0 {
        features.insert(Feature::TwoWay);
    }
    features.retain(|f| !exclude.contains(f));
    let mut g = Generator {
        rng,
        features,
        events: Vec::new(),
        tickets: Vec::new(),
        tokens: 0,
        t: 0,
        extra_added: false,
    };
    // Faults are on from the start (each window may be dropped when shrinking).
    if g.has(Feature::ApiFaults) {
        let rate = 0.02 + g.rng.f64() * 0.18;
        g.push(Action::ApiFaults { rate });
    }
    let net = NetFaults {
        late: if g.has(Feature::LateWrites) {
            0.01 + g.rng.f64() * 0.07
        } else {
            0.0
        },
        slow: if g.has(Feature::LateWrites) {
            g.rng.f64() * 0.05
        } else {
            0.0
        },
        reset: if g.has(Feature::ApiFaults) {
            g.rng.f64() * 0.05
        } else {
            0.0
        },
        panic: if g.has(Feature::Panic) { 0.01 } else { 0.0 },
    };
    if net != NetFaults::default() {
        g.push(Action::NetFaults(net));
    }
    let hooks = WebhookFaults {
        loss: if g.has(Feature::WebhookLoss) {
            0.05 + g.rng.f64() * 0.4
        } else {
            0.0
        },
        dup: if g.has(Feature::WebhookDup) {
            0.05 + g.rng.f64() * 0.3
        } else {
            0.0
        },
        delay_ms: if g.has(Feature::WebhookDelay) {
            g.rng.u64(100..20_000)
        } else {
            0
        },
    };
    if hooks != WebhookFaults::default() {
        g.push(Action::WebhookFaults(hooks));
    }
    let steps = g.rng.usize(25..60);
    g.new_ticket();
    for _ in 0..steps {
        g.t += match g.rng.u32(0..10) {
            0..=5 => g.rng.u64(0..1_500),
            6..=8 => g.rng.u64(1_500..6_000),
            _ => g.rng.u64(6_000..45_000),
        };
        g.step();
    }
    let mut events = g.events;
    // Stable: events at one time keep the order they were drawn in.
    events.sort_by_key(|e| e.at_ms);
    Schedule {
        seed,
        features: g.features,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_schedule_and_seeds_differ() {
        let a = generate(42, &Features::new());
        let b = generate(42, &Features::new());
        assert_eq!(a.events, b.events);
        assert_eq!(a.features, b.features);
        assert_ne!(generate(43, &Features::new()).events, a.events);
        assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }

    #[test]
    fn excluded_features_never_appear() {
        let exclude: Features = [Feature::Crash, Feature::Consent].into();
        for seed in 0..50 {
            let s = generate(seed, &exclude);
            assert!(!s.has(Feature::Crash) && !s.has(Feature::Consent));
            assert!(
                s.events
                    .iter()
                    .all(|e| !matches!(e.action, Action::Crash { .. } | Action::Consent { .. }))
            );
        }
    }

    #[test]
    fn feature_names_round_trip() {
        for f in Feature::ALL {
            assert_eq!(Feature::parse(f.name()), Some(*f));
        }
        assert!(parse_features("crash,nope").is_err());
        assert_eq!(parse_features("").unwrap(), Features::new());
    }
}
