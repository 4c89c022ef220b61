//! Model id → ordered upstreams.
//!
//! An upstream's `models` holds exact ids and prefix patterns ending in `*` (`meta/*`,
//! `meta/llama-3.1-*`, `*`). For one id, the upstreams that list it exactly come first,
//! then those whose pattern matches; within each group, configuration order. That order is
//! the failover order.

use std::fmt;

/// One entry of an upstream's `models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    /// This id only.
    Exact(String),
    /// Every id starting with this prefix (`""` for `*`).
    Prefix(String),
}

impl ModelPattern {
    /// Parses `meta/llama-3.1-8b-instruct`, `meta/*` or `*`.
    ///
    /// # Errors
    /// An empty entry, or a `*` anywhere but at the end.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an entry is empty".to_owned());
        }
        match s.find('*') {
            None => Ok(Self::Exact(s.to_owned())),
            Some(i) if i == s.len() - 1 => Ok(Self::Prefix(s[..i].to_owned())),
            Some(_) => Err(format!(
                "{s:?}: `*` is only allowed at the end (`org/*` or `*`)"
            )),
        }
    }

    /// Whether `id` is served by this entry.
    pub fn matches(&self, id: &str) -> bool {
        match self {
            Self::Exact(e) => e == id,
            Self::Prefix(p) => id.starts_with(p.as_str()),
        }
    }

    /// The exact id, for listing in `/v1/models`.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Self::Exact(e) => Some(e),
            Self::Prefix(_) => None,
        }
    }
}

impl fmt::Display for ModelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(e) => f.write_str(e),
            Self::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// Indexes (into `table`) of the upstreams serving `id`, in failover order: exact matches
/// first, then pattern matches, each group in configuration order.
pub fn order(table: &[Vec<ModelPattern>], id: &str) -> Vec<usize> {
    order_with(table, id, |_| false)
}

/// [`order`], where `listed(i)` also makes upstream `i` list `id` exactly (an id its own
/// model list names).
pub fn order_with(
    table: &[Vec<ModelPattern>],
    id: &str,
    listed: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let exact = |i: usize| table[i].iter().any(|p| p.exact() == Some(id)) || listed(i);
    let mut out: Vec<usize> = (0..table.len()).filter(|&i| exact(i)).collect();
    out.extend((0..table.len()).filter(|&i| !exact(i) && table[i].iter().any(|p| p.matches(id))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(entries: &[&[&str]]) -> Vec<Vec<ModelPattern>> {
        entries
            .iter()
            .map(|e| e.iter().map(|s| ModelPattern::parse(s).unwrap()).collect())
            .collect()
    }

    #[test]
    fn parse_and_match() {
        assert_eq!(
            ModelPattern::parse("meta/*").unwrap(),
            ModelPattern::Prefix("meta/".into())
        );
        assert_eq!(
            ModelPattern::parse("*").unwrap(),
            ModelPattern::Prefix(String::new())
        );
        assert!(ModelPattern::parse("*/x").is_err());
        assert!(ModelPattern::parse(" ").is_err());
        let p = ModelPattern::parse("meta/llama-3.1-*").unwrap();
        assert!(p.matches("meta/llama-3.1-8b-instruct"));
        assert!(!p.matches("meta/llama-3.3-70b-instruct"));
        assert!(ModelPattern::parse("*").unwrap().matches("anything"));
        assert!(!ModelPattern::parse("a/b").unwrap().matches("a/bc"));
        assert_eq!(ModelPattern::Prefix("meta/".into()).to_string(), "meta/*");
    }

    #[test]
    fn exact_ids_win_then_config_order() {
        let table = t(&[
            &["*"],
            &["meta/*"],
            &["meta/llama-3.1-8b-instruct"],
            &["mistralai/x"],
            &["meta/llama-3.1-8b-instruct", "meta/*"],
        ]);
        assert_eq!(
            order(&table, "meta/llama-3.1-8b-instruct"),
            vec![2, 4, 0, 1]
        );
        assert_eq!(order(&table, "meta/llama-3.3-70b-instruct"), vec![0, 1, 4]);
        assert_eq!(order(&table, "mistralai/x"), vec![3, 0]);
        assert_eq!(order(&table[1..], "google/gemma"), Vec::<usize>::new());
        // An id an upstream's own list names counts as exact.
        assert_eq!(order_with(&table, "mistralai/y", |i| i == 3), vec![3, 0]);
    }
}
