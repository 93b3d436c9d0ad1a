//! The file host: where an attachment's `content_url` redirects, as Zendesk sends
//! downloads from `SUBDOMAIN.zendesk.com/attachments/token/…` to its file host. One
//! listener for every account (another origin than any account's), bound by
//! `Simulator::start`; `GET /{account}/{grant}/{name}` serves the bytes of a grant the
//! account's `content_url` issued (valid 5 minutes of the simulator's clock), without
//! credentials. A request that carries an `Authorization` header is served too, and
//! counted in `/sim/stats` (`file_downloads_with_credentials`): a client must never send
//! an account's credentials to another host on a redirect.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;

use crate::sim::clock::seconds;
use crate::sim::routes::plain;
use crate::sim::server::AccountHandle;

/// The file host's routes over every account.
pub(crate) fn app(accounts: Arc<Vec<Arc<AccountHandle>>>) -> Router {
    Router::new()
        .route("/{account}/{grant}/{name}", get(serve))
        .with_state(accounts)
}

async fn serve(
    State(accounts): State<Arc<Vec<Arc<AccountHandle>>>>,
    Path((account, grant, _name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(h) = accounts.iter().find(|h| *h.name == *account) else {
        return plain(crate::sim::http::Resp::from_error(
            &crate::sim::error::ApiError::not_found(),
        ));
    };
    let now = seconds(h.shared.clock.now_ms());
    let with_credentials = headers.contains_key(header::AUTHORIZATION);
    let mut a = h.lock();
    let resp = crate::sim::uploads::file_host(&mut a, &grant, with_credentials, now)
        .unwrap_or_else(|e| crate::sim::http::Resp::from_error(&e));
    plain(resp)
}
