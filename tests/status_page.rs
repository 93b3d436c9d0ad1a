//! The status page at `GET /` as a person meets it: the login form and its cookie over
//! HTTP, then the page itself rendered by a real headless browser (Debian's chromium).
//!
//! The page needs the admin token, which never goes into a URL. Chromium cannot log in
//! without a script, so the browser test puts a tiny reverse proxy in front of the daemon
//! (in this test, on 127.0.0.1:0) that adds `Authorization: Bearer …` — the header the
//! page accepts besides its cookie — and points chromium at the proxy.
//!
//! chromium is required: without `/usr/bin/chromium` the browser test fails and says how
//! to install it (`.ci/run` installs it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sharebridge::config::{LoadOptions, load_with};
use sharebridge::daemon::{self, Running};
use sharebridge::demo::{DEMO_CONFIG, DemoPlaces, demo_config};
use sharebridge::sim::{FaultSettings, Limits, SimConfig, Simulator};
use sharebridge::zendesk::models::{NewComment, TicketWrite};

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "demo-admin-token";

struct World {
    sim: Simulator,
    daemon: Running,
    source: u64,
    mirror: u64,
    _dir: tempfile::TempDir,
}

/// Simulator + daemon (the demo configuration on port 0) with one ticket shared.
async fn world() -> World {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut sc = SimConfig::local(&["acme", "vendor"]);
    sc.token = "demo-token".into();
    sc.webhook_secret = "demo-webhook-secret".into();
    sc.limits = Limits::unlimited();
    sc.export_lag_secs = 0;
    let sim = Simulator::start(sc).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = listener.local_addr().unwrap();
    let (text, secrets) = demo_config(
        DEMO_CONFIG,
        &DemoPlaces {
            acme_url: &sim.base_url("acme"),
            vendor_url: &sim.base_url("vendor"),
            listen,
            state_dir: &dir.path().join("state"),
        },
    )
    .unwrap();
    assert_eq!(secrets.admin_token, TOKEN);
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, text).unwrap();
    let config = load_with(&path, &LoadOptions::default()).unwrap().config;
    let daemon = daemon::start(config, listener).await.unwrap();
    for a in ["acme", "vendor"] {
        sim.add_webhook(a, &format!("http://{listen}/webhooks/{a}"));
    }
    let t = sim
        .create_ticket(
            "acme",
            "alice@acme.example",
            &TicketWrite {
                subject: Some("Secret subject <b>not shown</b>".into()),
                comment: Some(NewComment {
                    body: Some("A comment body the page must never show".into()),
                    public: Some(true),
                    ..Default::default()
                }),
                tags: Some(vec!["vendor_escalation".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mirror = loop {
        let links = daemon
            .engine
            .store()
            .links_by_source_ticket("acme", t.id)
            .unwrap();
        if let Some(m) = links.first().and_then(|l| l.target_ticket)
            && !sim.comments("vendor", m).is_empty()
        {
            break m;
        }
        assert!(Instant::now() < deadline, "the ticket was not shared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    World {
        sim,
        daemon,
        source: t.id,
        mirror,
        _dir: dir,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_form_sets_a_strict_http_only_cookie_that_opens_the_page() {
    let w = world().await;
    let base = format!("http://{}", w.daemon.addr);
    let http = no_redirects();

    // No token: the form.
    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("action=\"/login\"") && body.contains("name=\"token\""));
    assert!(
        !body.contains("acme-to-vendor"),
        "nothing shown before login"
    );

    // A wrong token: the form again, with an error, 401, no cookie.
    let r = http
        .post(format!("{base}/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("token=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("Wrong admin token"));

    // The right token: a strict, HttpOnly cookie and a redirect to /, token not in it.
    let r = http
        .post(format!("{base}/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[header::LOCATION], "/");
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("sharebridge_admin="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_owned();

    // The cookie opens the page.
    let r = http
        .get(format!("{base}/"))
        .header(header::COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    assert!(
        r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("acme-to-vendor"), "{page}");
    assert!(page.contains(&format!("vendor#{}", w.mirror)), "{page}");
    assert!(!page.contains("Secret subject") && !page.contains("comment body"));

    // A wrong cookie or bearer: the form, 401.
    for (name, value) in [
        (header::COOKIE, "sharebridge_admin=nope".to_owned()),
        (header::AUTHORIZATION, "Bearer nope".to_owned()),
    ] {
        let r = http
            .get(format!("{base}/"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("name=\"token\""));
    }

    // Logging out clears the cookie.
    let r = http.post(format!("{base}/logout")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    w.daemon.stop().await.unwrap();
    w.sim.shutdown().await;
}

/// The visibility column: the page never waits on Zendesk for it. With every vendor
/// request made 3 s slow, the first page answers at once and says the column is being
/// read; once the background read ends, each agreement's and the link's cell says how
/// many people see the mirror, the same number `GET /api/links/{id}/visibility` gives,
/// and when it was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visibility_column_is_read_in_the_background() {
    let w = world().await;
    let base = format!("http://{}", w.daemon.addr);
    let http = no_redirects();
    let link = w
        .daemon
        .engine
        .store()
        .links_by_source_ticket("acme", w.source)
        .unwrap()[0]
        .id;
    let page = || async {
        let r = http
            .get(format!("{base}/"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            latency_ms: 3000,
            ..FaultSettings::default()
        },
    );
    let first = page().await;
    assert!(first.contains("visibility being read"), "{first}");
    assert!(first.contains("reading…"), "{first}");
    w.sim.set_faults(Some("vendor"), FaultSettings::default());

    let deadline = Instant::now() + Duration::from_secs(30);
    let read = loop {
        let p = page().await;
        if p.contains("visibility as of") {
            break p;
        }
        assert!(Instant::now() < deadline, "the column was never read:\n{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!read.contains("reading…"), "{read}");
    let api: serde_json::Value = http
        .get(format!("{base}/api/links/{link}/visibility"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = api["seen_by"].as_u64().unwrap();
    let people = if n == 1 { "person" } else { "people" };
    let row_start = read
        .find(&format!("<td class=\"num\">{link}</td>"))
        .expect("the link's row");
    let row = &read[row_start..row_start + read[row_start..].find("</tr>").unwrap()];
    assert!(row.contains(&format!("seen by {n} {people}")), "{row}");
    if let Some(first_warning) = api["warnings"][0]["message"].as_str() {
        assert!(row.contains(first_warning), "{row}");
    }
    // Both agreements have a cell of their own.
    assert_eq!(read.matches("seen by ").count(), 3, "{read}");
    w.daemon.stop().await.unwrap();
    w.sim.shutdown().await;
}

/// The in-test reverse proxy: forwards GETs to the daemon with the bearer header added.
struct Proxy {
    daemon: SocketAddr,
    http: reqwest::Client,
}

async fn forward(State(p): State<Arc<Proxy>>, uri: Uri) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let sent = p
        .http
        .get(format!("http://{}{path}", p.daemon))
        .bearer_auth(TOKEN)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            let ctype = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/plain")
                .to_owned();
            let body = r.bytes().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, ctype)], body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn start_proxy(daemon: SocketAddr) -> SocketAddr {
    let state = Arc::new(Proxy {
        daemon,
        http: no_redirects(),
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Runs chromium headless with `extra` args against `url` (fresh profile, 60 s at most);
/// returns its stdout.
fn chromium(extra: &[String], url: &str, scratch: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test needs Debian's chromium; install it with \
         `apt-get install chromium` (as root; .ci/run does this)"
    );
    let profile = tempfile::tempdir_in(scratch).unwrap();
    let stdout_path = scratch.join(format!("chromium-{}.out", fastrand_suffix()));
    let stderr_path = stdout_path.with_extension("err");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within 60 s; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    std::fs::read_to_string(&stdout_path).unwrap()
}

fn fastrand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "not a PNG: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is not IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn screenshot(url: &str, scratch: &Path, out: &Path) -> Vec<u8> {
    let _ = std::fs::remove_file(out);
    chromium(&[format!("--screenshot={}", out.display())], url, scratch);
    std::fs::read(out).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", out.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_renders_the_status_page() {
    let w = world().await;
    // One more crossing, so the page has a recent sync and audit entries to show.
    w.sim
        .add_comment("acme", w.source, "alice@acme.example", "more", true)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while w.sim.comments("vendor", w.mirror).len() < 2 {
        assert!(Instant::now() < deadline, "the comment did not cross");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let proxy = start_proxy(w.daemon.addr).await;
    let page_url = format!("http://{proxy}/");
    let form_url = format!("http://{}/", w.daemon.addr);
    // Artifacts stay in target/ for a person (or CI) to look at.
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status_page");
    std::fs::create_dir_all(&artifacts).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let scratch_path = scratch.path().to_owned();
    let (dom, shot, form_shot) = {
        let artifacts = artifacts.clone();
        tokio::task::spawn_blocking(move || {
            let dom = chromium(&["--dump-dom".into()], &page_url, &scratch_path);
            let shot = screenshot(&page_url, &scratch_path, &artifacts.join("status.png"));
            let form = screenshot(&form_url, &scratch_path, &artifacts.join("login.png"));
            (dom, shot, form)
        })
        .await
        .unwrap()
    };

    // The DOM as the browser built it: agreements, the link with its mirror and states.
    for want in [
        "acme-to-vendor".to_owned(),
        "vendor-to-acme".to_owned(),
        format!("acme#{}", w.source),
        format!("vendor#{}", w.mirror),
        ">accepted<".to_owned(),
        ">active<".to_owned(),
        "two-way".to_owned(),
        "Request budget".to_owned(),
        "Recent audit".to_owned(),
    ] {
        assert!(dom.contains(&want), "{want:?} not in the DOM:\n{dom}");
    }
    assert!(!dom.contains("Secret subject") && !dom.contains("comment body"));
    assert!(
        !dom.contains("name=\"token\""),
        "the proxy's page is not the form"
    );

    // The screenshots: real PNGs of the window size; the page carries far more than the
    // form (a blank or failed render would not).
    let (w_px, h_px) = png_size(&shot);
    assert!(w_px >= 1000 && h_px >= 700, "screenshot is {w_px}x{h_px}");
    assert!(
        shot.len() > 10 * 1024,
        "screenshot only {} bytes",
        shot.len()
    );
    png_size(&form_shot);
    assert!(
        shot.len() > form_shot.len() + 5 * 1024,
        "status page screenshot ({} bytes) hardly larger than the login form's ({} bytes)",
        shot.len(),
        form_shot.len()
    );
    println!(
        "screenshots in {} ({} and {} bytes)",
        artifacts.display(),
        shot.len(),
        form_shot.len()
    );
    w.daemon.stop().await.unwrap();
    w.sim.shutdown().await;
}
