//! TLS for connections, over rustls, with libpq's `sslmode` meanings:
//! `prefer`/`require` encrypt without checking the certificate (as libpq does
//! without a root certificate), `verify-ca` checks the chain against
//! `sslrootcert`, `verify-full` checks the chain and the host name.

use crate::error::UserError;
use pgcopy_core::conninfo::{ConnSettings, SslMode, TlsVersion};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a connection is secured: `None` for plain TCP or sockets.
pub type Tls = Option<MakeRustlsConnect>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where Debian (and most Linux systems) keep the CAs the system trusts, for
/// `sslrootcert=system`; `SSL_CERT_FILE` overrides it, as in OpenSSL.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Builds the TLS connector that `settings.sslmode` calls for.
pub fn make_tls(settings: &ConnSettings, home: Option<&str>) -> Result<Tls, UserError> {
    let root_path = match settings.sslrootcert.as_deref() {
        Some("system") => {
            Some(std::env::var("SSL_CERT_FILE").unwrap_or_else(|_| SYSTEM_ROOTS.to_string()))
        }
        Some(p) => Some(p.to_string()),
        None => home.map(|h| format!("{h}/.postgresql/root.crt")),
    };
    let mode = match settings.sslmode {
        // libpq: `require` with a root certificate file present (named by
        // sslrootcert, or the default ~/.postgresql/root.crt) behaves as
        // verify-ca.
        SslMode::Require
            if root_path
                .as_deref()
                .is_some_and(|p| std::path::Path::new(p).exists()) =>
        {
            SslMode::VerifyCa
        }
        m => m,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Allow | SslMode::Prefer | SslMode::Require => Arc::new(NoVerify(provider())),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let path = root_path.ok_or_else(|| {
                UserError::usage(format!(
                    "sslmode={} needs a root certificate: set sslrootcert=PATH in the connection string",
                    mode.as_str()
                ))
            })?;
            let mut roots = RootCertStore::empty();
            let mut pinned: Vec<CertificateDer<'static>> = Vec::new();
            let certs = CertificateDer::pem_file_iter(&path).map_err(|e| {
                UserError::usage(format!(
                    "cannot read root certificate {path} (sslrootcert): {e}; check the path"
                ))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    UserError::usage(format!("root certificate {path} is not valid PEM: {e}"))
                })?;
                pinned.push(cert.clone());
                roots.add(cert).map_err(|e| {
                    UserError::usage(format!("root certificate {path} was rejected: {e}"))
                })?;
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .with_crls(revocation_lists(settings)?)
                .build()
                .map_err(|e| match e {
                    // The root certificates were read above: what fails here
                    // is a revocation list.
                    rustls::client::VerifierBuilderError::InvalidCrl(_) => {
                        UserError::usage(String::from(
                            "a certificate revocation list (sslcrl/sslcrldir) cannot be parsed: \
                             pgcopy's TLS (rustls) reads X.509 v2 lists only (openssl ca -gencrl \
                             writes v2 when the CA's configuration has crl_extensions)",
                        ))
                    }
                    e => UserError::usage(format!("root certificate {path}: {e}")),
                })?;
            Arc::new(LibpqVerifier {
                webpki,
                roots: std::mem::take(&mut pinned),
                check_name: mode == SslMode::VerifyFull,
            })
        }
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| {
        settings.ssl_min_protocol_version.is_none_or(|lo| *v >= lo)
            && settings.ssl_max_protocol_version.is_none_or(|hi| *v <= hi)
    })
    .map(|(_, p)| p)
    .collect();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| UserError::failure(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let certificate = match settings.no_client_cert {
        true => None,
        false => client_certificate(settings, home)?,
    };
    let mut config = match certificate {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            UserError::usage(format!(
                "the client certificate or key (sslcert, sslkey) cannot be used: {e}; \
                 an X.509 v3 certificate and its own unencrypted key are needed"
            ))
        })?,
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = settings.sslsni;
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// The certificate revocation lists of `sslcrl` (a PEM file) and `sslcrldir`
/// (every file in a directory), checked against the server's chain.
fn revocation_lists(
    settings: &ConnSettings,
) -> Result<Vec<CertificateRevocationListDer<'static>>, UserError> {
    let mut files: Vec<String> = settings.sslcrl.iter().cloned().collect();
    if let Some(dir) = &settings.sslcrldir {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            UserError::usage(format!(
                "cannot read the revocation list directory {dir} (sslcrldir): {e}"
            ))
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path().display().to_string())
            .collect();
        names.sort();
        files.extend(names);
    }
    let mut out = Vec::new();
    for path in files {
        let crls = CertificateRevocationListDer::pem_file_iter(&path)
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                UserError::usage(format!(
                    "cannot read the certificate revocation list {path} (sslcrl/sslcrldir): {e}"
                ))
            })?;
        out.extend(crls);
    }
    Ok(out)
}

/// The client certificate chain and key, as libpq finds them: `sslcert` and
/// `sslkey`, else `~/.postgresql/postgresql.crt` and `postgresql.key` when the
/// certificate file exists.
fn client_certificate(
    settings: &ConnSettings,
    home: Option<&str>,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, UserError> {
    let cert_path = match &settings.sslcert {
        Some(p) => p.clone(),
        None => match home.map(|h| format!("{h}/.postgresql/postgresql.crt")) {
            Some(p) if std::path::Path::new(&p).exists() => p,
            _ => return Ok(None),
        },
    };
    let key_path =
        settings
            .sslkey
            .clone()
            .unwrap_or_else(|| match cert_path.strip_suffix(".crt") {
                Some(stem) if settings.sslcert.is_none() => format!("{stem}.key"),
                _ => home
                    .map(|h| format!("{h}/.postgresql/postgresql.key"))
                    .unwrap_or_default(),
            });
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            UserError::usage(format!(
                "cannot read client certificate {cert_path} (sslcert): {e}; check the path"
            ))
        })?;
    if chain.is_empty() {
        return Err(UserError::usage(format!(
            "client certificate {cert_path} (sslcert) holds no PEM certificate"
        )));
    }
    key_file_is_private(&key_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        UserError::usage(format!(
            "cannot read the client key {key_path} (sslkey): {e}; give an unencrypted PEM key"
        ))
    })?;
    Ok(Some((chain, key)))
}

/// Refuses a private key others may read, with libpq's rule: u=rw (0600) or
/// less when the current user owns it, u=rw,g=r (0640) or less when root does.
fn key_file_is_private(path: &str) -> Result<(), UserError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it reports the problem
    };
    let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if meta.mode() & allowed != 0 {
        return Err(UserError::usage(format!(
            "private key file {path} (sslkey) has group or world access; it must have permissions u=rw (0600) \
             or less if owned by the current user, or u=rw,g=r (0640) or less if owned by root: chmod 600 {path}"
        )));
    }
    Ok(())
}

/// Encrypts without checking who the server is (`sslmode=require`/`prefer`).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS failure's text with webpki's reasons, which rustls prints as Rust
/// debug text (`Other(OtherError(CaUsedAsEndEntity))`), said in words.
pub fn readable(detail: String) -> String {
    const REASONS: [(&str, &str); 4] = [
        (
            "CaUsedAsEndEntity",
            "the server's certificate is a CA certificate, which its root does not vouch for as a \
             server's (give that certificate itself as sslrootcert, or issue the server one from it)",
        ),
        (
            "UnsupportedCertVersion",
            "the server's certificate is X.509 version 1, which pgcopy's TLS (rustls) does not \
             accept: issue a version 3 certificate",
        ),
        (
            "UnsupportedCrlVersion",
            "a revocation list (sslcrl) is of X.509 CRL version 1: issue it as version 2 \
             (openssl ca -gencrl with crl_extensions)",
        ),
        (
            "UnknownIssuer",
            "the server's certificate is not signed by the root certificate given (sslrootcert)",
        ),
    ];
    let Some((start, end)) = detail
        .find("Other(OtherError(")
        .map(|s| (s, detail[s..].find("))").map(|e| s + e + 2)))
        .and_then(|(s, e)| Some((s, e?)))
    else {
        return detail;
    };
    let inner = &detail[start + "Other(OtherError(".len()..end - 2];
    match REASONS.iter().find(|(k, _)| inner.starts_with(k)) {
        Some((_, said)) => format!("{}{said}{}", &detail[..start], &detail[end..]),
        None => detail,
    }
}

/// `verify-ca` and `verify-full` as libpq (OpenSSL) has them, over webpki:
/// the chain is checked against `sslrootcert`, and with `check_name` the
/// host name too. Two things libpq accepts that webpki alone does not:
/// - a server certificate that is itself one of the root certificates (the
///   self-signed `server.crt` of PostgreSQL's documentation, given as its own
///   `sslrootcert`, which webpki refuses as a CA used as an end entity);
/// - a host name in the certificate's CN when it has no subjectAltName
///   names (webpki reads subjectAltName only).
#[derive(Debug)]
struct LibpqVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let pinned = self.roots.iter().any(|r| r.as_ref() == end_entity.as_ref());
        let name_in_cn = || -> bool { names::cn_fallback_matches(end_entity, server_name) };
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name || name_in_cn() => Ok(ServerCertVerified::assertion()),
            // Said with the names the certificate holds, CN included.
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Err(names::mismatch(end_entity, server_name)),
            // The root itself, trusted as given (a self-signed CA
            // certificate webpki will not take as a server's): its dates
            // still count. Any other failure stands, revocation included.
            Err(e) if pinned && ca_as_end_entity(&e) && names::self_signed(end_entity) => {
                if !names::valid_at(end_entity, now) {
                    return Err(Error::InvalidCertificate(CertificateError::Expired));
                }
                match !self.check_name || names::matches(end_entity, server_name) {
                    true => Ok(ServerCertVerified::assertion()),
                    // Trusted as given, but for another host: said so.
                    false => Err(names::mismatch(end_entity, server_name)),
                }
            }
            Err(e) => Err(e),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// webpki's refusal of a CA certificate as a server's own.
fn ca_as_end_entity(e: &Error) -> bool {
    matches!(e, Error::InvalidCertificate(CertificateError::Other(other))
        if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)))
}

/// A server certificate's names, read as libpq reads them.
mod names;

#[cfg(test)]
mod readable_tests;
