//! Per-account request counters served at `GET /sim/stats`: total requests, by route
//! template (`GET /api/v2/tickets/{id}`), by authenticated user, throttled, faulted.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Live counters (inside the account lock; keys are `METHOD /route/{template}`).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub by_endpoint: HashMap<String, u64>,
    pub by_user: HashMap<String, u64>,
    pub throttled: u64,
    pub faults: u64,
    pub file_downloads: u64,
    pub file_downloads_with_credentials: u64,
}

/// What `GET /sim/stats` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub by_endpoint: BTreeMap<String, u64>,
    pub by_user: BTreeMap<String, u64>,
    pub throttled: u64,
    pub faults: u64,
    /// Downloads the file host served (what `content_url` redirects to).
    #[serde(default)]
    pub file_downloads: u64,
    /// Of those, requests that carried an `Authorization` header: a client that forwards
    /// the account's credentials to another host on a redirect.
    #[serde(default)]
    pub file_downloads_with_credentials: u64,
}

impl Stats {
    pub fn count(&mut self, endpoint: &str) {
        self.requests += 1;
        match self.by_endpoint.get_mut(endpoint) {
            Some(n) => *n += 1,
            None => {
                self.by_endpoint.insert(endpoint.to_owned(), 1);
            }
        }
    }

    pub fn count_user(&mut self, email: &str) {
        if let Some(n) = self.by_user.get_mut(email) {
            *n += 1;
        } else {
            self.by_user.insert(email.to_owned(), 1);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests,
            by_endpoint: self
                .by_endpoint
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            by_user: self.by_user.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            throttled: self.throttled,
            faults: self.faults,
            file_downloads: self.file_downloads,
            file_downloads_with_credentials: self.file_downloads_with_credentials,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_endpoint_and_user() {
        let mut s = Stats::default();
        s.count("GET /api/v2/tickets/{id}");
        s.count("GET /api/v2/tickets/{id}");
        s.count_user("a@x");
        s.count_user("a@x");
        let snap = s.snapshot();
        assert_eq!(snap.requests, 2);
        assert_eq!(snap.by_endpoint["GET /api/v2/tickets/{id}"], 2);
        assert_eq!(snap.by_user["a@x"], 2);
        let json = serde_json::to_value(&snap).unwrap();
        assert!(json.get("throttled").is_some() && json.get("faults").is_some());
    }
}
