//! Splitting a table into ctid block ranges that workers copy in parallel.
//!
//! A split table of `P` pages in `n` chunks gives, for page bounds `b0 < b1 < …`:
//!
//! ```text
//! chunk 0      WHERE ctid <  '(b1,0)'
//! chunk i      WHERE ctid OPERATOR(pg_catalog.>=) '(bi,0)' AND ctid OPERATOR(pg_catalog.<) '(bi+1,0)'
//! chunk n-1    WHERE ctid OPERATOR(pg_catalog.>=) '(bn-1,0)'          -- open-ended: pages added since
//! ```
//!
//! so every tuple falls in exactly one chunk, whatever the table grew to since its
//! size was read (PostgreSQL 14+ runs these as TID range scans).

use serde::{Deserialize, Serialize};

/// One chunk of a table: a half-open range of heap pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRange {
    /// Position of the chunk in its table, from 0.
    pub index: u32,
    /// First page; `None` for the first chunk (no lower bound).
    pub start_page: Option<u64>,
    /// Page after the last; `None` for the last chunk (no upper bound).
    pub end_page: Option<u64>,
}

impl ChunkRange {
    /// The chunk that is the whole table.
    pub const WHOLE: ChunkRange = ChunkRange {
        index: 0,
        start_page: None,
        end_page: None,
    };

    /// Whether this chunk covers the whole table (the table is not split).
    pub fn is_whole(&self) -> bool {
        self.start_page.is_none() && self.end_page.is_none()
    }

    /// The `WHERE` condition selecting this chunk's rows, if any.
    pub fn where_clause(&self) -> Option<String> {
        match (self.start_page, self.end_page) {
            (None, None) => None,
            (Some(s), None) => Some(format!("ctid OPERATOR(pg_catalog.>=) '({s},0)'::pg_catalog.tid")),
            (None, Some(e)) => Some(format!("ctid OPERATOR(pg_catalog.<) '({e},0)'::pg_catalog.tid")),
            (Some(s), Some(e)) => Some(format!(
                "ctid OPERATOR(pg_catalog.>=) '({s},0)'::pg_catalog.tid AND ctid OPERATOR(pg_catalog.<) '({e},0)'::pg_catalog.tid"
            )),
        }
    }
}

/// Splits a table of `bytes` bytes (main fork) into chunks of about
/// `split_larger_than` bytes each; a table no larger than that, or a threshold of
/// 0, stays whole.
pub fn plan_chunks(bytes: u64, block_size: u64, split_larger_than: u64) -> Vec<ChunkRange> {
    if split_larger_than == 0 || bytes <= split_larger_than || block_size == 0 {
        return vec![ChunkRange::WHOLE];
    }
    let pages = bytes.div_ceil(block_size);
    let wanted = bytes.div_ceil(split_larger_than);
    let n = wanted.min(pages).max(1);
    if n == 1 {
        return vec![ChunkRange::WHOLE];
    }
    let per = pages.div_ceil(n);
    let mut out = Vec::new();
    let mut start = 0u64;
    let mut index = 0u32;
    while start < pages {
        let end = start + per;
        out.push(ChunkRange {
            index,
            start_page: (start > 0).then_some(start),
            end_page: (end < pages).then_some(end),
        });
        index += 1;
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_tables_stay_whole() {
        assert_eq!(plan_chunks(0, 8192, 1000), vec![ChunkRange::WHOLE]);
        assert_eq!(plan_chunks(1000, 8192, 1000), vec![ChunkRange::WHOLE]);
        assert_eq!(plan_chunks(1 << 40, 8192, 0), vec![ChunkRange::WHOLE]);
        assert_eq!(ChunkRange::WHOLE.where_clause(), None);
    }

    #[test]
    fn split_where_clauses() {
        let c = plan_chunks(10 * 8192, 8192, 4 * 8192);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0].where_clause().unwrap(),
            "ctid OPERATOR(pg_catalog.<) '(4,0)'::pg_catalog.tid"
        );
        assert_eq!(
            c[1].where_clause().unwrap(),
            "ctid OPERATOR(pg_catalog.>=) '(4,0)'::pg_catalog.tid AND ctid OPERATOR(pg_catalog.<) '(8,0)'::pg_catalog.tid"
        );
        assert_eq!(
            c[2].where_clause().unwrap(),
            "ctid OPERATOR(pg_catalog.>=) '(8,0)'::pg_catalog.tid"
        );
    }

    #[test]
    fn one_page_cannot_split() {
        assert_eq!(plan_chunks(8192, 8192, 100), vec![ChunkRange::WHOLE]);
    }

    proptest! {
        /// Chunks tile [0, ∞) exactly: no gap, no overlap, open at both ends.
        #[test]
        fn chunks_tile_the_table(pages in 0u64..100_000, threshold_pages in 0u64..5_000) {
            let c = plan_chunks(pages * 8192, 8192, threshold_pages * 8192);
            prop_assert!(!c.is_empty());
            prop_assert_eq!(c[0].start_page, None);
            prop_assert_eq!(c.last().unwrap().end_page, None);
            for (i, w) in c.windows(2).enumerate() {
                prop_assert_eq!(w[0].end_page, w[1].start_page);
                prop_assert!(w[0].end_page.is_some());
                prop_assert_eq!(w[0].index as usize, i);
            }
            for w in c.windows(2) {
                if let (Some(a), Some(b)) = (w[0].start_page, w[0].end_page) { prop_assert!(a < b); }
            }
        }
    }
}
