//! The CLI's surroundings, from the outside. `SHAREBRIDGE_CONFIG`: set but empty (as
//! systemd's `Environment=SHAREBRIDGE_CONFIG=` or a script may leave it) means unset,
//! with or without `--config`; a non-empty value is the default path; `--config` wins.
//! And a reader that closes standard output early (`| head`, `| grep -q`) ends the
//! command quietly, not with a panic.

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
"#;

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("sharebridge.toml");
    let state = dir.join("state");
    std::fs::write(&path, GOOD.replace("STATE", state.to_str().unwrap())).unwrap();
    path
}

fn check_config(env: Option<&str>, flag: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::cargo_bin("sharebridge").unwrap();
    cmd.arg("check-config");
    if let Some(f) = flag {
        cmd.arg("--config").arg(f);
    }
    match env {
        Some(v) => cmd.env("SHAREBRIDGE_CONFIG", v),
        None => cmd.env_remove("SHAREBRIDGE_CONFIG"),
    };
    cmd.output().unwrap()
}

#[test]
fn empty_sharebridge_config_means_unset() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path());
    // Empty variable plus --config: the flag's file is used.
    let out = check_config(Some(""), Some(&path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("a value is required"), "{stderr}");
    // Empty variable without --config: the default path is used (and named when absent),
    // never an empty path and never a usage error about the variable.
    let out = check_config(Some(""), None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("a value is required"), "{text}");
    if !std::path::Path::new("/etc/sharebridge/sharebridge.toml").exists() {
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains("/etc/sharebridge/sharebridge.toml"), "{text}");
    }
}

#[test]
fn non_empty_sharebridge_config_is_the_default_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path());
    let out = check_config(Some(path.to_str().unwrap()), None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = dir.path().join("missing.toml");
    let out = check_config(Some(missing.to_str().unwrap()), Some(&path));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check_config(Some(path.to_str().unwrap()), Some(&missing));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_closed_standard_output_ends_the_command_quietly() {
    // The read end is closed before the command starts: its first line meets EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("sharebridge"))
        .args(["chaos", "--features"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
