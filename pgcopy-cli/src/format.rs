//! How numbers and names are shown to people: sizes, column widths. Used by
//! every command that prints a table.

/// Width of a name column: the longest name, at least as wide as "table".
pub fn name_column_width<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> usize {
    names
        .into_iter()
        .map(|n| n.as_ref().chars().count())
        .max()
        .unwrap_or(0)
        .max(5)
}

pub use pgcopy_core::options::human_bytes;

/// `1 table`, `2 tables`: `n` with `one` or `many`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_counts() {
        assert_eq!(name_column_width(["ab", "abcdefg"]), 7);
        assert_eq!(name_column_width(Vec::<&str>::new()), 5);
        assert_eq!(count(1, "index", "indexes"), "1 index");
        assert_eq!(count(0, "index", "indexes"), "0 indexes");
    }
}
