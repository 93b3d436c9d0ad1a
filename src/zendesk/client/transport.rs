//! The client's transport: how one HTTP request reaches Zendesk and how its answer, or the
//! way it failed, comes back. [`Reqwest`] (reqwest over rustls) in production; the
//! simulated network of `sharebridge chaos` in a deterministic simulation, which calls the
//! simulator in-process with seeded latency, drops, partitions and late deliveries.
//!
//! Owns: the [`Transport`] trait, its plain request/answer values and the failure kinds the
//! client classifies ([`Failure`]: never sent, possibly sent, body cut, too large).
//!
//! Must not: retry, classify statuses or time requests out: the client does all three
//! (its timeout runs on tokio time, so a paused runtime simulates it), once, for every
//! transport.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use reqwest::Method;
use reqwest::header::HeaderMap;

/// One request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    /// Absolute URL, query included.
    pub url: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One answer: status, headers, the whole body.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// How a request failed before a whole answer came back.
#[derive(Debug, Clone)]
pub enum Failure {
    /// It never left: connection refused, no route, DNS, TLS, connect timeout. Nothing
    /// reached Zendesk, so any request may be sent again.
    NotSent(String),
    /// It may have reached Zendesk: the connection dropped after the request was written,
    /// or no answer head came.
    Lost(String),
    /// The answer's head came (`status`), then its body broke off.
    Body {
        status: u16,
        headers: HeaderMap,
        reason: String,
    },
    /// The answer is larger than the caller's limit (bytes).
    TooLarge(u64),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotSent(r) | Failure::Lost(r) => f.write_str(r),
            Failure::Body { status, reason, .. } => {
                write!(f, "answer {status} cut off: {reason}")
            }
            Failure::TooLarge(limit) => write!(f, "answer larger than {limit} bytes"),
        }
    }
}

/// A request on its way.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Incoming, Failure>> + Send + 'a>>;

/// Sends requests. Shared by every attempt of a client; must be cheap to call.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` and reads the whole answer, refusing one over `max_body` bytes.
    fn send(&self, request: Outgoing, max_body: Option<u64>) -> Sending<'_>;
}

/// The production transport: reqwest over rustls.
#[derive(Debug, Clone)]
pub struct Reqwest {
    client: reqwest::Client,
}

impl Reqwest {
    pub fn new(client: reqwest::Client) -> Reqwest {
        Reqwest { client }
    }
}

impl Transport for Reqwest {
    fn send(&self, request: Outgoing, max_body: Option<u64>) -> Sending<'_> {
        Box::pin(async move {
            let sent = self
                .client
                .request(request.method, &request.url)
                .headers(request.headers)
                .body(request.body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    return Err(Failure::NotSent(super::describe_reqwest(&e)));
                }
                Err(e) => return Err(Failure::Lost(super::describe_reqwest(&e))),
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            match read_body(resp, max_body).await {
                Ok(body) => Ok(Incoming {
                    status,
                    headers,
                    body,
                }),
                Err(BodyError::TooLarge(limit)) => Err(Failure::TooLarge(limit)),
                Err(BodyError::Read(e)) => Err(Failure::Body {
                    status,
                    headers,
                    reason: super::describe_reqwest(&e),
                }),
            }
        })
    }
}

enum BodyError {
    TooLarge(u64),
    Read(reqwest::Error),
}

/// Reads a response body, stopping as soon as it exceeds `max` bytes.
async fn read_body(mut resp: reqwest::Response, max: Option<u64>) -> Result<Vec<u8>, BodyError> {
    let Some(max) = max else {
        return resp
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(BodyError::Read);
    };
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
