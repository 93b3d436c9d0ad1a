//! Zendesk's two list paginations, as pure functions over sorted keys:
//! cursor (`page[size]` ≤ 100, `page[after]`, `page[before]`; answer `meta` + `links`) and
//! offset (`page`, `per_page` ≤ 100; answer `next_page`, `previous_page`, `count`).
//! Cursors are opaque strings (base64url of the item key).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::sim::error::ApiError;
use crate::zendesk::models::{CursorLinks, CursorMeta};

/// Largest `page[size]` / `per_page` Zendesk accepts on lists.
pub const MAX_PAGE_SIZE: usize = 100;

/// The slice of a sorted list one cursor request answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorPage {
    pub start: usize,
    pub end: usize,
    /// More items in the direction of travel.
    pub has_more: bool,
}

/// Opaque cursor for an item key.
pub fn encode_cursor(key: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("k{key}"))
}

/// Inverse of [`encode_cursor`]; `None` for anything it did not produce.
pub fn decode_cursor(s: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    let text = std::str::from_utf8(&raw).ok()?;
    text.strip_prefix('k')?.parse().ok()
}

/// Picks the page of `keys` (already in display order: ascending when `ascending`) after
/// or before a cursor key.
pub fn cursor_page(
    keys: &[u64],
    ascending: bool,
    size: usize,
    after: Option<u64>,
    before: Option<u64>,
) -> CursorPage {
    let size = size.max(1);
    let len = keys.len();
    if let Some(c) = before {
        let end = if ascending {
            keys.partition_point(|k| *k < c)
        } else {
            keys.partition_point(|k| *k > c)
        };
        let start = end.saturating_sub(size);
        return CursorPage {
            start,
            end,
            has_more: start > 0,
        };
    }
    let start = match after {
        Some(c) if ascending => keys.partition_point(|k| *k <= c),
        Some(c) => keys.partition_point(|k| *k >= c),
        None => 0,
    };
    let end = (start + size).min(len);
    CursorPage {
        start,
        end,
        has_more: end < len,
    }
}

/// The cursor parameters of a list request, if it asked for cursor pagination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorParams {
    pub size: usize,
    pub after: Option<u64>,
    pub before: Option<u64>,
}

/// Reads `page[size]`, `page[after]`, `page[before]`; `Ok(None)` when none is given (the
/// list then uses offset pagination).
pub(crate) fn cursor_params(query: &[(String, String)]) -> Result<Option<CursorParams>, ApiError> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let size = get("page[size]");
    let after = get("page[after]");
    let before = get("page[before]");
    if size.is_none() && after.is_none() && before.is_none() {
        return Ok(None);
    }
    let size = match size {
        None => MAX_PAGE_SIZE,
        Some(s) => {
            let n: usize = s.parse().map_err(|_| {
                ApiError::bad_param(
                    "InvalidPaginationParameter",
                    "page[size] must be a positive integer",
                )
            })?;
            if n == 0 {
                return Err(ApiError::bad_param(
                    "InvalidPaginationParameter",
                    "page[size] must be a positive integer",
                ));
            }
            if n > MAX_PAGE_SIZE {
                return Err(ApiError::bad_param(
                    "InvalidPaginationParameter",
                    "page[size] is greater than the maximum allowed: 100",
                ));
            }
            n
        }
    };
    let decode = |v: Option<&str>| -> Result<Option<u64>, ApiError> {
        match v {
            None | Some("") => Ok(None),
            Some(c) => decode_cursor(c).map(Some).ok_or_else(|| {
                ApiError::bad_param("InvalidPaginationParameter", "cursor is invalid")
            }),
        }
    };
    Ok(Some(CursorParams {
        size,
        after: decode(after)?,
        before: decode(before)?,
    }))
}

/// `meta` and `links` for a cursor page. `url_base` is the list URL with any kept query
/// parameters, ending in `?` or `&`.
pub fn cursor_meta(
    keys: &[u64],
    page: CursorPage,
    size: usize,
    backwards: bool,
    url_base: &str,
) -> (CursorMeta, CursorLinks) {
    let items = &keys[page.start..page.end];
    let after = items.last().map(|k| encode_cursor(*k));
    let before = items.first().map(|k| encode_cursor(*k));
    let more_after = if backwards {
        page.end < keys.len()
    } else {
        page.has_more
    };
    let more_before = page.start > 0;
    let link = |dir: &str, c: &Option<String>| {
        c.as_ref()
            .map(|c| format!("{url_base}page%5B{dir}%5D={c}&page%5Bsize%5D={size}"))
    };
    let links = CursorLinks {
        next: if more_after {
            link("after", &after)
        } else {
            None
        },
        prev: if more_before {
            link("before", &before)
        } else {
            None
        },
    };
    let meta = CursorMeta {
        has_more: if backwards { more_before } else { more_after },
        after_cursor: after,
        before_cursor: before,
    };
    (meta, links)
}

/// An offset page: `[start, end)` of `total`, and the neighbours' page numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    pub start: usize,
    pub end: usize,
    pub page: usize,
    pub per_page: usize,
    pub next: Option<usize>,
    pub previous: Option<usize>,
}

/// Reads `page` (1-based) and `per_page` (≤ 100, default 100) and slices `total`.
pub(crate) fn offset_page(
    query: &[(String, String)],
    total: usize,
) -> Result<OffsetPage, ApiError> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let page = match get("page") {
        None | Some("") => 1,
        Some(p) => p.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            ApiError::bad_param(
                "InvalidPaginationParameter",
                "page must be a positive integer",
            )
        })?,
    };
    let per_page = match get("per_page") {
        None | Some("") => MAX_PAGE_SIZE,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .map(|p| p.min(MAX_PAGE_SIZE))
            .ok_or_else(|| {
                ApiError::bad_param(
                    "InvalidPaginationParameter",
                    "per_page must be a positive integer",
                )
            })?,
    };
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = start.saturating_add(per_page).min(total);
    Ok(OffsetPage {
        start,
        end,
        page,
        per_page,
        next: (end < total).then_some(page + 1),
        previous: (page > 1).then_some(page - 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn cursor_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("garbage!"), None);
        assert_eq!(decode_cursor(""), None);
    }

    #[test]
    fn cursor_pages_walk_forward_and_back() {
        let keys: Vec<u64> = (1..=7).collect();
        let p1 = cursor_page(&keys, true, 3, None, None);
        assert_eq!((p1.start, p1.end, p1.has_more), (0, 3, true));
        let p2 = cursor_page(&keys, true, 3, Some(3), None);
        assert_eq!((p2.start, p2.end, p2.has_more), (3, 6, true));
        let p3 = cursor_page(&keys, true, 3, Some(6), None);
        assert_eq!((p3.start, p3.end, p3.has_more), (6, 7, false));
        let back = cursor_page(&keys, true, 3, None, Some(4));
        assert_eq!((back.start, back.end, back.has_more), (0, 3, false));
        // A deleted cursor item still positions correctly.
        let gap = [1, 2, 5, 9];
        assert_eq!(cursor_page(&gap, true, 2, Some(3), None).start, 2);
        // Descending display order.
        let desc = [9, 5, 2, 1];
        let d = cursor_page(&desc, false, 2, Some(5), None);
        assert_eq!((d.start, d.end, d.has_more), (2, 4, false));
    }

    #[test]
    fn cursor_meta_links() {
        let keys: Vec<u64> = (1..=5).collect();
        let page = cursor_page(&keys, true, 2, None, None);
        let (meta, links) = cursor_meta(&keys, page, 2, false, "http://h/api/v2/tickets.json?");
        assert!(meta.has_more);
        assert_eq!(
            meta.after_cursor.as_deref(),
            Some(encode_cursor(2).as_str())
        );
        assert!(links.next.unwrap().contains("page%5Bafter%5D="));
        assert!(links.prev.is_none());
        let last = cursor_page(&keys, true, 2, Some(4), None);
        let (meta, links) = cursor_meta(&keys, last, 2, false, "u?");
        assert!(!meta.has_more);
        assert!(links.next.is_none());
        assert!(links.prev.is_some());
    }

    #[test]
    fn cursor_params_validate() {
        assert_eq!(cursor_params(&q(&[])).unwrap(), None);
        let p = cursor_params(&q(&[("page[size]", "2")])).unwrap().unwrap();
        assert_eq!(p.size, 2);
        assert!(cursor_params(&q(&[("page[size]", "101")])).is_err());
        assert!(cursor_params(&q(&[("page[after]", "zz")])).is_err());
        let c = encode_cursor(9);
        let p = cursor_params(&q(&[("page[after]", &c)])).unwrap().unwrap();
        assert_eq!((p.size, p.after), (100, Some(9)));
    }

    proptest::proptest! {
        /// Following `after` cursors visits every key once, in order; so does walking
        /// back with `before` from the end; for ascending and descending lists.
        #[test]
        fn cursor_walks_cover_every_key_once(
            mut keys in proptest::collection::btree_set(0u64..10_000, 0..200),
            size in 1usize..=100,
            ascending in proptest::bool::ANY,
        ) {
            let mut keys: Vec<u64> = std::mem::take(&mut keys).into_iter().collect();
            if !ascending {
                keys.reverse();
            }
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let p = cursor_page(&keys, ascending, size, after, None);
                seen.extend_from_slice(&keys[p.start..p.end]);
                if !p.has_more {
                    break;
                }
                after = keys[..p.end].last().copied();
            }
            proptest::prop_assert_eq!(&seen, &keys);
            let mut back: Vec<u64> = Vec::new();
            let mut before = keys.last().map(|k| if ascending { k + 1 } else { k.wrapping_sub(1) });
            if !ascending && keys.last() == Some(&0) {
                // No key below 0 to stand for "past the end": start from 0 itself.
                before = Some(0);
                back.push(0);
            }
            while let Some(c) = before {
                let p = cursor_page(&keys, ascending, size, None, Some(c));
                let mut chunk = keys[p.start..p.end].to_vec();
                chunk.extend(back);
                back = chunk;
                if !p.has_more {
                    break;
                }
                before = keys.get(p.start).copied();
            }
            proptest::prop_assert_eq!(&back, &keys);
        }

        /// Offset pages tile the list exactly.
        #[test]
        fn offset_pages_tile(total in 0usize..500, per in 1usize..=100) {
            let mut covered = 0;
            let mut page = 1;
            loop {
                let q = vec![("page".to_owned(), page.to_string()), ("per_page".to_owned(), per.to_string())];
                let p = offset_page(&q, total).unwrap();
                proptest::prop_assert_eq!(p.start, covered);
                covered = p.end;
                match p.next { Some(n) => page = n, None => break }
            }
            proptest::prop_assert_eq!(covered, total);
        }
    }

    #[test]
    fn offset_pages() {
        let p = offset_page(&q(&[("per_page", "2"), ("page", "2")]), 5).unwrap();
        assert_eq!(
            (p.start, p.end, p.next, p.previous),
            (2, 4, Some(3), Some(1))
        );
        let p = offset_page(&q(&[("per_page", "2"), ("page", "3")]), 5).unwrap();
        assert_eq!((p.start, p.end, p.next), (4, 5, None));
        let p = offset_page(&q(&[]), 0).unwrap();
        assert_eq!((p.start, p.end, p.next, p.previous), (0, 0, None, None));
        assert!(offset_page(&q(&[("page", "0")]), 5).is_err());
    }
}

/// How a list answer ends: cursor `meta`/`links`, offset `next_page`/`previous_page`/
/// `count`, or nothing.
#[derive(Debug)]
pub(crate) enum Tail {
    Cursor(CursorMeta, CursorLinks),
    Offset {
        next: Option<String>,
        previous: Option<String>,
        count: usize,
    },
}

/// `{"<key>": [items…], …tail}`.
#[derive(Debug)]
pub(crate) struct ListBody<T> {
    pub key: &'static str,
    pub items: Vec<T>,
    pub tail: Tail,
}

impl<T: serde::Serialize> serde::Serialize for ListBody<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.key, &self.items)?;
        match &self.tail {
            Tail::Cursor(meta, links) => {
                m.serialize_entry("meta", meta)?;
                m.serialize_entry("links", links)?;
            }
            Tail::Offset {
                next,
                previous,
                count,
            } => {
                m.serialize_entry("next_page", next)?;
                m.serialize_entry("previous_page", previous)?;
                m.serialize_entry("count", count)?;
            }
        }
        m.end()
    }
}

/// Answers a list request over `keys` (display order), with cursor pagination when the
/// request has `page[…]` parameters and offset pagination otherwise. `url` is the list
/// URL including kept query parameters and ending in `?` or `&`.
pub(crate) fn list<T: serde::Serialize>(
    query: &[(String, String)],
    key: &'static str,
    keys: &[u64],
    ascending: bool,
    url: &str,
    render: impl Fn(usize) -> T,
) -> Result<crate::sim::http::Resp, ApiError> {
    let body = match cursor_params(query)? {
        Some(p) => {
            let page = cursor_page(keys, ascending, p.size, p.after, p.before);
            let (meta, links) = cursor_meta(keys, page, p.size, p.before.is_some(), url);
            ListBody {
                key,
                items: (page.start..page.end).map(&render).collect(),
                tail: Tail::Cursor(meta, links),
            }
        }
        None => {
            let page = offset_page(query, keys.len())?;
            let link = |n: usize| format!("{url}page={n}&per_page={}", page.per_page);
            ListBody {
                key,
                items: (page.start..page.end).map(&render).collect(),
                tail: Tail::Offset {
                    next: page.next.map(link),
                    previous: page.previous.map(link),
                    count: keys.len(),
                },
            }
        }
    };
    Ok(crate::sim::http::Resp::ok(&body))
}
