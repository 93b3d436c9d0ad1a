//! `sharebridge store migrate --to URL` (the real binary): the embedded file to a real
//! PostgreSQL and back, verified by counts and checksums; refused while a daemon uses the
//! source, and into a target that already holds something.

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use jiff::Timestamp;
use sharebridge::store::{AuditKind, Direction, NewAudit, NewLink, Store};

fn config(dir: &Path, store_url: Option<&str>) -> std::path::PathBuf {
    let path = dir.join(format!(
        "sharebridge-{}.toml",
        if store_url.is_some() { "pg" } else { "file" }
    ));
    let store = store_url
        .map(|u| format!("store = \"{u}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            "[daemon]\nadmin_token = \"t\"\nstate_dir = \"{}\"\n{store}\n\
             [accounts.acme]\nsubdomain = \"acme\"\nemail = \"b@acme.example\"\ntoken = \"x\"\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn migrate(config: &Path, to: &str, json: bool) -> Output {
    let mut cmd = Command::cargo_bin("sharebridge").unwrap();
    cmd.arg("--config")
        .arg(config)
        .args(["store", "migrate", "--to", to]);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

fn fill(store: &Store) {
    for t in 0..40 {
        let l = store
            .create_link(NewLink {
                agreement: "a2v".into(),
                source_account: "acme".into(),
                source_ticket: t,
                target_account: "vendor".into(),
                direction: Direction::TwoWay,
                created_at: Timestamp::now(),
                untagged_share: false,
            })
            .unwrap()
            .link;
        store.set_mirror_ticket(l.id, 500 + t).unwrap();
        store
            .append_audit(NewAudit {
                at: Timestamp::now(),
                kind: AuditKind::Share,
                subject: format!("link {}", l.id),
                detail: "shared by the test".into(),
            })
            .unwrap();
    }
    store.set_cursor("acme", "events", "42").unwrap();
}

#[test]
fn file_to_postgres_and_back_verified() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let file = dir.path().join("state").join("sharebridge.redb");
    let sums = {
        let store = Store::open(&file).unwrap();
        fill(&store);
        let sums = store.checksums().unwrap();
        store.close().unwrap();
        sums
    };
    let url = common::postgres::fresh_database();
    let out = migrate(&config(dir.path(), None), &url, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("checksums of every table match"), "{text}");
    assert!(
        text.contains("set daemon.store"),
        "says what to do next: {text}"
    );
    let pg = Store::open_postgres(&url, None).unwrap();
    assert_eq!(pg.checksums().unwrap(), sums, "the database holds the same");
    assert_eq!(pg.links().unwrap().len(), 40);
    drop(pg);

    // Again into the same database: it is not empty any more.
    let out = migrate(&config(dir.path(), None), &url, false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // And back, from the PostgreSQL store of a configuration, into a new file.
    let back = dir.path().join("back.redb");
    let pg_config = config(dir.path(), Some(&url));
    let out = migrate(&pg_config, back.to_str().unwrap(), true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["entries"],
        sums.iter().map(|t| t.entries).sum::<u64>()
    );
    let copy = Store::open_existing(&back).unwrap();
    assert_eq!(copy.checksums().unwrap(), sums);
    drop(copy);
    // A file that exists is never overwritten.
    let out = migrate(&pg_config, back.to_str().unwrap(), false);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn refused_while_a_daemon_uses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let file = dir.path().join("state").join("sharebridge.redb");
    // A daemon has the file open.
    let open = Store::open(&file).unwrap();
    let url = common::postgres::fresh_database();
    let out = migrate(&config(dir.path(), None), &url, false);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use") && err.contains("stop every"),
        "{err}"
    );
    drop(open);

    // A daemon leads the PostgreSQL store.
    let pg = Store::open_postgres(&url, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lead = pg.lead("test-daemon (127.0.0.1:1)").unwrap();
    rt.block_on(async {
        let mut role = lead.role();
        while !role.borrow_and_update().is_leader() {
            role.changed().await.unwrap();
        }
    });
    let out = migrate(
        &config(dir.path(), Some(&url)),
        dir.path().join("x.redb").to_str().unwrap(),
        false,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("test-daemon") && err.contains("leads it"),
        "{err}"
    );
    assert!(!dir.path().join("x.redb").exists(), "nothing was written");
    rt.block_on(lead.step_down());
}
