//! Counting rows in a text COPY stream, and one counter for either format.
//!
//! In text format every row ends with a newline, and a newline or carriage
//! return inside a value is always escaped (`\n`, `\r`), so the rows are the
//! newline bytes. Text COPY is used only for tables with a type that has no
//! binary I/O.

use crate::copy_binary::{BinaryRowCounter, FormatError};
use crate::sql::CopyFormat;

/// Counts the rows of a text COPY stream fed in pieces split anywhere.
#[derive(Debug, Clone, Default)]
pub struct TextRowCounter {
    rows: u64,
}

impl TextRowCounter {
    /// Feeds the next piece of the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.rows += data.iter().filter(|&&b| b == b'\n').count() as u64;
    }

    /// Complete rows seen so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// A row counter for the format a table is copied in.
#[derive(Debug, Clone)]
pub enum RowCounter {
    /// Follows the binary tuple headers.
    Binary(BinaryRowCounter),
    /// Counts newlines.
    Text(TextRowCounter),
}

impl RowCounter {
    /// A counter at the start of a stream in `format`.
    pub fn new(format: CopyFormat) -> Self {
        match format {
            CopyFormat::Binary => RowCounter::Binary(BinaryRowCounter::new()),
            CopyFormat::Text => RowCounter::Text(TextRowCounter::default()),
        }
    }

    /// Feeds the next piece of the stream.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), FormatError> {
        match self {
            RowCounter::Binary(c) => c.feed(data),
            RowCounter::Text(c) => {
                c.feed(data);
                Ok(())
            }
        }
    }

    /// Rows seen so far.
    pub fn rows(&self) -> u64 {
        match self {
            RowCounter::Binary(c) => c.rows(),
            RowCounter::Text(c) => c.rows(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Escapes a value the way COPY text output does.
    fn escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t")
    }

    proptest! {
        #[test]
        fn counts_rows_with_any_content_and_split(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(".*"), 0..4), 0..30),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut data = String::new();
            for row in &rows {
                let fields: Vec<String> = row
                    .iter()
                    .map(|f| f.as_deref().map(escape).unwrap_or_else(|| "\\N".into()))
                    .collect();
                data.push_str(&fields.join("\t"));
                data.push('\n');
            }
            let bytes = data.as_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort();
            let mut c = RowCounter::new(CopyFormat::Text);
            let mut prev = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                c.feed(&bytes[prev..p]).unwrap();
                prev = p;
            }
            prop_assert_eq!(c.rows(), rows.len() as u64);
        }
    }
}
