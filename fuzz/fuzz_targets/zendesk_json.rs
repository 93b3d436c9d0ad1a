//! Zendesk answers: every wire type of `zendesk::models` decoded from arbitrary bytes (and
//! from each member of a JSON object, as envelopes hold them). Decoded or refused, never a
//! panic; what decodes re-encodes to itself; an error body classifies under any status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sharebridge::zendesk::client::error::classify;
use sharebridge::zendesk::models::*;

fn decode<T>(v: &Value)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(t) = serde_json::from_value::<T>(v.clone()) {
        let again: T = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(again, t);
    }
}

fn all(v: &Value) {
    decode::<Ticket>(v);
    decode::<TicketEnvelope<Ticket>>(v);
    decode::<Comment>(v);
    decode::<Vec<Comment>>(v);
    decode::<Attachment>(v);
    decode::<Via>(v);
    decode::<CustomField>(v);
    decode::<Status>(v);
    decode::<NewComment>(v);
    decode::<TicketWrite>(v);
    decode::<User>(v);
    decode::<TicketField>(v);
    decode::<FieldOption>(v);
    decode::<Brand>(v);
    decode::<Group>(v);
    decode::<CustomRole>(v);
    decode::<Upload>(v);
    decode::<SharingAgreement>(v);
    decode::<CursorMeta>(v);
    decode::<CursorLinks>(v);
    decode::<IncrementalTickets>(v);
    decode::<TicketEvent>(v);
    decode::<ChildEvent>(v);
    decode::<IncrementalTicketEvents>(v);
    decode::<ErrorBody>(v);
    if let Ok(body) = serde_json::from_value::<ErrorBody>(v.clone()) {
        for status in [400, 401, 404, 409, 422, 429, 500, 503] {
            let _ = classify(status, Some(&body), None).into_error(
                sharebridge::zendesk::client::RequestContext {
                    account: "a".into(),
                    method: "GET".into(),
                    path: "/".into(),
                    ticket: None,
                },
                status,
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<TicketEnvelope<Ticket>>(data);
    let _ = serde_json::from_slice::<IncrementalTickets>(data);
    let _ = serde_json::from_slice::<IncrementalTicketEvents>(data);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    all(&v);
    if let Value::Object(m) = &v {
        for member in m.values() {
            all(member);
        }
    }
});
