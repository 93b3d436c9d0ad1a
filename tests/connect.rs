//! `sharebridge connect` and `doctor` from outside (issue #15): the real binary against
//! `sharebridge sim` with an OAuth client, consent auto-approved and an admin; from a
//! configuration holding only each account's subdomain and OAuth client to a tagged
//! ticket shared through the webhooks `connect` created; a second `connect` changing
//! nothing; `--dry-run` writing nothing (the simulator's request counters); `doctor`
//! naming a revoked credential, a deleted webhook and a wrong secret; no token or secret
//! in any output or log.

mod live;

use live::{
    AGENT, Daemon, OPS, Setup, Sim, connect_pasting, connect_with_browser, request, text,
    wait_until,
};

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn assert_no_secret(what: &str, haystack: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!haystack.contains(s.as_str()), "{what} shows a secret");
    }
}

/// The one webhook named for `account`.
fn our_webhook(sim: &Sim, account: &str) -> serde_json::Value {
    let hooks: Vec<serde_json::Value> = sim
        .webhooks(account)
        .into_iter()
        .filter(|w| {
            w["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("sharebridge {account} ("))
        })
        .collect();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    hooks[0].clone()
}

#[test]
fn connect_both_accounts_then_run_shares_a_tagged_ticket_through_the_webhooks_connect_made() {
    let sim = Sim::start();
    let setup = Setup::new(&sim);
    let checked = setup.run(&["check-config"]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(text(&checked).contains("not connected yet: run `sharebridge connect acme`"));

    // Before anything: a dry run says what connect would do and leaves nothing behind.
    sim.reset_stats("acme");
    let dry = setup.run(&["connect", "acme", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("would sign in"), "{}", text(&dry));
    assert!(
        text(&dry).contains("would create webhook"),
        "{}",
        text(&dry)
    );
    assert!(!setup.store().exists(), "a dry run created the store");
    assert_eq!(sim.writes("acme"), Vec::<String>::new());

    // acme through the loopback redirect, vendor by pasting (a host without a browser).
    let acme = connect_with_browser(&setup, &["connect", "acme"]);
    assert!(acme.status.success(), "{}", text(&acme));
    let out = text(&acme);
    assert!(
        out.contains("signed in (authorization code with PKCE)"),
        "{out}"
    );
    assert!(out.contains("oauth-admin@acme.example"), "{out}");
    assert!(out.contains("created"), "{out}");
    let vendor = connect_pasting(&setup, &["connect", "vendor", "--print-url"]);
    assert!(vendor.status.success(), "{}", text(&vendor));

    let endpoint = format!("http://127.0.0.1:{}/webhooks/acme", setup.port);
    let hook = our_webhook(&sim, "acme");
    assert_eq!(hook["endpoint"], endpoint.as_str());
    assert_eq!(hook["status"], "active");
    let subs: Vec<&str> = hook["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for s in sharebridge::setup::webhook::SUBSCRIPTIONS {
        assert!(subs.contains(s), "{s} missing from {subs:?}");
    }
    let secrets = setup.stored_secrets();
    assert!(
        secrets.len() >= 4,
        "pairs and signing secrets are in the store"
    );
    assert_no_secret(
        "connect's output",
        &format!("{}{}", text(&acme), text(&vendor)),
        &secrets,
    );

    // A second connect changes nothing: no sign-in, no write to Zendesk or the store.
    sim.reset_stats("acme");
    let again = setup.run(&["connect", "acme", "--json"]);
    assert!(again.status.success(), "{}", text(&again));
    let report = json(&again);
    assert_eq!(report["credential"], "kept", "{report}");
    assert_eq!(report["webhook"]["action"], "unchanged", "{report}");
    assert_eq!(report["webhook"]["signing_secret"], "unchanged", "{report}");
    assert_eq!(report["stored"], false, "{report}");
    assert_eq!(sim.writes("acme"), Vec::<String>::new());
    assert_eq!(our_webhook(&sim, "acme")["id"], hook["id"]);
    assert_no_secret("connect --json", &text(&again), &secrets);

    // Someone deactivates vendor's webhook: --dry-run says what it would change and
    // changes nothing; connect then puts it right.
    let vhook = our_webhook(&sim, "vendor");
    let id = vhook["id"].as_str().unwrap();
    let (status, body) = sim.api(
        "vendor",
        OPS,
        "PATCH",
        &format!("/api/v2/webhooks/{id}"),
        Some(serde_json::json!({"webhook": {"status": "inactive"}})),
    );
    assert!(status < 300, "{status} {body}");
    sim.reset_stats("vendor");
    let dry = setup.run(&["connect", "vendor", "--dry-run", "--json"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let plan = json(&dry);
    assert_eq!(plan["webhook"]["action"], "would_update", "{plan}");
    assert!(
        plan["webhook"]["changes"][0]
            .as_str()
            .unwrap()
            .contains("status"),
        "{plan}"
    );
    assert_eq!(
        sim.writes("vendor"),
        Vec::<String>::new(),
        "a dry run wrote"
    );
    assert_eq!(our_webhook(&sim, "vendor")["status"], "inactive");
    let fixed = setup.run(&["connect", "vendor"]);
    assert!(fixed.status.success(), "{}", text(&fixed));
    assert!(text(&fixed).contains("updated"), "{}", text(&fixed));
    assert_eq!(our_webhook(&sim, "vendor")["status"], "active");

    // The daemon takes everything from the store; a tagged ticket crosses through the
    // webhooks (polling is hourly here).
    let daemon = Daemon::start(&setup);
    let ticket = sim.tagged_ticket("acme", "Printer on fire");
    let external = format!("sharebridge:acme:{ticket}");
    let mut mirror = 0;
    wait_until(20, "the mirror in vendor", || {
        mirror = sim
            .tickets("vendor")
            .iter()
            .find(|t| t["external_id"] == external.as_str())
            .and_then(|t| t["id"].as_u64())
            .unwrap_or(0);
        mirror > 0
    });
    // A reply on the mirror comes back (two-way), again through vendor's webhook.
    let (status, body) = sim.api(
        "vendor",
        "victor@vendor.example",
        "PUT",
        &format!("/api/v2/tickets/{mirror}"),
        Some(serde_json::json!({"ticket": {"comment": {"body": "On it", "public": true}}})),
    );
    assert_eq!(status, 200, "{body}");
    wait_until(20, "the reply in acme", || {
        sim.comments("acme", ticket)
            .iter()
            .any(|c| c["body"].as_str().unwrap_or_default().contains("On it"))
    });
    let metrics = request(
        "GET",
        &format!("http://127.0.0.1:{}/metrics", setup.port),
        None,
        None,
    )
    .body;
    for account in ["acme", "vendor"] {
        let accepted = metrics.lines().any(|l| {
            l.starts_with("sharebridge_webhooks_total")
                && l.contains(&format!("account=\"{account}\""))
                && l.contains("outcome=\"accepted\"")
                && !l.trim_end().ends_with(" 0")
        });
        assert!(accepted, "no webhook accepted for {account}:\n{metrics}");
    }
    assert!(!metrics.contains("outcome=\"bad_signature\""), "{metrics}");

    // While the daemon runs, connect refuses and says what to do; doctor asks the daemon.
    let refused = setup.run(&["connect", "acme"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("Stop the daemon"),
        "{}",
        text(&refused)
    );
    let doctor = setup.run(&["doctor", "--json"]);
    let checks = json(&doctor);
    assert_eq!(doctor.status.code(), Some(0), "{checks}");
    for c in checks.as_array().unwrap() {
        assert_ne!(c["status"], "fail", "{c}");
    }
    assert_no_secret("doctor --json", &text(&doctor), &secrets);

    let log = daemon.stop();
    assert!(log.contains("sharebridge ready"), "{log}");
    assert_no_secret("the daemon's log", &log, &setup.stored_secrets());
    assert_no_secret("the daemon's log", &log, &secrets);
    assert!(!log.contains(live::CLIENT_SECRET));
}

#[test]
fn doctor_names_a_wrong_secret_a_deleted_webhook_and_a_revoked_credential() {
    let sim = Sim::start();
    let setup = Setup::new(&sim);
    for a in ["acme", "vendor"] {
        let c = connect_pasting(&setup, &["connect", a, "--print-url"]);
        assert!(c.status.success(), "{}", text(&c));
    }
    let healthy = setup.run(&["doctor"]);
    assert_eq!(healthy.status.code(), Some(0), "{}", text(&healthy));
    let acme_token = setup.stored_access_token("acme");
    let daemon = Daemon::start(&setup);

    let failing = |account: &str, check: &str| {
        let d = setup.run(&["doctor", account, "--json"]);
        assert_eq!(d.status.code(), Some(1), "{}", text(&d));
        let checks = json(&d);
        let c = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .cloned()
            .unwrap_or_else(|| panic!("no {check}: {checks}"));
        assert_eq!(c["status"], "fail", "{checks}");
        assert!(
            c["fix"]
                .as_str()
                .unwrap()
                .contains(&format!("sharebridge connect {account}")),
            "{c}"
        );
        c
    };

    // A wrong secret: the signing secret was reset in Admin Center.
    let id = our_webhook(&sim, "acme")["id"].as_str().unwrap().to_owned();
    let (status, body) = sim.api(
        "acme",
        OPS,
        "POST",
        &format!("/api/v2/webhooks/{id}/signing_secret"),
        None,
    );
    assert!(status < 300, "{status} {body}");
    let c = failing("acme", "webhook_secret");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("wrong signing secret"),
        "{c}"
    );

    // A deleted webhook.
    let vid = our_webhook(&sim, "vendor")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = sim.api(
        "vendor",
        OPS,
        "DELETE",
        &format!("/api/v2/webhooks/{vid}"),
        None,
    );
    assert!(status < 300, "{status} {body}");
    let c = failing("vendor", "webhook");
    assert!(c["detail"].as_str().unwrap().contains("was deleted"), "{c}");

    // A revoked credential (with its refresh token).
    let revoked = sim.control(
        "acme",
        "POST",
        "/sim/oauth/revoke",
        Some(serde_json::json!({"token": acme_token})),
    );
    assert_eq!(revoked["revoked"], true, "{revoked}");
    let c = failing("acme", "credentials");
    assert!(c["detail"].as_str().unwrap().contains("revoked"), "{c}");
    drop(daemon);

    // The fixes named work: connect again (signs in, re-reads the secret, recreates the
    // webhook), and every check passes, here without the daemon (doctor reads the store).
    let a = connect_with_browser(&setup, &["connect", "acme"]);
    assert!(a.status.success(), "{}", text(&a));
    assert!(text(&a).contains("signed in"), "{}", text(&a));
    let v = setup.run(&["connect", "vendor"]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("created"), "{}", text(&v));
    let healthy = setup.run(&["doctor"]);
    assert_eq!(healthy.status.code(), Some(0), "{}", text(&healthy));
    // The agent who writes tickets never appears as the bridge.
    assert!(!text(&healthy).contains(AGENT));
}

#[test]
fn client_credentials_need_no_browser_and_the_daemon_keeps_the_grant() {
    let sim = Sim::start();
    let setup = Setup::new(&sim);
    // Without public_url, a loopback listen address stands in, with a warning.
    setup.edit(
        &format!("public_url = \"http://127.0.0.1:{}\"\n", setup.port),
        "",
    );
    // The configuration says nothing of the grant: the flag chooses it.
    let c = setup.run(&["connect", "vendor", "--client-credentials", "--json"]);
    assert!(c.status.success(), "{}", text(&c));
    let report = json(&c);
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("daemon.public_url is not set"),
        "{report}"
    );
    assert_eq!(
        report["webhook"]["endpoint"],
        format!("http://127.0.0.1:{}/webhooks/vendor", setup.port).as_str()
    );
    assert_eq!(report["grant"], "client_credentials");
    assert_eq!(report["credential"], "obtained");
    // The token acts as the OAuth client's owner, an admin.
    assert_eq!(
        report["user"]["email"], "oauth-admin@vendor.example",
        "{report}"
    );
    assert_eq!(report["webhook"]["action"], "created", "{report}");
    assert!(
        !setup.store().exists() || setup.stored_access_token_opt("vendor").is_none(),
        "client-credentials tokens are not kept"
    );
    // Again without the flag: the grant it was connected with stays, nothing changes.
    sim.reset_stats("vendor");
    let again = setup.run(&["connect", "vendor", "--json"]);
    assert!(again.status.success(), "{}", text(&again));
    let report = json(&again);
    assert_eq!(report["grant"], "client_credentials", "{report}");
    assert_eq!(report["stored"], false, "{report}");
    assert_eq!(sim.writes("vendor"), Vec::<String>::new());
    let d = setup.run(&["doctor", "vendor"]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    // An API-token account has no client credentials.
    setup.edit(
        "oauth = { client_id = \"sharebridge\", client_secret_file = \"acme.oauth_secret\" }",
        "email = \"bridge@acme.example\"\ntoken = \"sim-token\"",
    );
    let wrong = setup.run(&["connect", "acme", "--client-credentials"]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("not OAuth"), "{}", text(&wrong));
}

#[test]
fn with_a_store_key_no_secret_is_readable_in_the_store_file() {
    let sim = Sim::start();
    let setup = Setup::new(&sim);
    setup.edit(
        "admin_token = \"admin\"",
        "admin_token = \"admin\"\nstore_key = \"a key of at least sixteen characters\"",
    );
    // The configured email is offered to the sign-in page as the user to sign in (an
    // admin, already seen by the account: the simulator makes `--admin` users admins
    // when they first authenticate with the API token).
    assert!(sim.webhooks("acme").is_empty());
    setup.edit(
        "base_url = \"",
        &format!("email = \"{OPS}\"\nbase_url = \""),
    );
    let c = connect_pasting(&setup, &["connect", "acme", "--print-url"]);
    assert!(c.status.success(), "{}", text(&c));
    assert!(text(&c).contains(&format!("<{OPS}>")), "{}", text(&c));
    let store = sharebridge::store::Store::open_existing(setup.store()).unwrap();
    assert!(
        store.oauth_tokens("acme").is_err(),
        "opened without the key"
    );
    store
        .use_sealing_key(b"a key of at least sixteen characters")
        .unwrap();
    let t = store.oauth_tokens("acme").unwrap().unwrap();
    let w = store.connection("acme").unwrap().unwrap().webhook.unwrap();
    drop(store);
    let bytes = std::fs::read(setup.store()).unwrap();
    let file = String::from_utf8_lossy(&bytes);
    for s in [&t.access_token, &t.refresh_token, &w.signing_secret] {
        assert!(
            !file.contains(s.as_str()),
            "a secret is readable in the store file"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(setup.store())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "store mode {mode:o}");
    }
    // The daemon opens them with the key: doctor (local) passes.
    let d = setup.run(&["doctor", "acme"]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
}
