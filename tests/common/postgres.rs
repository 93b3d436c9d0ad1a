//! A real PostgreSQL server for tests: Debian's `postgresql` package, started once per
//! test process on a free loopback port in a temporary directory (as `nobody` when the
//! tests run as root: PostgreSQL refuses to run as root), with a fresh database per
//! caller. A watcher stops the server and removes its directory when the test process
//! ends, however it ends.
//!
//! Never skips: when the server cannot start, the test fails saying why and what to run.
//! Shared by the integration tests (`tests/`) and the store's unit tests (included by
//! path), so it uses nothing but `std`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The superuser the test cluster is created with (trust authentication on loopback).
pub const PG_USER: &str = "sharebridge";

pub struct PgServer {
    pub port: u16,
    pub bin: PathBuf,
    pub dir: PathBuf,
}

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The test process's server, started on first use. Panics, saying why and what to do,
/// when it cannot start.
pub fn server() -> &'static PgServer {
    match SERVER.get_or_init(start_or_clean) {
        Ok(s) => s,
        Err(why) if bin_dir().is_err() => panic!(
            "cannot start PostgreSQL for the tests: {why}\n\
             The PostgreSQL tests need Debian's postgresql package: run `apt-get install -y postgresql` \
             (or scripts/test, which installs it) and run the tests again. They never skip."
        ),
        Err(why) => panic!(
            "cannot start PostgreSQL for the tests: {why}\n\
             PostgreSQL is installed but its test server did not start (see the error above: \
             disk space in the temporary directory, permissions); fix that and run the tests again. \
             They never skip."
        ),
    }
}

/// A new, empty database on the test server; its URL.
pub fn fresh_database() -> String {
    let s = server();
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new(s.bin.join("createdb"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.port.to_string(),
            "-U",
            PG_USER,
            &name,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run createdb: {e}"));
    assert!(
        out.status.success(),
        "createdb {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.url(&name)
}

impl PgServer {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs one SQL statement with `psql` (for tests that look behind the store).
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([url, "-X", "-q", "-t", "-A", "-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// Starts the server; a failed start leaves no directory behind (the watcher that would
/// remove it never ran).
fn start_or_clean() -> Result<PgServer, String> {
    let prefix = format!("sharebridge-pg-{}-", std::process::id());
    let started = start();
    if started.is_err()
        && let Ok(entries) = std::fs::read_dir(std::env::temp_dir())
    {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    started
}

/// The newest installed server's `bin` directory.
fn bin_dir() -> Result<PathBuf, String> {
    let root = Path::new("/usr/lib/postgresql");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|e| format!("{} cannot be read ({e})", root.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| format!("no {}/*/bin/initdb", root.display()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start() -> Result<PgServer, String> {
    let bin = bin_dir()?;
    let root = is_root();
    let dir = std::env::temp_dir().join(format!(
        "sharebridge-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // As root, everything runs as `nobody`, which must own the directory.
    let as_user = |program: &Path| -> Command {
        if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if root {
        run(
            Command::new("chown").arg("nobody:nogroup").arg(&dir),
            "chown nobody the test directory",
        )?;
    }
    let data = dir.join("data");
    run(
        as_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                PG_USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .env("HOME", &dir),
        "initdb",
    )?;
    let port = free_port()?;
    let log = dir.join("server.log");
    // The watcher: starts the postmaster, and when this test process is gone (however it
    // ended) stops it and removes the directory.
    let postgres = {
        let mut parts: Vec<String> = Vec::new();
        if root {
            parts.extend(
                [
                    "setpriv",
                    "--reuid=nobody",
                    "--regid=nogroup",
                    "--clear-groups",
                    "--",
                ]
                .map(String::from),
            );
        }
        parts.push(bin.join("postgres").display().to_string());
        parts.extend([
            "-D".into(),
            data.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-k".into(),
            dir.display().to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "fsync=off".into(),
            "-c".into(),
            "synchronous_commit=off".into(),
            "-c".into(),
            "full_page_writes=off".into(),
            "-c".into(),
            "max_connections=200".into(),
        ]);
        parts
            .iter()
            .map(|p| format!("'{}'", p.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let script = format!(
        "{postgres} >'{log}' 2>&1 & pg=$!\n\
         while kill -0 {parent} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.2; done\n\
         kill -INT $pg 2>/dev/null; wait $pg 2>/dev/null; rm -rf '{dir}'\n",
        log = log.display(),
        parent = std::process::id(),
        dir = dir.display(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the postgres watcher: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", PG_USER])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the server did not accept connections within 30 s; its log ({}):\n{}",
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(PgServer { port, bin, dir })
}
