//! Table selection: `--include-tables` / `--exclude-tables` patterns.
//!
//! A list is comma-separated; each item is `table` (any schema) or
//! `schema.table`. As in psql's `\dt`, unquoted parts fold to lower case and may
//! use the globs `*` and `?`; double-quoted parts are taken literally (so names
//! with dots, commas, capitals or `*` can be given).

use crate::quote::QualifiedName;
use std::fmt;

/// A pattern that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid table pattern `{pattern}`: {reason}")]
pub struct PatternError {
    /// The item as written.
    pub pattern: String,
    /// What is wrong.
    pub reason: String,
}

/// One part of a name pattern: a sequence of literal characters and globs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NamePattern(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    Any,
    One,
}

/// One table pattern: an optional schema part and a name part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePattern {
    text: String,
    schema: Option<NamePattern>,
    name: NamePattern,
}

impl fmt::Display for TablePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TablePattern {
    /// Whether the pattern selects this table.
    pub fn matches(&self, t: &QualifiedName) -> bool {
        self.schema.as_ref().is_none_or(|s| s.matches(&t.schema)) && self.name.matches(&t.name)
    }

    /// A bare table name: no schema part and no glob (`users`, not
    /// `public.users` or `user*`): the one kind of pattern that names one
    /// table to its writer yet may match one in every schema.
    pub fn is_bare_name(&self) -> bool {
        self.schema.is_none() && self.name.0.iter().all(|t| matches!(t, Tok::Char(_)))
    }

    /// No schema part: it matches in every schema.
    pub fn any_schema(&self) -> bool {
        self.schema.is_none()
    }
}

impl NamePattern {
    fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        glob(&self.0, &chars)
    }
}

fn glob(p: &[Tok], s: &[char]) -> bool {
    // Iterative glob with single backtrack point: linear in practice.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(Tok::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(Tok::One) => {
                pi += 1;
                si += 1;
            }
            Some(Tok::Char(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Any)
}

/// Parses a comma-separated list of patterns.
pub fn parse_patterns(list: &str) -> Result<Vec<TablePattern>, PatternError> {
    let mut out = Vec::new();
    for item in split_outside_quotes(list, ',') {
        let trimmed = item.trim();
        if trimmed.is_empty() {
            continue;
        }
        out.push(parse_one(trimmed)?);
    }
    Ok(out)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let (mut parts, mut part) = (Vec::new(), String::new());
    let mut in_quotes = false;
    for c in s.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if c == sep && !in_quotes {
            parts.push(std::mem::take(&mut part));
        } else {
            part.push(c);
        }
    }
    parts.push(part);
    parts
}

fn parse_one(item: &str) -> Result<TablePattern, PatternError> {
    let err = |reason: &str| PatternError {
        pattern: item.to_string(),
        reason: reason.to_string(),
    };
    let (mut parts, mut part): (Vec<Vec<Tok>>, Vec<Tok>) = (Vec::new(), Vec::new());
    let mut chars = item.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    part.push(Tok::Char('"'));
                } else {
                    in_quotes = false;
                }
            } else {
                part.push(Tok::Char(c));
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '.' => parts.push(std::mem::take(&mut part)),
            '*' => part.push(Tok::Any),
            '?' => part.push(Tok::One),
            c if c.is_whitespace() => return Err(err("unquoted white space; quote the name")),
            c => part.extend(c.to_lowercase().map(Tok::Char)),
        }
    }
    parts.push(part);
    if in_quotes {
        return Err(err("unterminated double quote"));
    }
    if parts.iter().any(Vec::is_empty) {
        return Err(err("empty schema or table name"));
    }
    let mut parts = parts.into_iter();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, _) => Ok(TablePattern {
            text: item.to_string(),
            schema: None,
            name: NamePattern(name),
        }),
        (Some(schema), Some(name), None) => {
            let (schema, name) = (NamePattern(schema), NamePattern(name));
            Ok(TablePattern {
                text: item.to_string(),
                schema: Some(schema),
                name,
            })
        }
        _ => Err(err(
            "too many dots; use schema.table, quoting names that contain dots",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str, n: &str) -> QualifiedName {
        QualifiedName::new(s, n)
    }

    #[test]
    fn plain_and_qualified() {
        let p = parse_patterns("users, sales.orders").unwrap();
        assert!(p[0].matches(&q("public", "users")));
        assert!(p[0].matches(&q("other", "users")));
        assert!(!p[0].matches(&q("public", "users2")));
        assert!(p[1].matches(&q("sales", "orders")));
        assert!(!p[1].matches(&q("public", "orders")));
    }

    #[test]
    fn globs() {
        let p = parse_patterns("public.film*,s?les.*").unwrap();
        assert!(p[0].matches(&q("public", "film")));
        assert!(p[0].matches(&q("public", "film_actor")));
        assert!(!p[0].matches(&q("public", "afilm")));
        assert!(p[1].matches(&q("sales", "anything")));
        assert!(p[1].matches(&q("soles", "x")));
        assert!(!p[1].matches(&q("saales", "x")));
        let p = parse_patterns("*a*b*").unwrap();
        assert!(p[0].matches(&q("s", "xxaxxbxx")));
        assert!(!p[0].matches(&q("s", "xxbxxaxx")));
    }

    #[test]
    fn case_folding_and_quotes() {
        let p = parse_patterns(r#"Users,"Users","My Schema"."a.b,c","we""ird*""#).unwrap();
        assert_eq!(p.len(), 4);
        assert!(p[0].matches(&q("public", "users")));
        assert!(!p[0].matches(&q("public", "Users")));
        assert!(p[1].matches(&q("public", "Users")));
        assert!(!p[1].matches(&q("public", "users")));
        assert!(p[2].matches(&q("My Schema", "a.b,c")));
        assert!(p[3].matches(&q("x", "we\"ird*")));
        assert!(!p[3].matches(&q("x", "we\"irdo")));
    }

    #[test]
    fn bad_patterns() {
        assert!(parse_patterns("a.b.c").is_err());
        assert!(parse_patterns("\"open").is_err());
        assert!(parse_patterns("a.").is_err());
        assert!(parse_patterns("my table").is_err());
        assert_eq!(parse_patterns(" , ").unwrap().len(), 0);
    }
}
