//! The account side of the simulator over raw HTTP: OAuth (authorization code with PKCE
//! and a consent page, client credentials, rotation, expiry, revocation), the Webhooks
//! API (admins only, deliveries signed with the webhook's own secret), what visibility
//! needs (brands, brand agents, groups, memberships, custom roles, organizations,
//! followers) and uploads (60-minute tokens, private attachments).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use sharebridge::sim::{Limits, SimConfig, Simulator};

const ADMIN: &str = "admin@acme.example";
const AGENT: &str = "agent@acme.example";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sim(f: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    cfg.admins = vec![ADMIN.to_owned()];
    f(&mut cfg);
    Simulator::start(cfg).await.unwrap()
}

/// `(status, headers, body)` of a call as `who` (basic auth), or with a bearer token.
async fn call(
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    who: Result<&str, &str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = http().request(method, format!("{}{path}", sim.base_url("acme")));
    rb = match who {
        Ok(email) => rb.basic_auth(format!("{email}/token"), Some(sim.token())),
        Err(bearer) => rb.bearer_auth(bearer),
    };
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    let t = r.text().await.unwrap();
    (s, h, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// `application/x-www-form-urlencoded` of pairs.
fn enc<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let e = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", e(k.as_ref()), e(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn authorization_code_with_pkce_through_the_consent_page() {
    let sim = sim(|c| c.oauth_clients = vec![("bridge".to_owned(), "s3cret".to_owned())]).await;
    let base = sim.base_url("acme");
    let verifier = "a-long-random-verifier-string-of-43-chars-or-more";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "{base}/oauth/authorizations/new?response_type=code&client_id=bridge&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=read%20write&state=xyz&code_challenge={challenge}&code_challenge_method=S256"
    );
    let page = http().get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form") && html.contains("/oauth/authorizations"),
        "{html}"
    );
    // The form, as a browser would post it, signed in as the bridge's user.
    let mut form: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "bridge".into()),
        ("redirect_uri".into(), "http://127.0.0.1:9/cb".into()),
        ("scope".into(), "read write".into()),
        ("state".into(), "xyz".into()),
        ("code_challenge".into(), challenge.clone()),
        ("code_challenge_method".into(), "S256".into()),
        ("email".into(), "bridge@acme.example".into()),
    ];
    form.push(("decision".into(), "allow".into()));
    let r = http()
        .post(format!("{base}/oauth/authorizations"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/cb?code="),
        "{location}"
    );
    let q = query_of(&location);
    assert!(q.contains(&("state".to_owned(), "xyz".to_owned())));
    let code = q.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    // A wrong verifier is refused, and the code is then spent.
    let wrong = json!({"grant_type": "authorization_code", "code": code, "client_id": "bridge",
        "code_verifier": "nope", "redirect_uri": "http://127.0.0.1:9/cb"});
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Again, properly.
    let r = http().post(&authorize).send().await.unwrap();
    assert_eq!(r.status(), 404, "only GET shows the page");
    let r = http()
        .post(format!("{base}/oauth/authorizations"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&form))
        .send()
        .await
        .unwrap();
    let code = query_of(r.headers()["location"].to_str().unwrap())
        .into_iter()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1;
    let good = json!({"grant_type": "authorization_code", "code": code, "client_id": "bridge",
        "client_secret": "s3cret", "code_verifier": verifier,
        "redirect_uri": "http://127.0.0.1:9/cb"});
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    assert_eq!(pair["token_type"], "bearer");
    assert_eq!(pair["expires_in"], 1800, "30 minutes by default");
    let access = pair["access_token"].as_str().unwrap();
    let (s, _, me) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/users/me.json",
        Err(access),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(me["user"]["email"], "bridge@acme.example");
    // Denied: the redirect says so.
    let mut deny = form.clone();
    deny.pop();
    deny.push(("decision".into(), "deny".into()));
    let r = http()
        .post(format!("{base}/oauth/authorizations"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&deny))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn auto_approve_client_credentials_expiry_rotation_and_revocation() {
    let sim = sim(|c| {
        c.oauth_clients = vec![("bridge".to_owned(), "s3cret".to_owned())];
        c.oauth_auto_approve = true;
    })
    .await;
    let base = sim.base_url("acme");
    let r = http()
        .get(format!("{base}/oauth/authorizations/new?response_type=code&client_id=bridge&redirect_uri=http://127.0.0.1:9/cb&login_hint=bridge@acme.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "auto-approve redirects at once");
    let code = query_of(r.headers()["location"].to_str().unwrap())
        .into_iter()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1;
    // Form-encoded this time, without PKCE: the secret is needed.
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "bridge"),
            ("client_secret", "s3cret"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    // Rotation: the old pair dies.
    let body = json!({"grant_type": "refresh_token", "refresh_token": refresh,
        "client_id": "bridge", "client_secret": "s3cret"});
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let next: Value = r.json().await.unwrap();
    assert_ne!(next["refresh_token"], pair["refresh_token"]);
    let (s, _, _) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/users/me",
        Err(&access),
        None,
    )
    .await;
    assert_eq!(s, 401, "the rotated-out access token is dead");
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the old refresh token too");
    // Expiry on the simulator's clock.
    let access = next["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &sim,
            reqwest::Method::GET,
            "/api/v2/users/me",
            Err(&access),
            None
        )
        .await
        .0,
        200
    );
    sim.advance_clock(Duration::from_secs(1801));
    assert_eq!(
        call(
            &sim,
            reqwest::Method::GET,
            "/api/v2/users/me",
            Err(&access),
            None
        )
        .await
        .0,
        401
    );
    // Client credentials act as the client's owner, an admin.
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .basic_auth("bridge", Some("s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cc: Value = r.json().await.unwrap();
    assert!(cc.get("refresh_token").is_none());
    let cc_token = cc["access_token"].as_str().unwrap().to_owned();
    let (_, _, me) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/users/me",
        Err(&cc_token),
        None,
    )
    .await;
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["user"]["email"], "oauth-admin@acme.example");
    // Revocation: the token shows, then stops working.
    let (s, _, cur) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/oauth/tokens/current.json",
        Err(&cc_token),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(cur["token"]["token"].as_str().unwrap().len(), 10);
    let (s, _, _) = call(
        &sim,
        reqwest::Method::DELETE,
        "/api/v2/oauth/tokens/current",
        Err(&cc_token),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        call(
            &sim,
            reqwest::Method::GET,
            "/api/v2/users/me",
            Err(&cc_token),
            None
        )
        .await
        .0,
        401
    );
    // Wrong secret, unknown grant.
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "bridge", "client_secret": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{base}/oauth/tokens"))
        .json(&json!({"grant_type": "password", "client_id": "bridge", "client_secret": "s3cret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    // A provisioned grant can be revoked from the outside (what `doctor` must notice).
    let g = sim.oauth_client("acme", "bridge@acme.example");
    assert!(sim.revoke_oauth_token("acme", &g.access_token));
    assert_eq!(
        call(
            &sim,
            reqwest::Method::GET,
            "/api/v2/users/me",
            Err(&g.access_token),
            None
        )
        .await
        .0,
        401
    );
    sim.shutdown().await;
}

type Seen = Arc<Mutex<Vec<(reqwest::header::HeaderMap, Vec<u8>)>>>;

async fn receiver() -> (String, Seen) {
    use axum::routing::post;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let mut h = reqwest::header::HeaderMap::new();
                    for (k, v) in &headers {
                        h.insert(k.clone(), v.clone());
                    }
                    seen.lock().unwrap().push((h, body.to_vec()));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test]
async fn webhooks_api_is_for_admins_and_its_webhooks_are_delivered_signed() {
    let sim = sim(|_| {}).await;
    let (url, seen) = receiver().await;
    let hook = json!({"webhook": {"name": "sharebridge", "endpoint": url, "http_method": "POST",
        "request_format": "json", "status": "active",
        "subscriptions": ["zen:event-type:ticket.comment_added"]}});
    let (s, _, e) = call(
        &sim,
        reqwest::Method::POST,
        "/api/v2/webhooks",
        Ok(AGENT),
        Some(hook.clone()),
    )
    .await;
    assert_eq!(s, 403, "{e}");
    let (s, _, made) = call(
        &sim,
        reqwest::Method::POST,
        "/api/v2/webhooks",
        Ok(ADMIN),
        Some(hook),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let id = made["webhook"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("01"));
    assert!(made["webhook"].get("signing_secret").is_none());
    let (_, _, list) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/webhooks",
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(list["webhooks"][0]["id"], json!(id));
    assert_eq!(list["meta"]["has_more"], false);
    let (s, _, secret) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/webhooks/{id}/signing_secret"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(secret["signing_secret"]["algorithm"], "SHA256");
    let key = secret["signing_secret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // A comment reaches it, signed with its own secret; a status change does not (not
    // subscribed).
    let w = sharebridge::zendesk::models::TicketWrite {
        comment: Some(sharebridge::zendesk::models::NewComment {
            body: Some("hello".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = sim.create_ticket("acme", AGENT, &w).unwrap();
    sim.update_ticket(
        "acme",
        t.id,
        AGENT,
        &sharebridge::zendesk::models::TicketWrite {
            status: Some(sharebridge::zendesk::models::Status::Pending),
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..300 {
        if sim.webhooks().pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "only the subscribed event");
    let (h, body) = &got[0];
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["type"], "zen:event-type:ticket.comment_added");
    let header = |n: &str| h[n].to_str().unwrap().to_owned();
    assert!(sharebridge::zendesk::signature::verify(
        key.as_bytes(),
        &header("x-zendesk-webhook-signature-timestamp"),
        body,
        &header("x-zendesk-webhook-signature"),
    ));
    // Reset the secret; PATCH deactivates; PUT needs the whole webhook; DELETE.
    let (s, _, reset) = call(
        &sim,
        reqwest::Method::POST,
        &format!("/api/v2/webhooks/{id}/signing_secret"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, 201);
    assert_ne!(reset["signing_secret"]["secret"], json!(key));
    let (s, _, _) = call(
        &sim,
        reqwest::Method::PATCH,
        &format!("/api/v2/webhooks/{id}"),
        Ok(ADMIN),
        Some(json!({"webhook": {"status": "inactive"}})),
    )
    .await;
    assert_eq!(s, 204);
    let (_, _, shown) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/webhooks/{id}"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(shown["webhook"]["status"], "inactive");
    let (s, _, _) = call(
        &sim,
        reqwest::Method::PUT,
        &format!("/api/v2/webhooks/{id}"),
        Ok(ADMIN),
        Some(json!({"webhook": {"status": "active"}})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, e) = call(
        &sim,
        reqwest::Method::PUT,
        &format!("/api/v2/webhooks/{id}"),
        Ok(ADMIN),
        Some(json!({"webhook": {"endpoint": "ftp://x"}})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["errors"][0]["code"], "InvalidInput");
    let (s, _, _) = call(
        &sim,
        reqwest::Method::DELETE,
        &format!("/api/v2/webhooks/{id}"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, e) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/webhooks/{id}"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert!(e["errors"].is_array());
    sim.shutdown().await;
}

#[tokio::test]
async fn visibility_objects_are_built_through_the_api() {
    let sim = sim(|_| {}).await;
    let post = |path: &'static str, body: Value| {
        let sim = &sim;
        async move { call(sim, reqwest::Method::POST, path, Ok(ADMIN), Some(body)).await }
    };
    let (s, _, role) = post(
        "/api/v2/custom_roles.json",
        json!({"custom_role": {"name": "Partner desk",
        "configuration": {"ticket_access": "assigned-only"}}}),
    )
    .await;
    assert_eq!(s, 201, "{role}");
    let role_id = role["custom_role"]["id"].as_u64().unwrap();
    let (s, _, bad) = post(
        "/api/v2/custom_roles",
        json!({"custom_role": {"name": "x",
        "configuration": {"ticket_access": "everything"}}}),
    )
    .await;
    assert_eq!((s, bad["error"].as_str()), (422, Some("RecordInvalid")));
    let (s, _, brand) = post(
        "/api/v2/brands.json",
        json!({"brand": {"name": "Partner", "subdomain": "partner"}}),
    )
    .await;
    assert_eq!(s, 201, "{brand}");
    let brand_id = brand["brand"]["id"].as_u64().unwrap();
    let (s, _, group) = post(
        "/api/v2/groups.json",
        json!({"group": {"name": "Escalations", "is_public": false}}),
    )
    .await;
    assert_eq!(s, 201);
    let group_id = group["group"]["id"].as_u64().unwrap();
    let (s, _, org) = post(
        "/api/v2/organizations.json",
        json!({"organization": {"name": "Customer Inc"}}),
    )
    .await;
    assert_eq!(s, 201);
    let org_id = org["organization"]["id"].as_u64().unwrap();
    // An agent with the custom role, in the group, in one brand only.
    let (s, _, u) = post(
        "/api/v2/users.json",
        json!({"user": {"name": "Pat", "email": "pat@acme.example",
        "role": "agent", "custom_role_id": role_id}}),
    )
    .await;
    assert_eq!(s, 201, "{u}");
    let pat = u["user"]["id"].as_u64().unwrap();
    assert_eq!(u["user"]["custom_role_id"], role_id);
    let (s, _, m) = post(
        "/api/v2/group_memberships.json",
        json!({"group_membership": {"user_id": pat, "group_id": group_id}}),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let (_, _, ms) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/groups/{group_id}/memberships.json"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(ms["group_memberships"][0]["user_id"], pat);
    let (_, _, ba) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/brand_agents.json?user_id={pat}"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(
        ba["brand_agents"].as_array().unwrap().len(),
        2,
        "every brand by default: {ba}"
    );
    sim.set_brand_memberships("acme", "pat@acme.example", &[brand_id]);
    let (_, _, ba) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/users/{pat}/brand_agents"),
        Ok(ADMIN),
        None,
    )
    .await;
    assert_eq!(ba["brand_agents"].as_array().unwrap().len(), 1);
    assert_eq!(ba["brand_agents"][0]["brand_id"], brand_id);
    // An end user of the organization; their ticket lands in it; Pat follows it.
    let (_, _, eu) = post(
        "/api/v2/users.json",
        json!({"user": {"name": "Cust", "email": "c@customer.example",
        "organization_id": org_id}}),
    )
    .await;
    let cust = eu["user"]["id"].as_u64().unwrap();
    let (s, _, t) = post(
        "/api/v2/tickets.json",
        json!({"ticket": {"comment": {"body": "x"},
        "requester_id": cust, "brand_id": brand_id, "group_id": group_id, "follower_ids": [pat]}}),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["ticket"]["organization_id"], org_id);
    assert_eq!(t["ticket"]["follower_ids"], json!([pat]));
    let id = t["ticket"]["id"].as_u64().unwrap();
    let (_, _, up) = call(
        &sim,
        reqwest::Method::PUT,
        &format!("/api/v2/tickets/{id}.json"),
        Ok(ADMIN),
        Some(json!({"ticket": {"followers": [{"user_id": pat, "action": "delete"}]}})),
    )
    .await;
    assert_eq!(up["ticket"]["follower_ids"], json!([]));
    // Agents may not build these; an end user cannot follow.
    let (s, _, _) = call(
        &sim,
        reqwest::Method::POST,
        "/api/v2/groups",
        Ok(AGENT),
        Some(json!({"group": {"name": "n"}})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = post(
        "/api/v2/tickets.json",
        json!({"ticket": {"comment": {"body": "x"}, "follower_ids": [cust]}}),
    )
    .await;
    assert_eq!(s, 422);
    // Lists and shows.
    for (path, key) in [
        ("/api/v2/custom_roles.json", "custom_roles"),
        ("/api/v2/brands.json", "brands"),
        ("/api/v2/groups.json", "groups"),
        ("/api/v2/organizations.json", "organizations"),
        ("/api/v2/group_memberships.json", "group_memberships"),
    ] {
        let (s, _, l) = call(&sim, reqwest::Method::GET, path, Ok(AGENT), None).await;
        assert_eq!(s, 200, "{path}");
        assert!(!l[key].as_array().unwrap().is_empty(), "{path}: {l}");
    }
    let (_, _, r) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/custom_roles/{role_id}"),
        Ok(AGENT),
        None,
    )
    .await;
    assert_eq!(
        r["custom_role"]["configuration"]["ticket_access"],
        "assigned-only"
    );
    // List Users narrowed by role (`role=` or `role[]=`), as a client lists the staff.
    let roles_of = |l: &Value| -> Vec<String> {
        l["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["role"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, _, all) = call(&sim, reqwest::Method::GET, "/api/v2/users", Ok(AGENT), None).await;
    assert!(roles_of(&all).contains(&"end-user".to_owned()), "{all}");
    let (_, _, staff) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/users.json?role%5B%5D=agent&role%5B%5D=admin&page%5Bsize%5D=100",
        Ok(AGENT),
        None,
    )
    .await;
    let staff_roles = roles_of(&staff);
    assert!(staff_roles.contains(&"agent".to_owned()) && staff_roles.contains(&"admin".to_owned()));
    assert!(!staff_roles.contains(&"end-user".to_owned()), "{staff}");
    let (_, _, admins) = call(
        &sim,
        reqwest::Method::GET,
        "/api/v2/users?role=admin",
        Ok(AGENT),
        None,
    )
    .await;
    assert_eq!(roles_of(&admins), vec!["admin".to_owned()]);
    sim.shutdown().await;
}

#[tokio::test]
async fn upload_tokens_last_an_hour_and_private_attachments_need_credentials() {
    let sim = sim(|_| {}).await;
    let base = sim.base_url("acme");
    let upload = |name: &'static str| {
        let base = base.clone();
        let token = sim.token().to_owned();
        async move {
            http()
                .post(format!("{base}/api/v2/uploads.json?filename={name}"))
                .basic_auth(format!("{AGENT}/token"), Some(token))
                .header("content-type", "image/png")
                .body("png-bytes")
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let up = upload("a.png").await;
    let token = up["upload"]["token"].as_str().unwrap().to_owned();
    let url = up["upload"]["attachment"]["content_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Not attached yet: private.
    assert_eq!(http().get(&url).send().await.unwrap().status(), 401);
    // An inline image on a private comment.
    let (s, _, t) = call(&sim, reqwest::Method::POST, "/api/v2/tickets.json", Ok(AGENT), Some(json!({"ticket": {
        "comment": {"html_body": format!("<p>see <img src=\"{url}\"></p>"), "public": false, "uploads": [token]}}}))).await;
    assert_eq!(s, 201, "{t}");
    let id = t["ticket"]["id"].as_u64().unwrap();
    assert_eq!(http().get(&url).send().await.unwrap().status(), 401);
    let r = http()
        .get(&url)
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .send()
        .await
        .unwrap();
    // With credentials: a redirect to the file host (another origin), which serves the
    // bytes without them.
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.starts_with(&base), "{location}");
    let r = http().get(&location).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"png-bytes");
    let (_, _, cs) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/tickets/{id}/comments.json"),
        Ok(AGENT),
        None,
    )
    .await;
    assert_eq!(
        cs["comments"][0]["attachments"],
        json!([]),
        "inline images only on request"
    );
    let (_, _, cs) = call(
        &sim,
        reqwest::Method::GET,
        &format!("/api/v2/tickets/{id}/comments.json?include_inline_images=true"),
        Ok(AGENT),
        None,
    )
    .await;
    assert_eq!(cs["comments"][0]["attachments"][0]["inline"], true);
    // A public comment's attachment is served without credentials.
    let up = upload("b.txt").await;
    let url_b = up["upload"]["attachment"]["content_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let tok_b = up["upload"]["token"].as_str().unwrap().to_owned();
    call(
        &sim,
        reqwest::Method::PUT,
        &format!("/api/v2/tickets/{id}.json"),
        Ok(AGENT),
        Some(json!({"ticket": {
        "comment": {"body": "file", "uploads": [tok_b]}}})),
    )
    .await;
    let r = http().get(&url_b).send().await.unwrap();
    assert_eq!(r.status(), 302, "no credentials needed");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(http().get(&location).send().await.unwrap().status(), 200);
    // The file host's grants last 5 minutes of the simulator's clock.
    sim.advance_clock(Duration::from_secs(301));
    assert_eq!(http().get(&location).send().await.unwrap().status(), 404);
    assert_eq!(sim.stats("acme").file_downloads_with_credentials, 0);
    // Tokens expire after 60 minutes of the simulator's clock: then 422.
    let up = upload("c.txt").await;
    let tok_c = up["upload"]["token"].as_str().unwrap().to_owned();
    sim.advance_clock(Duration::from_secs(3601));
    let (s, _, e) = call(
        &sim,
        reqwest::Method::PUT,
        &format!("/api/v2/tickets/{id}.json"),
        Ok(AGENT),
        Some(json!({"ticket": {
        "comment": {"body": "late file", "uploads": [tok_c]}}})),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["error"], "RecordInvalid");
    assert!(e["details"]["uploads"].is_array());
    sim.shutdown().await;
}
