//! Whose code a copy may run with the running role's rights.
//!
//! A row inserted into a table runs code its owner wrote (domains' CHECKs,
//! CHECK constraints' functions, index expressions, generated columns), with
//! the inserting role's rights; so does an index rebuilt or a foreign key
//! validated. Without being told, pgcopy runs only code that a superuser or
//! the running role owns, and refuses a table whose load or restore would
//! run anyone else's (`preflight::Problem::UntrustedCode`). `--trust-owner
//! ROLE` says out loud what `pg_restore` does silently: run ROLE's code
//! with my rights. It is stored with the job, shown by the dry run and the
//! summary, and must be given again, the same, to resume.

use serde::{Deserialize, Serialize};

/// What `--trust-owner` stands for when it is `*`.
pub const EVERY_ROLE: &str = "*";

/// The roles `--trust-owner` names, sorted, each once; [`EVERY_ROLE`] for
/// all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrustedOwners(Vec<String>);

impl TrustedOwners {
    /// No role beyond superusers and the role itself (usable in a `static`).
    pub const fn none() -> Self {
        TrustedOwners(Vec::new())
    }

    /// The roles given (repeated `--trust-owner`); `*` trusts every role.
    pub fn new(roles: impl IntoIterator<Item = String>) -> Self {
        let mut roles: Vec<String> = roles.into_iter().collect();
        roles.sort();
        roles.dedup();
        if roles.iter().any(|r| r == EVERY_ROLE) {
            roles = vec![EVERY_ROLE.to_string()];
        }
        TrustedOwners(roles)
    }

    /// Nobody is trusted beyond superusers and the running role.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `--trust-owner '*'` was given.
    pub fn everyone(&self) -> bool {
        self.0.iter().any(|r| r == EVERY_ROLE)
    }

    /// Whether code `role` owns may run with the running role's rights (a
    /// superuser's and the running role's own always may: the caller knows
    /// those).
    pub fn trusts(&self, role: &str) -> bool {
        self.everyone() || self.0.iter().any(|r| r == role)
    }

    /// The roles as given, for the SQL that reads which code is trusted
    /// (`$n::text[]`: a name, or `*` for every role).
    pub fn roles(&self) -> &[String] {
        &self.0
    }

    /// For people: `"app", "web"` or `every role`.
    pub fn describe(&self) -> String {
        match self.everyone() {
            true => "every role".to_string(),
            false => self
                .0
                .iter()
                .map(|r| format!("{r:?}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The flags that give this trust, for a hint: `--trust-owner app
    /// --trust-owner web`.
    pub fn flags(roles: &[&str]) -> String {
        roles
            .iter()
            .map(|r| format!("--trust-owner {}", shell_word(r)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `role` as one shell word: bare when it is plain, else single-quoted.
fn shell_word(role: &str) -> String {
    let plain = !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    match plain {
        true => role.to_string(),
        false => format!("'{}'", role.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_kept_sorted_once_and_a_star_trusts_everyone() {
        let t = TrustedOwners::new(["web".to_string(), "app".into(), "web".into()]);
        assert_eq!(t.roles(), ["app", "web"]);
        assert!(t.trusts("app") && t.trusts("web") && !t.trusts("evil"));
        assert_eq!(t.describe(), "\"app\", \"web\"");
        let all = TrustedOwners::new(["app".to_string(), "*".into()]);
        assert!(all.everyone() && all.trusts("anyone"));
        assert_eq!(all.roles(), ["*"]);
        assert_eq!(all.describe(), "every role");
        assert!(TrustedOwners::default().is_empty());
        assert!(!TrustedOwners::default().trusts("app"));
    }

    #[test]
    fn the_hint_names_flags_a_shell_takes_as_they_are() {
        assert_eq!(TrustedOwners::flags(&["app"]), "--trust-owner app");
        assert_eq!(
            TrustedOwners::flags(&["app", "Odd Role", "o'neil"]),
            r"--trust-owner app --trust-owner 'Odd Role' --trust-owner 'o'\''neil'"
        );
    }

    #[test]
    fn stored_as_a_plain_list() {
        let t = TrustedOwners::new(["app".to_string()]);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"["app"]"#);
        let back: TrustedOwners = serde_json::from_str(r#"["app"]"#).unwrap();
        assert_eq!(back, t);
    }
}
