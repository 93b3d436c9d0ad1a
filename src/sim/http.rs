//! Request/response plumbing shared by the handlers: the parsed request a handler sees
//! (`Req`), the answer it gives (`Resp`), query-string parsing and JSON body decoding with
//! Zendesk's error split (not JSON → 400, wrong shape → 422).

use axum::body::Bytes;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::sim::error::ApiError;

/// Who is calling: an agent user of the account.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub id: u64,
    pub email: String,
}

/// What a handler gets: the caller, path ids, query pairs, raw body and a few headers.
#[derive(Debug)]
pub(crate) struct Req {
    pub caller: Caller,
    /// Numeric path parameters in order (`/tickets/{id}/comments/{cid}` → [id, cid]).
    pub ids: [u64; 2],
    /// Non-numeric path parameter (an upload token).
    pub token: Option<String>,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub now: Timestamp,
    pub now_ms: i64,
    /// The `via.channel` writes record: "api" over HTTP, "web" for test helpers.
    pub channel: &'static str,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A handler's answer.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: StatusCode,
    pub body: Bytes,
    pub content_type: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Resp {
    pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Resp {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Resp {
            status,
            body: Bytes::from(body),
            content_type: "application/json; charset=utf-8".to_owned(),
            headers: Vec::new(),
        }
    }

    pub fn ok<T: Serialize + ?Sized>(value: &T) -> Resp {
        Resp::json(StatusCode::OK, value)
    }

    pub fn no_content() -> Resp {
        Resp {
            status: StatusCode::NO_CONTENT,
            body: Bytes::new(),
            content_type: String::new(),
            headers: Vec::new(),
        }
    }

    pub fn from_error(e: &ApiError) -> Resp {
        let mut r = Resp::json(e.status, &e.body);
        if let Some(s) = e.retry_after {
            r.headers.push(("retry-after", s.to_string()));
        }
        r
    }
}

/// Decodes `%XX` and `+` in one query component.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y` → pairs (also used for form bodies).
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Encodes a query value.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a JSON body: not JSON → 400; the caller then picks the envelope.
pub(crate) fn json_value(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_json(
            "The request body is empty; a JSON object was expected",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_json("The request body is not valid JSON"))
}

/// Takes `envelope` out of a JSON object and decodes it: missing → 400, wrong types → 422.
pub(crate) fn envelope<T: DeserializeOwned>(
    mut value: Value,
    envelope: &str,
) -> Result<(T, Value), ApiError> {
    let inner = value
        .get_mut(envelope)
        .map(Value::take)
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            ApiError::bad_json(&format!(
                "The request body must be a JSON object with a {envelope:?} object"
            ))
        })?;
    let typed = serde_json::from_value(inner.clone()).map_err(|e| {
        ApiError::invalid_with(
            envelope,
            &format!("{envelope} is invalid: {e}"),
            "InvalidValue",
        )
    })?;
    Ok((typed, inner))
}

/// Whether `obj` has `key` set explicitly to null (a request to clear the field).
pub(crate) fn explicit_null(obj: &Value, key: &str) -> bool {
    obj.get(key).is_some_and(Value::is_null)
}

/// Comma-separated ids (`show_many?ids=1,2,3`); bad entries are ignored as Zendesk does.
pub(crate) fn id_list(s: &str) -> Vec<u64> {
    s.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("page%5Bsize%5D=2&a=x+y&b=%zz&c");
        assert_eq!(q[0], ("page[size]".to_owned(), "2".to_owned()));
        assert_eq!(q[1].1, "x y");
        assert_eq!(q[2].1, "%zz");
        assert_eq!(q[3], ("c".to_owned(), String::new()));
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(
            json_value(b"{nope").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let v = json_value(br#"{"x":{}}"#).unwrap();
        let e = envelope::<serde_json::Map<String, Value>>(v, "ticket").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: u64,
        }
        let v = json_value(br#"{"ticket":{"n":"x"}}"#).unwrap();
        let e = envelope::<T>(v, "ticket").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// Builders for unit tests of the handlers (no HTTP).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::sim::config::SimConfig;
    use crate::sim::state::Account;

    pub const T0_MS: i64 = 1_790_000_000_000;

    pub fn account() -> Account {
        let mut cfg = SimConfig::local(&["acme"]);
        cfg.limits = crate::sim::config::Limits::default();
        Account::new(
            "acme",
            0,
            "http://127.0.0.1:1".to_owned(),
            &cfg,
            crate::sim::clock::seconds(T0_MS),
        )
    }

    /// A request by `email` at `now_ms` with a JSON body.
    pub fn req(a: &mut Account, email: &str, now_ms: i64, body: &str) -> Req {
        let now = crate::sim::clock::seconds(now_ms);
        let id = a.ensure_user(email, "agent", now);
        Req {
            caller: Caller {
                id,
                email: email.to_owned(),
            },
            ids: [0, 0],
            token: None,
            query: Vec::new(),
            body: Bytes::from(body.to_owned()),
            idempotency_key: None,
            content_type: Some("application/json".to_owned()),
            now,
            now_ms,
            channel: "api",
        }
    }

    pub fn body(r: &Resp) -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }
}
