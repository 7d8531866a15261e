//! Gateway routes: exact paths (`/hello`) and prefix wildcards (`/api/*`).
//! An exact route beats a wildcard; among wildcards the longest prefix wins.
//! Two resources conflict only when they claim the very same pattern.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Route {
    /// Matches exactly this path.
    Exact(String),
    /// Matches this prefix itself and everything below it (`/api/*` is
    /// stored as `/api`; `/*` as the empty prefix).
    Prefix(String),
}

impl Route {
    /// Parses `/path` or `/prefix/*`.
    pub fn parse(text: &str) -> Result<Route, String> {
        if !text.starts_with('/') {
            return Err(format!("route `{text}` must start with `/`"));
        }
        if text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!("route `{text}` must not contain spaces"));
        }
        if text.contains('?') || text.contains('#') {
            return Err(format!("route `{text}` must be a path without `?` or `#`"));
        }
        if let Some(prefix) = text.strip_suffix("/*") {
            if prefix.contains('*') {
                return Err(format!(
                    "route `{text}` may only use `*` as its last segment, e.g. \"/api/*\""
                ));
            }
            return Ok(Route::Prefix(prefix.to_string()));
        }
        if text.contains('*') {
            return Err(format!(
                "route `{text}` may only use `*` as its last segment, e.g. \"/api/*\""
            ));
        }
        Ok(Route::Exact(text.to_string()))
    }

    /// Whether `path` (without query) falls under this route.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Route::Exact(p) => p == path,
            Route::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (path.len() == p.len() || path.as_bytes()[p.len()] == b'/')
            }
        }
    }
}

impl TryFrom<String> for Route {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Route::parse(&s)
    }
}

impl From<Route> for String {
    fn from(r: Route) -> String {
        r.to_string()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Exact(p) => f.write_str(p),
            Route::Prefix(p) => write!(f, "{p}/*"),
        }
    }
}

/// A table of routes to targets of type `T`, answering "who serves this path".
#[derive(Debug, Clone)]
pub struct RouteTable<T> {
    exact: std::collections::HashMap<String, T>,
    /// Longest prefix first.
    prefixes: Vec<(String, T)>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        Self {
            exact: Default::default(),
            prefixes: Vec::new(),
        }
    }
}

impl<T: Clone> RouteTable<T> {
    /// Builds a table; later duplicates are ignored (conflicts are refused at plan time).
    pub fn new(routes: impl IntoIterator<Item = (Route, T)>) -> Self {
        let mut table = Self::default();
        for (route, target) in routes {
            match route {
                Route::Exact(p) => {
                    table.exact.entry(p).or_insert(target);
                }
                Route::Prefix(p) => {
                    if !table.prefixes.iter().any(|(q, _)| *q == p) {
                        table.prefixes.push((p, target));
                    }
                }
            }
        }
        table.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        table
    }

    /// The target serving `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<&T> {
        if let Some(t) = self.exact.get(path) {
            return Some(t);
        }
        self.prefixes
            .iter()
            .find(|(p, _)| Route::Prefix(p.clone()).matches(path) || p.is_empty())
            .map(|(_, t)| t)
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(Route::parse("/a").unwrap(), Route::Exact("/a".into()));
        assert_eq!(Route::parse("/a/*").unwrap(), Route::Prefix("/a".into()));
        assert_eq!(Route::parse("/*").unwrap(), Route::Prefix("".into()));
        assert_eq!(Route::parse("/a/*").unwrap().to_string(), "/a/*");
        assert!(Route::parse("a").is_err());
        assert!(Route::parse("/a*").is_err());
        assert!(Route::parse("/*/b").is_err());
        assert!(Route::parse("/a b").is_err());
    }

    #[test]
    fn exact_beats_prefix_and_longest_prefix_wins() {
        let table = RouteTable::new([
            (Route::parse("/*").unwrap(), "root"),
            (Route::parse("/api/*").unwrap(), "api"),
            (Route::parse("/api/v2/*").unwrap(), "v2"),
            (Route::parse("/api/health").unwrap(), "health"),
        ]);
        assert_eq!(table.lookup("/api/health"), Some(&"health"));
        assert_eq!(table.lookup("/api/v2/x"), Some(&"v2"));
        assert_eq!(table.lookup("/api"), Some(&"api"));
        assert_eq!(table.lookup("/apix"), Some(&"root"));
        assert_eq!(table.lookup("/"), Some(&"root"));
        let only_api = RouteTable::new([(Route::parse("/api/*").unwrap(), 1)]);
        assert_eq!(only_api.lookup("/apix"), None);
        assert_eq!(only_api.lookup("/api/a/b"), Some(&1));
    }
}
