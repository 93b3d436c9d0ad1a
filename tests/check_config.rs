//! `sharebridge check-config` from the outside: valid configurations pass with a summary,
//! each kind of broken one exits 2 naming its file and key, and nothing is ever written.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const GOOD: &str = r#"
[daemon]
state_dir = "STATE"
listen = "127.0.0.1:9464"
admin_token = "admin"

[accounts.acme]
subdomain = "acme"
base_url = "http://127.0.0.1:18081"
email = "bridge@acme.example"
token = "t1"
accept_from = ["vendor"]

[accounts.vendor]
subdomain = "vendor"
email = "bridge@vendor.example"
token = "t2"
accept_from = ["acme"]

[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]
"#;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(main: &str) -> Dir {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::write(
            dir.path().join("sharebridge.toml"),
            main.replace("STATE", state.to_str().unwrap()),
        )
        .unwrap();
        Dir { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn main(&self) -> PathBuf {
        self.path().join("sharebridge.toml")
    }
    fn add(&self, rel: &str, text: &str) -> &Dir {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    fn check(&self) -> assert_cmd::assert::Assert {
        self.check_env(&[])
    }
    fn check_env(&self, env: &[(&str, &str)]) -> assert_cmd::assert::Assert {
        let mut cmd = Command::cargo_bin("sharebridge").unwrap();
        cmd.arg("check-config")
            .arg("--config")
            .arg(self.main())
            .env_remove("SHAREBRIDGE_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.assert();
        assert!(
            !self.path().join("state").exists(),
            "check-config must not create the state_dir"
        );
        out
    }
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// Refused with exit 2, and every `needle` appears in what it printed.
fn refused(dir: &Dir, needles: &[&str]) {
    let a = dir.check().code(2);
    let err = stderr(&a);
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in:\n{err}");
    }
}

#[test]
fn valid_configuration_prints_a_summary() {
    let dir = Dir::new(GOOD);
    dir.add(
        "sharebridge.toml",
        &GOOD.replace("STATE", dir.path().join("state").to_str().unwrap()).replace(
            "[accounts.vendor]\nsubdomain = \"vendor\"\nemail = \"bridge@vendor.example\"\ntoken = \"t2\"\naccept_from = [\"acme\"]\n",
            "",
        ),
    );
    dir.add(
        "conf.d/vendor.toml",
        r#"
[accounts.vendor]
subdomain = "vendor"
email = "bridge@vendor.example"
token = "t2"
accept_from = ["acme"]

[[agreements]]
name = "vendor-to-acme"
from = "vendor"
to = "acme"
"#,
    );
    let a = dir.check().code(0);
    let out = stdout(&a);
    assert!(out.contains("acme-to-vendor"), "{out}");
    assert!(out.contains("accepted"), "{out}");
    assert!(out.contains("two-way pairs: acme <-> vendor"), "{out}");
    assert!(
        !out.contains("t1") && !out.contains("admin\""),
        "no secret printed:\n{out}"
    );
}

#[test]
fn pending_until_receiver_accepts() {
    let dir = Dir::new(&GOOD.replace("accept_from = [\"acme\"]", ""));
    let out = stdout(&dir.check().code(0));
    assert!(out.contains("pending"), "{out}");
    assert!(out.contains("two-way pairs: none"), "{out}");
}

#[test]
fn the_shipped_demo_configuration_is_valid() {
    Command::cargo_bin("sharebridge")
        .unwrap()
        .args(["check-config", "--config", "config/demo.toml"])
        .assert()
        .code(0);
}

#[test]
fn unknown_keys_are_all_reported_with_file_and_key() {
    let dir = Dir::new(
        &GOOD
            .replace("[accounts.vendor]", "[accounts.vendor]\ntokn = \"x\"")
            .replace("listen = ", "lisen = \"x\"\nlisten = "),
    );
    dir.add("conf.d/extra.toml", "[agreements_]\nx = 1\n");
    refused(
        &dir,
        &[
            "accounts.vendor.tokn",
            "daemon.lisen",
            "conf.d/extra.toml",
            "agreements_",
            "sharebridge.toml",
        ],
    );
}

#[test]
fn toml_syntax_error_names_the_line() {
    let dir = Dir::new(GOOD);
    dir.add("conf.d/broken.toml", "[daemon\nlisten = 1\n");
    refused(&dir, &["conf.d/broken.toml", "line 1"]);
}

#[test]
fn agreement_naming_an_undeclared_account() {
    let dir = Dir::new(&GOOD.replace("to = \"vendor\"", "to = \"vendr\""));
    refused(&dir, &["agreements.acme-to-vendor.to", "vendr"]);
}

#[test]
fn from_equals_to() {
    let dir = Dir::new(&GOOD.replace("to = \"vendor\"", "to = \"acme\""));
    refused(&dir, &["agreements.acme-to-vendor.to", "both \"acme\""]);
}

#[test]
fn duplicate_agreement_names_across_files() {
    let dir = Dir::new(GOOD);
    dir.add(
        "conf.d/vendor.toml",
        "[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"vendor\"\nto = \"acme\"\n",
    );
    refused(&dir, &["conf.d/vendor.toml", "duplicate agreement name"]);
}

#[test]
fn account_in_both_accept_and_decline() {
    let dir = Dir::new(&GOOD.replace(
        "accept_from = [\"acme\"]",
        "accept_from = [\"acme\"]\ndecline_from = [\"acme\"]",
    ));
    refused(
        &dir,
        &["accounts.vendor", "both accept_from and decline_from"],
    );
}

#[test]
fn unparseable_durations() {
    let dir = Dir::new(&GOOD.replace(
        "listen = ",
        "poll_interval = \"soon\"\nreconcile_interval = \"30\"\nlisten = ",
    ));
    refused(
        &dir,
        &[
            "daemon.poll_interval",
            "daemon.reconcile_interval",
            "\"soon\"",
        ],
    );
}

#[test]
fn bad_listen_address() {
    let dir = Dir::new(&GOOD.replace("127.0.0.1:9464", "localhost:99999"));
    refused(&dir, &["daemon.listen", "localhost:99999"]);
}

#[test]
fn missing_credentials() {
    let dir = Dir::new(&GOOD.replace("token = \"t2\"\n", ""));
    refused(&dir, &["accounts.vendor.token", "missing credentials"]);
}

#[test]
fn unreadable_secret_file() {
    let dir = Dir::new(&GOOD.replace("token = \"t2\"", "token_file = \"nowhere/vendor.token\""));
    refused(
        &dir,
        &["accounts.vendor.token_file", "cannot read secret file"],
    );
}

#[cfg(unix)]
#[test]
fn world_readable_secret_file_is_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new(&GOOD.replace("token = \"t2\"", "token_file = \"vendor.token\""));
    dir.add("vendor.token", "s3cr3t-value\n");
    let p = dir.path().join("vendor.token");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let a = dir.check().code(0);
    let err = stderr(&a);
    assert!(
        err.contains("warning") && err.contains("readable by other users"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-value") && !stdout(&a).contains("s3cr3t-value"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = dir.check().code(0);
    assert!(!stderr(&a).contains("readable by other users"));
}

#[test]
fn secret_from_credentials_directory() {
    let dir = Dir::new(&GOOD.replace("token = \"t2\"\n", ""));
    dir.add("creds/vendor.token", "from-systemd\n");
    let creds = dir.path().join("creds");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            creds.join("vendor.token"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    dir.check_env(&[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())])
        .code(0);
}

#[test]
fn requests_per_minute_zero() {
    let dir = Dir::new(&GOOD.replace("token = \"t1\"", "token = \"t1\"\nrequests_per_minute = 0"));
    refused(&dir, &["accounts.acme.requests_per_minute", "at least 1"]);
}

#[test]
fn one_field_mapped_twice() {
    let dir = Dir::new(&format!(
        "{GOOD}\n[[agreements.fields]]\nfrom = 1\nto = 2\n[[agreements.fields]]\nfrom = 1\nto = 3\n"
    ));
    refused(
        &dir,
        &["agreements.acme-to-vendor.fields[1].from", "mapped twice"],
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let broken = GOOD
        .replace("127.0.0.1:9464", "nope")
        .replace("to = \"vendor\"", "to = \"ghost\"")
        .replace(
            "token = \"t1\"",
            "token = \"t1\"\nrequests_per_minute = 0\ncolour = \"red\"",
        );
    let dir = Dir::new(&broken);
    refused(
        &dir,
        &[
            "daemon.listen",
            "agreements.acme-to-vendor.to",
            "requests_per_minute",
            "accounts.acme.colour",
        ],
    );
}

#[test]
fn wrong_types_name_the_key() {
    let dir = Dir::new(&GOOD.replace(
        "token = \"t1\"",
        "token = \"t1\"\nrequests_per_minute = \"lots\"",
    ));
    refused(
        &dir,
        &["accounts.acme.requests_per_minute", "sharebridge.toml"],
    );
}

#[test]
fn the_same_key_in_two_files_is_a_conflict() {
    let dir = Dir::new(GOOD);
    dir.add("conf.d/other.toml", "[daemon]\nlisten = \"127.0.0.1:1\"\n");
    refused(
        &dir,
        &[
            "conf.d/other.toml",
            "daemon.listen",
            "already set in sharebridge.toml",
        ],
    );
}

#[test]
fn environment_overrides_apply_and_are_checked() {
    let dir = Dir::new(GOOD);
    let a = dir
        .check_env(&[("SHAREBRIDGE_DAEMON__LISTEN", "127.0.0.1:9999")])
        .code(0);
    assert!(stdout(&a).contains("127.0.0.1:9999"));
    let a = dir
        .check_env(&[("SHAREBRIDGE_DAEMON__LISTEN", "bogus")])
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("SHAREBRIDGE_DAEMON__LISTEN") && err.contains("daemon.listen"),
        "{err}"
    );
}

#[test]
fn missing_main_file() {
    let dir = Dir::new(GOOD);
    std::fs::remove_file(dir.main()).unwrap();
    refused(&dir, &["sharebridge.toml", "cannot read the file"]);
}

#[test]
fn missing_admin_token_is_a_warning() {
    let dir = Dir::new(&GOOD.replace("admin_token = \"admin\"\n", ""));
    let a = dir.check().code(0);
    let err = stderr(&a);
    assert!(
        err.contains("warning") && err.contains("daemon.admin_token") && err.contains("refuse"),
        "{err}"
    );
}

#[test]
fn a_broken_file_is_reported_without_its_consequences() {
    let dir = Dir::new(GOOD);
    std::fs::write(dir.main(), "[daemon\nlisten = 1\n").unwrap();
    let a = dir.check().code(2);
    let err = stderr(&a);
    assert!(err.contains("invalid TOML"), "{err}");
    assert!(
        !err.contains("missing"),
        "no follow-on 'missing' noise:\n{err}"
    );
}

/// Each owner's file in conf.d/: the daemon section in the main file, acme's and vendor's
/// accounts and offers in their own files.
fn owners() -> Dir {
    let dir = Dir::new(
        "[daemon]\nstate_dir = \"STATE\"\nlisten = \"127.0.0.1:9464\"\nadmin_token = \"admin\"\n",
    );
    dir.add(
        "conf.d/acme.toml",
        r#"
[accounts.acme]
subdomain = "acme"
email = "bridge@acme.example"
token = "t1"
"#,
    );
    dir.add(
        "conf.d/vendor.toml",
        r#"
[accounts.vendor]
subdomain = "vendor"
email = "bridge@vendor.example"
token = "t2"
accept_from = ["acme"]
"#,
    );
    dir
}

#[test]
fn each_owner_in_its_own_file_speaks_for_its_own_account() {
    let dir = owners();
    let acme = std::fs::read_to_string(dir.path().join("conf.d/acme.toml")).unwrap();
    dir.add(
        "conf.d/acme.toml",
        &format!(
            "{acme}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\n"
        ),
    );
    let out = stdout(&dir.check().code(0));
    assert!(out.contains("acme-to-vendor"), "{out}");
    assert!(out.contains("accepted"), "{out}");
}

#[test]
fn a_file_cannot_offer_agreements_from_an_account_it_does_not_declare() {
    let dir = owners();
    // vendor's own file offers acme's private comments to itself, and accepts them.
    let vendor = std::fs::read_to_string(dir.path().join("conf.d/vendor.toml")).unwrap();
    dir.add(
        "conf.d/vendor.toml",
        &format!(
            "{vendor}\n[[agreements]]\nname = \"acme-private\"\nfrom = \"acme\"\nto = \"vendor\"\n[agreements.comments]\nprivate = true\n"
        ),
    );
    refused(
        &dir,
        &[
            "agreements.acme-private.from",
            "conf.d/vendor.toml",
            "conf.d/acme.toml",
        ],
    );
}

#[test]
fn a_file_cannot_consent_or_set_secrets_for_an_account_it_does_not_declare() {
    for key in [
        "accept_from = [\"vendor\"]",
        "decline_from = [\"vendor\"]",
        "token_file = \"acme.token\"",
        "webhook_secret = \"x\"",
        "base_url = \"http://127.0.0.1:1\"",
    ] {
        let dir = owners();
        let vendor = std::fs::read_to_string(dir.path().join("conf.d/vendor.toml")).unwrap();
        dir.add(
            "conf.d/vendor.toml",
            &format!("{vendor}\n[accounts.acme]\n{key}\n"),
        );
        let k = key.split(' ').next().unwrap().trim_end_matches("_file");
        refused(
            &dir,
            &[
                &format!("accounts.acme.{k}"),
                "conf.d/vendor.toml",
                "conf.d/acme.toml",
            ],
        );
    }
}

#[test]
fn one_operator_writing_everything_in_one_file_changes_nothing() {
    // GOOD declares both accounts and acme's offer in the main file.
    Dir::new(GOOD).check().code(0);
}

#[test]
fn ordering_is_per_ticket_or_arrival_and_nothing_else() {
    let with = |v: &str| GOOD.replace("listen = ", &format!("ordering = \"{v}\"\nlisten = "));
    Dir::new(&with("per-ticket")).check().code(0);
    Dir::new(&with("arrival")).check().code(0);
    refused(
        &Dir::new(&with("fast")),
        &["daemon.ordering", "\"fast\"", "per-ticket"],
    );
}

#[test]
fn daemon_store_takes_a_postgres_url_and_its_password_as_a_secret() {
    let with = |extra: &str| {
        Dir::new(&GOOD.replace(
            "admin_token = \"admin\"",
            &format!("admin_token = \"admin\"\n{extra}"),
        ))
    };
    // A URL and a password file: valid, and neither is printed.
    let dir =
        with("store = \"postgres://bridge@db.example/sharebridge\"\nstore_password_file = \"pw\"");
    dir.add("pw", "s3cret-pw\n");
    std::fs::set_permissions(
        dir.path().join("pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let a = dir.check().code(0);
    assert!(!stdout(&a).contains("s3cret") && !stderr(&a).contains("s3cret"));
    // Not a PostgreSQL URL, no database, a password without a store: refused.
    refused(
        &with("store = \"/var/lib/x.redb\""),
        &["daemon.store", "not a PostgreSQL URL"],
    );
    refused(
        &with("store = \"postgres://bridge@db.example\""),
        &["daemon.store", "names no database"],
    );
    refused(
        &with("store_password = \"x\""),
        &["daemon.store_password", "daemon.store is not"],
    );
    // A password written in the URL: a warning that never shows it.
    let a = with("store = \"postgres://bridge:hunter2@db.example/sb\"")
        .check()
        .code(0);
    let err = stderr(&a);
    assert!(err.contains("store_password_file"), "{err}");
    assert!(
        !err.contains("hunter2") && !stdout(&a).contains("hunter2"),
        "{err}"
    );
}

#[test]
fn system_fields_are_accepted_and_their_ids_checked() {
    let ok = format!(
        "{GOOD}[agreements.system]\npriority = true\ntype = true\ngroups = {{ \"360001\" = 900001 }}\nforms = {{ \"500\" = 700 }}\n"
    );
    Dir::new(&ok).check().code(0);
    let dir = Dir::new(&format!(
        "{GOOD}[agreements.system]\ngroups = {{ \"support\" = 900001, \"7\" = 0 }}\nforms = {{ \"0\" = 700 }}\n"
    ));
    refused(
        &dir,
        &[
            "agreements.acme-to-vendor.system.groups.support",
            "not a group id",
            "agreements.acme-to-vendor.system.groups.7",
            "must be above 0",
            "agreements.acme-to-vendor.system.forms.0",
            "not a ticket form id",
        ],
    );
    let dir = Dir::new(&format!(
        "{GOOD}[agreements.system]\npriorty = true\ndue_at = true\n"
    ));
    refused(
        &dir,
        &[
            "agreements[0].system.priorty",
            "agreements[0].system.due_at",
            "unknown key",
        ],
    );
}

/// Every key the code does not act on is refused (DESIGN §3: no key is accepted and
/// ignored): keys that would do nothing where they stand, each with what to do.
#[test]
fn keys_that_would_do_nothing_are_refused() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[agreements.status]\nsync = false\nmap = { hold = \"open\" }\n",
            "agreements.acme-to-vendor.status.map",
            "while status.sync = false",
        ),
        (
            "[agreements.tags]\nsync = false\nexclude = [\"internal_*\"]\n",
            "agreements.acme-to-vendor.tags.exclude",
            "while tags.sync = false",
        ),
        (
            "[agreements.comments]\npublic = false\nattribution = true\n",
            "agreements.acme-to-vendor.comments.attribution",
            "no comment crosses",
        ),
    ];
    for (section, key, why) in cases {
        refused(&Dir::new(&format!("{GOOD}{section}")), &[key, why]);
    }
    let no_auto = GOOD.replace("auto_share_tags = [\"vendor_escalation\"]", "");
    refused(
        &Dir::new(&no_auto.replace(
            "to = \"vendor\"\n",
            "to = \"vendor\"\nunshare_on_tag_removal = true\n",
        )),
        &[
            "agreements.acme-to-vendor.unshare_on_tag_removal",
            "without auto_share_tags",
        ],
    );
    refused(
        &Dir::new(&no_auto.replace("to = \"vendor\"\n", "to = \"vendor\"\nbrands = [5]\n")),
        &["agreements.acme-to-vendor.brands", "auto-sharing only"],
    );
    // The same keys where they act are accepted.
    let acting = format!(
        "{GOOD}unshare_on_tag_removal = true\nbrands = [5]\n[agreements.status]\nsync = true\nmap = {{ hold = \"open\" }}\n[agreements.comments]\npublic = false\nprivate = true\nattribution = false\n"
    );
    Dir::new(&acting).check().code(0);
}

#[test]
fn attachments_max_bytes_above_zendesks_50_mb_is_a_warning_and_zero_is_refused() {
    let with = |v: &str| {
        GOOD.replace(
            "auto_share_tags = [\"vendor_escalation\"]\n",
            &format!("auto_share_tags = [\"vendor_escalation\"]\n[agreements.attachments]\nmax_bytes = {v}\n"),
        )
    };
    assert!(with("1").contains("max_bytes = 1"));
    Dir::new(&with("20_000_000")).check().code(0);
    let a = Dir::new(&with("60_000_000")).check().code(0);
    let err = stderr(&a);
    assert!(
        err.contains("warning") && err.contains("attachments.max_bytes") && err.contains("50 MB"),
        "{err}"
    );
    refused(
        &Dir::new(&with("0")),
        &["attachments.max_bytes", "sync = false"],
    );
}
