//! Identifier and literal quoting: the one place SQL text gets names and values.
//!
//! Every identifier that reaches SQL goes through [`Ident`] or [`QualifiedName`]
//! (their `Display` quotes), and every literal through [`quote_literal`]. These are
//! ports of libpq's `PQescapeIdentifier`/`PQescapeLiteral` behaviour: always quote,
//! double embedded quotes, and prefix `E` when a literal contains a backslash.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Quotes an identifier for SQL: always double-quoted, embedded `"` doubled.
///
/// Always quoting (rather than only when needed) keeps mixed case, reserved words
/// and unicode intact without a keyword list.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// An identifier as a person would type it in a hint: bare when it is a
/// plain lowercase name that is no reserved word, else [`quote_ident`].
/// Only for messages: SQL pgcopy runs always quotes.
pub fn display_ident(name: &str) -> String {
    const RESERVED: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    match plain && !RESERVED.contains(&name) {
        true => name.to_string(),
        false => quote_ident(name),
    }
}

/// Quotes a string literal for SQL: single-quoted, `'` doubled, and written as an
/// `E''` string with doubled backslashes when it contains a backslash, so the
/// result means the same under any `standard_conforming_strings`.
pub fn quote_literal(value: &str) -> String {
    let has_backslash = value.contains('\\');
    let mut out = String::with_capacity(value.len() + 3);
    if has_backslash {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// An identifier (column, constraint, schema) that prints quoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ident(pub String);

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_ident(&self.0))
    }
}

/// A schema-qualified relation name; `Display` prints `"schema"."name"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualifiedName {
    /// Schema (namespace) name, unquoted.
    pub schema: String,
    /// Relation name, unquoted.
    pub name: String,
}

impl QualifiedName {
    /// Builds a name from its unquoted parts.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualifiedName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// The name as a person reads it (`schema.table`, unquoted, control
    /// characters escaped by [`printable`]), for logs and messages. Never use
    /// this in SQL.
    pub fn display_name(&self) -> String {
        printable(&format!("{}.{}", self.schema, self.name)).into_owned()
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            quote_ident(&self.schema),
            quote_ident(&self.name)
        )
    }
}

/// Text from a database (a name, a stored error, a row another role wrote)
/// made safe for a terminal: control characters (escape sequences, carriage
/// returns, newlines that would fake lines of output) are shown as `\u{..}`.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| match c {
                c if c.is_control() => c.escape_unicode().to_string(),
                c => c.to_string(),
            })
            .collect(),
    )
}

/// Joins identifiers quoted and comma-separated: `"a", "b"`.
pub fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ident_quoting() {
        assert_eq!(quote_ident("foo"), r#""foo""#);
        assert_eq!(quote_ident("Foo Bar"), r#""Foo Bar""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_ident(""), r#""""#);
        assert_eq!(quote_ident("select"), r#""select""#);
        assert_eq!(quote_ident("ñandú.\"x\""), "\"ñandú.\"\"x\"\"\"");
    }

    #[test]
    fn literal_quoting() {
        assert_eq!(quote_literal("abc"), "'abc'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
        assert_eq!(quote_literal(r"'\"), r"E'''\\'");
    }

    #[test]
    fn printable_defangs_terminal_controls() {
        assert_eq!(printable("plain ñame"), "plain ñame");
        assert_eq!(
            printable("boom\u{1b}]0;TITLE\u{7}\rfake line\nok"),
            "boom\\u{1b}]0;TITLE\\u{7}\\u{d}fake line\\u{a}ok"
        );
    }

    #[test]
    fn qualified_name_display() {
        let q = QualifiedName::new("My Schema", "t\"1");
        assert_eq!(q.to_string(), r#""My Schema"."t""1""#);
        assert_eq!(q.display_name(), "My Schema.t\"1");
    }

    /// Reverses `quote_ident` the way the PostgreSQL lexer reads a quoted identifier.
    fn unquote(s: &str) -> Option<String> {
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' && chars.next() != Some('"') {
                return None;
            }
            out.push(c);
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn ident_round_trips(name in any::<String>()) {
            prop_assert_eq!(unquote(&quote_ident(&name)), Some(name));
        }

        #[test]
        fn literal_has_no_unescaped_quote(value in any::<String>()) {
            let q = quote_literal(&value);
            let body = q.trim_start_matches('E');
            let inner = &body[1..body.len() - 1];
            // Every quote inside comes in pairs: the literal cannot end early.
            prop_assert_eq!(inner.replace("''", "").contains('\''), false);
        }
    }
}
