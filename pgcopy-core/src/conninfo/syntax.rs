//! The two spellings of a connection string: a `postgresql://` URI
//! (percent-encoded) and `key=value` pairs (quoted, backslash-escaped).

use super::*;

/// Percent-encodes everything outside the URI-unreserved set.
pub(super) fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes of one URI part; an error names the part, never its
/// text (it may be a password).
pub(super) fn pct_decode(part: &str, s: &str) -> Result<String, ConnInfoError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ConnInfoError::Syntax(format!(
                        "invalid percent-encoding in the URI's {part} (a % must be followed by two hex digits)"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        ConnInfoError::Syntax(format!(
            "the URI's {part} is not UTF-8 once percent-decoded"
        ))
    })
}

pub(super) fn parse_uri(s: &str) -> Result<BTreeMap<String, String>, ConnInfoError> {
    let mut params = BTreeMap::new();
    let rest = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
        // (the caller checked the scheme)
        .unwrap_or(s);
    // An `@` past the end of the host part (the first `/`, `?` or `#`) is
    // a password's unencoded `/`, `?` or `#` cutting the URI short: refused
    // without quoting any of it, since any piece may be the password's.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let tail = &rest[authority_end..];
    let (path_part, query_part) = match tail.split_once('?') {
        Some((p, q)) => (p, q),
        None => (tail, ""),
    };
    // In the query an `@` may be a value's own (`application_name=me@host`),
    // of a parameter pgcopy knows; anywhere else it cut the URI short.
    let stray_at = path_part.contains('@')
        || query_part
            .split('&')
            .any(|pair| match pair.split_once('=') {
                Some((key, value)) => value.contains('@') && !super::KNOWN_PARAMS.contains(&key),
                None => pair.contains('@'),
            });
    if stray_at {
        return Err(ConnInfoError::Syntax(
            "the URI has an `@` after its host part, as when a password holds an unencoded `/`, `?` \
             or `#`: percent-encode them in the user name and password (`/` as %2F, `?` as %3F, \
             `#` as %23, `@` as %40)"
                .into(),
        ));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (netloc, path) = match before_query.split_once('/') {
        Some((n, p)) => (n, Some(p)),
        None => (before_query, None),
    };
    let hostspec = match netloc.rsplit_once('@') {
        Some((userinfo, hostspec)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, pw)) => (u, Some(pw)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.insert("user".into(), pct_decode("user name", user)?);
            }
            if let Some(pw) = password {
                params.insert("password".into(), pct_decode("password", pw)?);
            }
            hostspec
        }
        None => netloc,
    };
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for part in hostspec.split(',').filter(|p| !p.is_empty()) {
        let (host, port) = if let Some(v6) = part.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| {
                ConnInfoError::Syntax(format!("unterminated `[` in host `{part}`"))
            })?;
            (h.to_string(), after.strip_prefix(':').map(str::to_string))
        } else {
            match part.rsplit_once(':') {
                Some((h, p)) => (pct_decode("host", h)?, Some(p.to_string())),
                None => (pct_decode("host", part)?, None),
            }
        };
        hosts.push(host);
        if let Some(p) = port {
            ports.push(p);
        }
    }
    if !hosts.is_empty() && hosts.iter().any(|h| !h.is_empty()) {
        params.insert("host".into(), hosts.join(","));
    }
    if !ports.is_empty() {
        params.insert("port".into(), ports.join(","));
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        params.insert("dbname".into(), pct_decode("database name", db)?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                ConnInfoError::Syntax(
                    "a URI query parameter has no `=` (write ?name=value&...)".into(),
                )
            })?;
            let k = pct_decode("query parameter name", k)?;
            let v = pct_decode("query parameter value", v)?;
            params.insert(k, v);
        }
    }
    Ok(params)
}

pub(super) fn parse_keyword_value(s: &str) -> Result<BTreeMap<String, String>, ConnInfoError> {
    let mut params = BTreeMap::new();
    let mut chars = s.chars().peekable();
    // Text right after an unquoted password may be the rest of a password
    // that holds a space: an error about it must not echo it.
    let mut after_password = false;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let is_param =
            KNOWN_PARAMS.contains(&key.as_str()) || REFUSED_PARAMS.iter().any(|(p, _)| *p == key);
        if after_password && !is_param {
            return Err(ConnInfoError::Syntax(
                "a password is followed by text that is not a parameter: a password that holds spaces \
                 must be quoted (password='...')"
                    .into(),
            ));
        }
        if chars.next() != Some('=') {
            return Err(ConnInfoError::Syntax(format!(
                "missing `=` after `{key}` (expected a URI like postgresql://user@host/db or key=value pairs)"
            )));
        }
        after_password = key == "password" || key == "sslpassword";
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(ConnInfoError::Syntax(format!(
                                "unterminated quoted value for `{key}`"
                            )))
                        }
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConnInfoError::Syntax(format!(
                            "unterminated quoted value for `{key}`"
                        )))
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err(ConnInfoError::Syntax("empty parameter name".into()));
        }
        params.insert(key, value);
    }
    Ok(params)
}
