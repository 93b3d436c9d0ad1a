//! The I/O around `crate::system`: the receiving account's directory (fields, groups,
//! forms) read and kept for a few minutes, a planned update screened of what the
//! receiver cannot take, and the link's mismatches recorded, counted and logged (ids,
//! never values). The decisions are `system::mismatches` and `system::screen`.
//!
//! Must not: decide what crosses (the planner does), or stop the rest of an update.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::metrics::MismatchLabels;
use crate::plan::{Baseline, SideNow, Write};
use crate::store::Link;
use crate::system::{self, Directory, FieldShape, Mismatch, MismatchKind, Needs};
use crate::zendesk::client::ZendeskError;

use super::{Account, Engine, EngineError};

/// How long a directory read stands for the account (a field, group or form created
/// there is seen within this time).
pub(crate) const DIRECTORY_TTL: Duration = Duration::from_secs(300);

/// One account's directory as last read.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    at: Timestamp,
    needs: Needs,
    directory: Arc<Directory>,
}

impl Account {
    /// The parts of this account's directory `needs` asks for, read at most every
    /// [`DIRECTORY_TTL`].
    pub(crate) async fn directory(&self, needs: Needs) -> Result<Arc<Directory>, ZendeskError> {
        let now = crate::clock::now();
        let cached = self
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut dir = Directory::default();
        let mut have = Needs::default();
        if let Some(c) = cached
            && now.duration_since(c.at).unsigned_abs() < DIRECTORY_TTL
        {
            let covers = (!needs.fields || c.needs.fields)
                && (!needs.groups || c.needs.groups)
                && (!needs.forms || c.needs.forms);
            if covers {
                return Ok(c.directory);
            }
            dir = (*c.directory).clone();
            have = c.needs;
        }
        if needs.fields && !have.fields {
            let fields = self.client.list_ticket_fields().await?;
            dir.fields = Some(
                fields
                    .into_iter()
                    .filter(|f| f.active)
                    .map(|f| {
                        let shape = FieldShape {
                            kind: f.field_type,
                            options: f
                                .custom_field_options
                                .into_iter()
                                .map(|o| o.value)
                                .collect(),
                        };
                        (f.id, shape)
                    })
                    .collect::<BTreeMap<_, _>>(),
            );
            have.fields = true;
        }
        if needs.groups && !have.groups {
            let groups = self.client.list_groups().await?;
            dir.groups = Some(
                groups
                    .into_iter()
                    .filter(|g| !g.deleted)
                    .map(|g| g.id)
                    .collect::<BTreeSet<_>>(),
            );
            have.groups = true;
        }
        if needs.forms && !have.forms {
            let forms = self.client.list_ticket_forms().await?;
            dir.forms = Some(
                forms
                    .into_iter()
                    .filter(|f| f.active)
                    .map(|f| f.id)
                    .collect::<BTreeSet<_>>(),
            );
            have.forms = true;
        }
        let directory = Arc::new(dir);
        *self.directory.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: now,
            needs: have,
            directory: directory.clone(),
        });
        Ok(directory)
    }
}

impl Engine {
    /// Judges the sender's ticket as read (`now`) against the receiver's directory and
    /// takes out of `write` what the receiver cannot take. Nothing is read, and nothing
    /// found, when the rules map nothing that needs judging.
    pub(crate) async fn judge(
        &self,
        rules: &AgreementConfig,
        flow: Flow,
        receiver: &Account,
        now: &SideNow,
        write: Option<&mut Write>,
    ) -> Result<Vec<Mismatch>, EngineError> {
        let needs = Needs::of(rules);
        if !needs.any() {
            return Ok(Vec::new());
        }
        let dir = receiver.directory(needs).await?;
        let found = system::mismatches(rules, flow, &now.custom_fields, &now.system, &dir);
        if let Some(w) = write {
            system::screen(&mut w.fields, &mut w.system, &found);
        }
        Ok(found)
    }

    /// Records `found` as the mismatches of `flow` on `link` (replacing that flow's
    /// earlier ones); new ones are counted and logged with ids only.
    pub(crate) fn record_mismatches(
        &self,
        link: &Link,
        flow: Flow,
        agreement: &str,
        found: &[Mismatch],
    ) -> Result<(), EngineError> {
        let Some(stored) = self.store().link(link.id)? else {
            return Ok(());
        };
        let mut next: Vec<Mismatch> = stored
            .mismatches
            .iter()
            .filter(|m| m.flow != flow)
            .cloned()
            .chain(found.iter().cloned())
            .collect();
        next.sort();
        if next == stored.mismatches {
            return Ok(());
        }
        self.store()
            .update_link(link.id, |l| l.mismatches = next.clone())?;
        for m in found.iter().filter(|m| !stored.mismatches.contains(m)) {
            self.metrics()
                .mismatches
                .get_or_create(&MismatchLabels {
                    agreement: agreement.to_owned(),
                    kind: m.kind.as_str().to_owned(),
                })
                .inc();
            tracing::warn!(
                link = link.id,
                flow = flow.as_str(),
                agreement,
                kind = m.kind.as_str(),
                sender_id = m.sender_id,
                receiver_id = m.receiver_id,
                fix = m.kind.fix(),
                "not crossed: the receiver cannot take it (the rest of the update crossed)"
            );
        }
        self.refresh_gauges();
        Ok(())
    }
}

/// The sender's baseline after a step that held back `found`: those values keep their
/// earlier baseline, so they cross at a later step once the receiver can take them
/// (a mapping added, an option, field, group or form created there).
pub(crate) fn hold_back(new: &mut Baseline, old: &Baseline, found: &[Mismatch]) {
    for m in found {
        match m.kind {
            MismatchKind::UnmappedValue
            | MismatchKind::MissingField
            | MismatchKind::TypeMismatch => match old.fields.get(&m.sender_id) {
                Some(v) => {
                    new.fields.insert(m.sender_id, v.clone());
                }
                None => {
                    new.fields.remove(&m.sender_id);
                }
            },
            MismatchKind::UnmappedGroup | MismatchKind::MissingGroup => {
                if let Some(s) = new.system.as_mut() {
                    s.group_id = old.system.as_ref().and_then(|o| o.group_id);
                }
            }
            MismatchKind::UnmappedForm | MismatchKind::MissingForm => {
                if let Some(s) = new.system.as_mut() {
                    s.form_id = old.system.as_ref().and_then(|o| o.form_id);
                }
            }
        }
    }
}
