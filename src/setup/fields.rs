//! `sharebridge fields ACCOUNT [--to ACCOUNT]`: an account's ticket fields as a table
//! (or JSON), or the suggested `[[agreements.fields]]` block between two accounts
//! ([`crate::fields::suggest`] and [`crate::fields::render`], pure).
//!
//! Reads `GET /api/v2/ticket_fields` (every page) and writes nothing.

use serde::Serialize;

use crate::fields::{FieldInfo, Suggestion, Unmatched};
use crate::zendesk::client::{ZendeskClient, ZendeskError};
use crate::zendesk::models::TicketField;

/// One field as `fields --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldView {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub active: bool,
    pub options: Vec<OptionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OptionView {
    pub name: String,
    pub value: String,
}

impl From<&TicketField> for FieldView {
    fn from(f: &TicketField) -> Self {
        FieldView {
            id: f.id,
            kind: f.field_type.clone(),
            title: f.title.clone(),
            active: f.active,
            options: f
                .custom_field_options
                .iter()
                .map(|o| OptionView {
                    name: o.name.clone(),
                    value: o.value.clone(),
                })
                .collect(),
        }
    }
}

impl From<&FieldView> for FieldInfo {
    fn from(f: &FieldView) -> Self {
        FieldInfo {
            id: f.id,
            kind: f.kind.clone(),
            title: f.title.clone(),
            active: f.active,
            options: f
                .options
                .iter()
                .map(|o| (o.name.clone(), o.value.clone()))
                .collect(),
        }
    }
}

/// Every ticket field of the account, in id order.
pub async fn list(client: &ZendeskClient) -> Result<Vec<FieldView>, ZendeskError> {
    let mut fields: Vec<FieldView> = client
        .list_ticket_fields()
        .await?
        .iter()
        .map(FieldView::from)
        .collect();
    fields.sort_by_key(|f| f.id);
    Ok(fields)
}

/// The table `fields ACCOUNT` prints. Pure.
pub fn table(fields: &[FieldView]) -> String {
    let mut out = format!(
        "{:<12} {:<12} {:<32} {}\n",
        "ID", "TYPE", "TITLE", "OPTIONS"
    );
    for f in fields {
        let title = if f.active {
            f.title.clone()
        } else {
            format!("{} (inactive)", f.title)
        };
        let options = f
            .options
            .iter()
            .map(|o| format!("{} = {}", o.name, o.value))
            .collect::<Vec<_>>()
            .join("; ");
        out.push_str(&format!(
            "{:<12} {:<12} {:<32} {}\n",
            f.id, f.kind, title, options
        ));
    }
    out
}

/// The suggestion as JSON: `{pairs: [{from, to, title, values, unmatched_options}],
/// unmatched: [{id, title, reason}]}`. Pure.
pub fn suggestion_json(s: &Suggestion) -> serde_json::Value {
    let pairs: Vec<serde_json::Value> = s
        .pairs
        .iter()
        .map(|p| {
            serde_json::json!({
                "from": p.from.id,
                "to": p.to.id,
                "title": p.from.title,
                "values": p.values,
                "unmatched_options": p.unmatched_options.iter()
                    .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let unmatched: Vec<serde_json::Value> = s
        .unmatched
        .iter()
        .map(|(f, why)| {
            let reason = match why {
                Unmatched::NoTitle => "no field with this title".to_owned(),
                Unmatched::OtherType { to } => {
                    format!("field {} has this title but type {}", to.id, to.kind)
                }
                Unmatched::Ambiguous { to } => format!(
                    "several fields have this title: {}",
                    to.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                ),
                Unmatched::Inactive => "inactive".to_owned(),
            };
            serde_json::json!({"id": f.id, "title": f.title, "reason": reason})
        })
        .collect();
    serde_json::json!({"pairs": pairs, "unmatched": unmatched})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_field_and_option() {
        let fields = vec![
            FieldView {
                id: 360001,
                kind: "tagger".into(),
                title: "Tier".into(),
                active: true,
                options: vec![OptionView {
                    name: "Gold".into(),
                    value: "tier_gold".into(),
                }],
            },
            FieldView {
                id: 360002,
                kind: "text".into(),
                title: "Old".into(),
                active: false,
                options: vec![],
            },
        ];
        let t = table(&fields);
        assert!(
            t.contains("360001") && t.contains("Gold = tier_gold"),
            "{t}"
        );
        assert!(t.contains("Old (inactive)"), "{t}");
        let info = FieldInfo::from(&fields[0]);
        assert_eq!(
            info.options,
            vec![("Gold".to_owned(), "tier_gold".to_owned())]
        );
    }
}
