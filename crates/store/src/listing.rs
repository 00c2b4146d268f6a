//! What every list operation of the control plane filters and pages by: a name substring,
//! a creation-time window, the order and the page. The control handlers build one
//! [`ListFilter`] from the query string (`crates/server/src/control/paging.rs`); each
//! list query here adds its own filters (status, model) around it.

use time::OffsetDateTime;

use crate::{format_ts, StoreError};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Created strictly after / before.
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    /// Newest first.
    pub descending: bool,
    pub limit: u32,
    pub offset: u32,
}

impl ListFilter {
    /// `%substring%` for `lower(name) LIKE … ESCAPE '\'`: names may hold `_`, LIKE's
    /// one-character wildcard, so it is escaped (and `%` and `\` with it).
    pub(crate) fn like_pattern(&self) -> Option<String> {
        self.name_contains.as_ref().map(|s| {
            let escaped = s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        })
    }

    /// The creation-time window as stored text (after, before).
    pub(crate) fn window(&self) -> Result<(Option<String>, Option<String>), StoreError> {
        Ok((self.created_after.map(format_ts).transpose()?, self.created_before.map(format_ts).transpose()?))
    }

    /// LIMIT and OFFSET.
    pub(crate) fn page(&self) -> (i64, i64) {
        (i64::from(self.limit), i64::from(self.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        let f = ListFilter { name_contains: Some("A_b%c\\".into()), ..ListFilter::default() };
        assert_eq!(f.like_pattern().as_deref(), Some("%a\\_b\\%c\\\\%"));
        assert_eq!(ListFilter::default().like_pattern(), None);
    }
}
