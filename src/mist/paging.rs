//! Paging of Mist's `limit` / `page` lists (`stats/devices`): when a page was not the last.

/// When to ask for the next page of a `limit` / `page` list. Mist answers at most the
/// `limit` asked for, and some endpoints fewer ("max 1,000, with some exceptions"), so a page
/// shorter than asked proves nothing by itself:
/// - `X-Page-Total` given: more while fewer were read than the total (and the last page was
///   not empty: the list may have shrunk meanwhile);
/// - else `X-Page-Limit` given: more while pages come back full at that limit;
/// - else (no header at all): more until an empty page or one shorter than the first.
#[derive(Debug)]
pub(crate) struct Pager {
    asked: usize,
    read: u64,
    first: Option<usize>,
}

impl Pager {
    pub(crate) fn new(asked: usize) -> Pager {
        Pager {
            asked,
            read: 0,
            first: None,
        }
    }

    pub(crate) fn more(&mut self, count: usize, limit: Option<u64>, total: Option<u64>) -> bool {
        self.read += count as u64;
        let first = *self.first.get_or_insert(count);
        if count == 0 {
            return false;
        }
        match (total, limit) {
            (Some(total), _) => self.read < total,
            (None, Some(limit)) => count as u64 >= limit.min(self.asked as u64),
            (None, None) => count >= first,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_reads_until_everything_was_read() {
        // Capped at 100 below the 1,000 asked, total given: 250 in three pages.
        let mut p = Pager::new(1000);
        assert!(p.more(100, Some(100), Some(250)));
        assert!(p.more(100, Some(100), Some(250)));
        assert!(!p.more(50, Some(100), Some(250)));
        // Capped, no total: full pages at the cap go on, a short one ends.
        let mut p = Pager::new(1000);
        assert!(p.more(100, Some(100), None));
        assert!(!p.more(7, Some(100), None));
        // No header at all: a short first page is not trusted, an empty one ends.
        let mut p = Pager::new(1000);
        assert!(p.more(100, None, None));
        assert!(p.more(100, None, None));
        assert!(!p.more(3, None, None));
        let mut p = Pager::new(1000);
        assert!(p.more(20, None, None));
        assert!(!p.more(0, None, None));
        // The list shrank between pages: an empty page ends even below the total.
        let mut p = Pager::new(1000);
        assert!(p.more(100, Some(100), Some(300)));
        assert!(!p.more(0, Some(100), Some(300)));
    }
}
