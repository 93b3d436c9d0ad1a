//! Agreement states at start and on reload: derived by the pure `agreement::derive` from
//! the configuration and the stored history; each transition stored and audited; then, at
//! every start and reload (an idempotent pass, so a crash in between is repaired), links
//! of agreements no longer accepted orphaned and link directions upgraded or downgraded.
//! Consent is also checked at every write (`Engine::consents`), so nothing crosses in the
//! moment between a state changing and its links following.

use std::collections::{BTreeMap, HashMap};

use crate::agreement::{self, State, Stored};
use crate::link::{Direction, Flow};
use crate::orphan::Reason;
use crate::store::{AgreementRecord, AuditKind, LinkState, NewAudit};

use super::{Engine, EngineError};

/// How long a start or reload waits, in all, for Zendesk to name the newest comment of
/// the mirrors whose links turn two-way (see `apply_agreements`).
const UPGRADE_READ_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Engine {
    pub(crate) async fn apply_agreements(&self) -> Result<(), EngineError> {
        let config = self.config();
        let stored: BTreeMap<String, Stored> = self
            .store()
            .agreements()?
            .into_iter()
            .map(|(name, r)| {
                let s = Stored {
                    name: name.clone(),
                    from: r.from,
                    to: r.to,
                    state: r.state,
                    since: r.since,
                    inactive_by: r.inactive_by,
                };
                (name, s)
            })
            .collect();
        let now = crate::clock::now();
        let derived = agreement::derive(&config.offers(), &stored, now);
        self.store().transaction(|tx| {
            for d in derived.iter().filter(|d| !d.transitions.is_empty()) {
                for t in &d.transitions {
                    tx.append_audit(NewAudit {
                        at: now,
                        kind: AuditKind::Agreement,
                        subject: d.name.clone(),
                        detail: format!(
                            "agreement {} {} {}: {}",
                            d.name,
                            t.to,
                            now.strftime("%Y-%m-%d"),
                            t.cause
                        ),
                    })?;
                    tx.set_agreement_state(
                        &d.name,
                        &AgreementRecord {
                            state: t.to,
                            since: now,
                            cause: t.cause.clone(),
                            from: d.from.clone(),
                            to: d.to.clone(),
                            inactive_by: if t.to == State::Inactive {
                                d.inactive_by
                            } else {
                                None
                            },
                        },
                    )?;
                }
            }
            Ok(())
        })?;
        for d in derived
            .iter()
            .flat_map(|d| d.transitions.iter().map(move |t| (d, t)))
        {
            tracing::info!(agreement = %d.0.name, state = %d.1.to, cause = %d.1.cause, "agreement transition");
        }
        // From the new states to the end of the walk below, no share stores a link
        // (`Engine::with_consent`): one that checked consent before is in the walk.
        let gate = self
            .shared
            .consent_gate
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *self
            .shared
            .states
            .write()
            .unwrap_or_else(|e| e.into_inner()) = derived
            .iter()
            .map(|d| (d.name.clone(), d.clone()))
            .collect();

        // Links follow their agreements, at every start and reload whether or not a state
        // changed now: a crash after the transitions were committed and before their
        // links were orphaned is repaired by the next pass (idempotent). One walk over
        // the links keeps only those with something to do (memory stays flat with 100k
        // links): the orphaned by their agreement and those whose direction changed.
        let causes: HashMap<String, String> = self
            .store()
            .agreements()?
            .into_iter()
            .map(|(name, r)| (name, r.cause))
            .collect();
        let mut todo = Vec::new();
        // Per agreement: whether its links end, and the direction they should have.
        let mut verdicts: HashMap<String, (bool, Option<Direction>)> = HashMap::new();
        self.store().for_each_link(|link| {
            if link.state == LinkState::Orphaned {
                return Ok(());
            }
            let (ends, direction) = *verdicts.entry(link.agreement.clone()).or_insert_with(|| {
                let state = self.state_of(&link.agreement).unwrap_or(State::Inactive);
                (
                    Reason::for_agreement(state).is_some(),
                    config
                        .agreement(&link.agreement)
                        .map(|a| self.direction_for(a)),
                )
            });
            if ends || direction.is_some_and(|d| d != link.direction) {
                todo.push(link);
            }
            Ok(())
        })?;
        drop(gate);
        let mut owed_notes = false;
        let read_until = tokio::time::Instant::now() + UPGRADE_READ_WAIT;
        for link in &todo {
            let state = self.state_of(&link.agreement).unwrap_or(State::Inactive);
            if let Some(reason) = Reason::for_agreement(state) {
                let detail = derived
                    .iter()
                    .find(|d| d.name == link.agreement)
                    .and_then(|d| d.transitions.last().map(|t| t.cause.clone()))
                    .or_else(|| causes.get(&link.agreement).cloned())
                    .unwrap_or_default();
                // Recorded now; the mirror's tag and note are written in the background,
                // so neither a start nor a reload waits on Zendesk.
                self.orphan_record(link, reason, &detail)?;
                owed_notes = true;
                continue;
            }
            let Some(agreement) = config.agreement(&link.agreement) else {
                continue;
            };
            let direction = self.direction_for(agreement);
            if direction != link.direction {
                // Not retroactive (DESIGN §2: "from then on"): replies written on the
                // mirror before now never cross. The mirror's newest comment marks where,
                // if Zendesk names it before `UPGRADE_READ_WAIT` is up; else the time
                // does, and Zendesk's times being to the second, a reply in this second
                // stays on the mirror. A reload never waits longer on Zendesk: a
                // withdrawal written after it takes effect at once (found by the
                // deterministic simulation, seed 1402: a read held 60 s by slow answers
                // kept the next reload, a withdrawal, from applying).
                let newest = match (direction, link.target_ticket) {
                    (Direction::TwoWay, Some(mirror)) => {
                        let after = self
                            .store()
                            .watermark(link.id, Flow::TargetToSource)?
                            .last_source_comment
                            .unwrap_or(0);
                        match self.account(&link.target_account) {
                            // A task of its own: a read that panics (a bug) costs only
                            // the read, not the start or reload around it.
                            Ok(to) => {
                                let read = crate::tasks::spawn(async move {
                                    to.client.comments_after(mirror, after).await
                                });
                                match tokio::time::timeout_at(read_until, read).await {
                                    Ok(Ok(Ok(c))) => {
                                        Some(c.iter().map(|c| c.id).max().unwrap_or(after))
                                    }
                                    Ok(Err(e)) => {
                                        tracing::error!(link = link.id, error = %e, "reading the mirror's newest comment panicked (a bug); the time marks where replies start");
                                        None
                                    }
                                    Ok(Ok(Err(_))) | Err(_) => None,
                                }
                            }
                            Err(_) => None,
                        }
                    }
                    _ => None,
                };
                // Counted first: a step already under way writes no reply from here on.
                self.direction_changing();
                self.store().transaction(|tx| {
                    tx.set_link_direction(link.id, direction)?;
                    if direction == Direction::TwoWay {
                        let mut m = tx.view().watermark(link.id, Flow::TargetToSource)?;
                        let mut b = Self::baseline(&m);
                        match newest {
                            Some(id) => {
                                m.last_source_comment = Some(id);
                                b.not_before = None;
                            }
                            None => b.not_before = Some(now),
                        }
                        b.rebase = true;
                        m.snapshot = serde_json::to_value(&b).ok();
                        tx.set_watermark(link.id, Flow::TargetToSource, &m)?;
                    }
                    Ok(())
                })?;
                tracing::info!(
                    link = link.id,
                    direction = direction.as_str(),
                    "link direction changed"
                );
                if direction == Direction::OneWay {
                    self.recover_stranded(link.id, &[Flow::TargetToSource]);
                }
            }
        }
        if owed_notes {
            let engine = self.clone();
            crate::tasks::spawn(async move { engine.write_owed_notes().await });
        }
        Ok(())
    }
}
