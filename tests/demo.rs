//! `sharebridge demo` as a user runs it: the real binary, no configuration, no network
//! but loopback; it must tell the whole story, verified, and exit 0 well within a minute.

use std::time::{Duration, Instant};

use assert_cmd::Command;

fn demo() -> (String, String, Option<i32>, Duration) {
    let started = Instant::now();
    let out = Command::cargo_bin("sharebridge")
        .unwrap()
        .arg("demo")
        // A stray configuration or override in the environment must not matter.
        .env("SHAREBRIDGE_CONFIG", "/nonexistent/sharebridge.toml")
        .env("SHAREBRIDGE_DAEMON__LISTEN", "not an address")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
        started.elapsed(),
    )
}

#[test]
fn demo_tells_the_story_verified_and_exits_0_twice_in_a_row() {
    for run in 1..=2 {
        let (stdout, stderr, code, took) = demo();
        assert_eq!(
            code,
            Some(0),
            "run {run}: exit code\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        for step in [
            "✓ step 0 agreements",
            "✓ step 1 share",
            "✓ step 2 public comment",
            "✓ step 3 private comment",
            "✓ step 4 two-way reply",
            "✓ step 5 unshare",
            "demo complete",
        ] {
            assert!(
                stdout.lines().any(|l| l.starts_with(step)),
                "run {run}: no line starting {step:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
        assert!(stdout.contains("reason unshared"), "{stdout}");
        assert!(!stdout.contains('✗'), "{stdout}");
        // The story names ids, never the comment texts it wrote.
        assert!(!stdout.contains("gold plan"), "{stdout}");
        assert!(took < Duration::from_secs(30), "run {run} took {took:?}");
    }
}
