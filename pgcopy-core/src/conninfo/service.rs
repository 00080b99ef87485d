//! libpq's connection service files (`pg_service.conf`), without I/O: the
//! caller reads the files, this finds the service and fills what the
//! connection string left out.
//!
//! As libpq: the service is `service=` in the connection string, else
//! `PGSERVICE`; it is looked up in the user's file (`PGSERVICEFILE`, else
//! `~/.pg_service.conf`), and only if that file does not define it, in the
//! system's (`PGSYSCONFDIR/pg_service.conf`). Its parameters come after the
//! connection string's and before the `PG*` variables'.

use super::*;

/// The texts of the service files, as the caller could read them.
#[derive(Debug, Clone, Default)]
pub struct ServiceFiles {
    /// The user's file: its path (for messages) and text, if it exists.
    pub user: Option<(String, String)>,
    /// The system's file: its path and text, if it exists.
    pub system: Option<(String, String)>,
}

/// The parameters a service file gives `service`, or `None` where the file
/// does not define it.
fn find_in(
    path: &str,
    text: &str,
    service: &str,
) -> Result<Option<Vec<(String, String)>>, ConnInfoError> {
    let mut found: Option<Vec<(String, String)>> = None;
    let mut in_service = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            if found.is_some() {
                // libpq stops at the next section once it has the service.
                break;
            }
            let Some(name) = name.strip_suffix(']') else {
                return Err(ConnInfoError::Syntax(format!(
                    "syntax error in service file \"{path}\", line {}",
                    n + 1
                )));
            };
            in_service = name.trim() == service;
            if in_service {
                found = Some(Vec::new());
            }
            continue;
        }
        if !in_service {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConnInfoError::Syntax(format!(
                "syntax error in service file \"{path}\", line {}",
                n + 1
            )));
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "service" {
            return Err(ConnInfoError::Syntax(format!(
                "nested service specifications not supported in service file \"{path}\", line {}",
                n + 1
            )));
        }
        if let Some(e) = refused(key, key) {
            return Err(e);
        }
        if !KNOWN_PARAMS.contains(&key) {
            return Err(ConnInfoError::Syntax(format!(
                "syntax error in service file \"{path}\", line {}: unknown parameter `{key}`",
                n + 1
            )));
        }
        if let Some(params) = found.as_mut() {
            params.push((key.to_string(), value.to_string()));
        }
    }
    Ok(found)
}

impl ConnParams {
    /// The service this connection names: `service=`, else `PGSERVICE`.
    pub fn service_name(&self, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        self.params
            .get("service")
            .cloned()
            .or_else(|| env("PGSERVICE"))
            .filter(|s| !s.is_empty())
    }

    /// Fills what the connection string left out from the service it (or
    /// `PGSERVICE`) names, as libpq does; no service named: unchanged. A
    /// service no file defines is an error, as in libpq.
    pub fn with_service(
        mut self,
        env: impl Fn(&str) -> Option<String>,
        files: &ServiceFiles,
    ) -> Result<ConnParams, ConnInfoError> {
        let Some(service) = self.service_name(env) else {
            return Ok(self);
        };
        let mut found = None;
        for (path, text) in [&files.user, &files.system].into_iter().flatten() {
            if let Some(params) = find_in(path, text, &service)? {
                found = Some(params);
                break;
            }
        }
        let Some(params) = found else {
            return Err(ConnInfoError::BadValue {
                param: "service".into(),
                reason: format!(
                    "definition of service \"{service}\" not found (looked in {})",
                    match [&files.user, &files.system]
                        .into_iter()
                        .flatten()
                        .map(|(p, _)| p.as_str())
                        .collect::<Vec<_>>()
                    {
                        v if v.is_empty() => "no service file: none exists".to_string(),
                        v => v.join(" and "),
                    }
                ),
            });
        };
        for (k, v) in params {
            self.params.entry(k).or_insert(v);
        }
        self.params.remove("service");
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(user: Option<&str>, system: Option<&str>) -> ServiceFiles {
        ServiceFiles {
            user: user.map(|t| ("~/.pg_service.conf".into(), t.into())),
            system: system.map(|t| ("/etc/pg_service.conf".into(), t.into())),
        }
    }

    #[test]
    fn a_service_fills_what_the_string_left_out_and_env_comes_after() {
        let f = files(
            Some("# mine\n[src]\nhost=db1\nport = 6543\ndbname=app\n\n[other]\nhost=x\n"),
            None,
        );
        let p = ConnParams::parse("service=src dbname=override")
            .unwrap()
            .with_service(|_| None, &f)
            .unwrap();
        assert_eq!(p.get("host"), Some("db1"));
        assert_eq!(p.get("port"), Some("6543"));
        assert_eq!(p.get("dbname"), Some("override"));
        assert_eq!(p.get("service"), None);
        // PGHOST does not beat the service's host; PGUSER fills what it lacks.
        let env = |k: &str| match k {
            "PGHOST" => Some("envhost".to_string()),
            "PGUSER" => Some("envuser".to_string()),
            _ => None,
        };
        let s = p
            .resolve(
                env,
                &ConnDefaults {
                    host: "/tmp".into(),
                    user: "me".into(),
                },
                None,
            )
            .unwrap();
        assert_eq!(s.hosts[0], "db1");
        assert_eq!(s.user, "envuser");
    }

    #[test]
    fn pgservice_names_it_and_the_system_file_is_read_only_when_the_users_lacks_it() {
        let env = |k: &str| (k == "PGSERVICE").then(|| "prod".to_string());
        let f = files(
            Some("[dev]\nhost=devhost\n"),
            Some("[prod]\nhost=prodhost\n"),
        );
        let p = ConnParams::parse("")
            .unwrap()
            .with_service(env, &f)
            .unwrap();
        assert_eq!(p.get("host"), Some("prodhost"));
        // Defined in both: the user's wins, the system's is not merged in.
        let f = files(Some("[prod]\nport=1\n"), Some("[prod]\nhost=prodhost\n"));
        let p = ConnParams::parse("")
            .unwrap()
            .with_service(env, &f)
            .unwrap();
        assert_eq!((p.get("port"), p.get("host")), (Some("1"), None));
    }

    #[test]
    fn a_missing_service_or_a_bad_file_is_an_error_that_says_where() {
        let env = |_: &str| None;
        let e = ConnParams::parse("service=nope")
            .unwrap()
            .with_service(env, &files(Some("[dev]\nhost=a\n"), None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("definition of service \"nope\" not found"),
            "{e}"
        );
        assert!(e.contains("~/.pg_service.conf"), "{e}");
        let e = ConnParams::parse("service=dev")
            .unwrap()
            .with_service(env, &files(Some("[dev]\nservice=x\n"), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested service"), "{e}");
        let e = ConnParams::parse("service=dev")
            .unwrap()
            .with_service(env, &files(Some("[dev]\nhots=a\n"), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("hots"), "{e}");
        // No service named: unchanged, no file needed.
        let p = ConnParams::parse("host=h").unwrap();
        assert_eq!(
            p.clone()
                .with_service(env, &ServiceFiles::default())
                .unwrap(),
            p
        );
    }
}
