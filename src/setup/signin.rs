//! Getting an authorization code from the operator's browser: either a loopback
//! listener on 127.0.0.1 that serves exactly one redirect (a plain page, then it closes),
//! or, for a host without a browser (`--print-url`), the address printed and the
//! redirected address (or the code) read back from stdin.
//!
//! Must not: log or print the code, the verifier or anything the redirect carried.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::zendesk::oauth::{self, OAuthError};

/// The path the loopback redirect comes back to.
pub const CALLBACK_PATH: &str = "/callback";

/// Why no code came back.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(
        "cannot listen on 127.0.0.1:{port} for Zendesk's redirect: {reason}; pick another --redirect-port (or use --print-url)"
    )]
    Bind { port: u16, reason: String },
    #[error(
        "no redirect came back within {0:?}; run connect again (on a host without a browser, use --print-url)"
    )]
    Timeout(Duration),
    #[error("reading the pasted address failed: {0}")]
    Stdin(String),
    #[error(
        "nothing was pasted (stdin closed); run connect again and paste the address the browser was sent to"
    )]
    NoInput,
    #[error(transparent)]
    OAuth(#[from] OAuthError),
}

/// A loopback listener bound before the address is printed, so the redirect URI names
/// a port that is really listening.
pub struct Loopback {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Loopback {
    /// Binds 127.0.0.1:`port` (0: a free port).
    pub async fn bind(port: u16) -> Result<Loopback, SignInError> {
        let listener =
            TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|e| SignInError::Bind {
                    port,
                    reason: e.to_string(),
                })?;
        let addr = listener.local_addr().map_err(|e| SignInError::Bind {
            port,
            reason: e.to_string(),
        })?;
        Ok(Loopback { listener, addr })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        redirect_uri(self.addr.port())
    }

    /// Serves requests until the one to [`CALLBACK_PATH`] arrives (others get 404),
    /// answers it with a plain page and returns the code it carried, checked against
    /// `state`; gives up after `timeout`.
    pub async fn wait(self, state: &str, timeout: Duration) -> Result<SecretString, SignInError> {
        let served = tokio::time::timeout(timeout, async {
            loop {
                let Ok((mut conn, _)) = self.listener.accept().await else {
                    continue;
                };
                let Some(target) = read_request_target(&mut conn).await else {
                    continue;
                };
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                if path != CALLBACK_PATH {
                    respond(&mut conn, 404, "Not found", "This is sharebridge's sign-in listener; it only answers Zendesk's redirect.").await;
                    continue;
                }
                let result = oauth::read_redirect(query, state, false);
                match &result {
                    Ok(_) => respond(&mut conn, 200, "OK", "sharebridge is signed in to Zendesk. You can close this tab and return to the terminal.").await,
                    Err(e) => respond(&mut conn, 400, "Bad Request", &format!("sharebridge could not sign in: {e}")).await,
                }
                return result;
            }
        })
        .await;
        match served {
            Ok(result) => result.map_err(SignInError::from),
            Err(_) => Err(SignInError::Timeout(timeout)),
        }
    }
}

/// The loopback redirect URI for `port`. Pure.
pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// The request line's target of one HTTP/1 request (at most 16 KiB of head read).
async fn read_request_target(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = conn.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    })
    .await;
    read.ok().flatten()?;
    request_target(&head)
}

/// `GET /callback?code=… HTTP/1.1` → `/callback?code=…`. Pure.
pub fn request_target(head: &[u8]) -> Option<String> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    parts.next()?.starts_with("HTTP/").then_some(())?;
    (method == "GET").then(|| target.to_owned())
}

async fn respond(conn: &mut tokio::net::TcpStream, status: u16, reason: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>sharebridge</title></head><body><p>{}</p></body></html>\n",
        html_escape(text)
    );
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(resp.as_bytes()).await;
    let _ = conn.shutdown().await;
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `--print-url`: prints `url`, then reads one line from stdin (the address the browser
/// was sent to, its query, or the code) and returns the code, checked against `state`.
pub async fn paste(
    url: &str,
    state: &str,
    out: &mut dyn std::io::Write,
) -> Result<SecretString, SignInError> {
    let _ = writeln!(
        out,
        "Open this address in a browser signed in to Zendesk as the bridge's dedicated user:\n\n  {url}\n\nAfter approving, the browser is sent to an address starting with http://127.0.0.1 (it may not load: that is expected).\nPaste that whole address here (or just the code) and press Enter:"
    );
    let _ = out.flush();
    let (n, line) = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n, line))
    })
    .await
    .map_err(|e| SignInError::Stdin(e.to_string()))?
    .map_err(|e| SignInError::Stdin(e.to_string()))?;
    if n == 0 || line.trim().is_empty() {
        return Err(SignInError::NoInput);
    }
    Ok(oauth::read_redirect(&line, state, true)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_target(b"GET /callback?code=x&state=y HTTP/1.1\r\nHost: a\r\n\r\n").as_deref(),
            Some("/callback?code=x&state=y")
        );
        assert_eq!(request_target(b"POST /callback HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_target(b"GET /callback\r\n\r\n"), None);
        assert_eq!(request_target(b"\xff\xfe"), None);
    }

    #[tokio::test]
    async fn the_loopback_serves_one_redirect_and_checks_state() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let lb = Loopback::bind(0).await.unwrap();
        let uri = lb.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"));
        let waiter = tokio::spawn(async move { lb.wait("st8", Duration::from_secs(10)).await });
        let http = reqwest::Client::new();
        // A stray request (a favicon) is answered 404 and does not end the wait.
        let r = http
            .get(uri.replace("/callback", "/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = http
            .get(format!("{uri}?code=c0de&state=st8"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("signed in") && !page.contains("c0de"),
            "{page}"
        );
        let code = waiter.await.unwrap().unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&code), "c0de");
    }

    #[tokio::test]
    async fn a_forged_state_is_refused_and_silence_times_out() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let lb = Loopback::bind(0).await.unwrap();
        let uri = lb.redirect_uri();
        let waiter = tokio::spawn(async move { lb.wait("st8", Duration::from_secs(10)).await });
        let r = reqwest::get(format!("{uri}?code=c0de&state=forged"))
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(matches!(
            waiter.await.unwrap(),
            Err(SignInError::OAuth(OAuthError::StateMismatch))
        ));
        let lb = Loopback::bind(0).await.unwrap();
        let err = lb.wait("st8", Duration::from_millis(50)).await.unwrap_err();
        assert!(err.to_string().contains("--print-url"), "{err}");
    }
}
