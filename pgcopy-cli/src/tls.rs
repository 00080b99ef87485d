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
            let certs = CertificateDer::pem_file_iter(&path).map_err(|e| {
                UserError::usage(format!(
                    "cannot read root certificate {path} (sslrootcert): {e}; check the path"
                ))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    UserError::usage(format!("root certificate {path} is not valid PEM: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    UserError::usage(format!("root certificate {path} was rejected: {e}"))
                })?;
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .with_crls(revocation_lists(settings)?)
                .build()
                .map_err(|e| UserError::usage(format!("root certificate {path}: {e}")))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
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

/// Checks the certificate chain but not the host name (`sslmode=verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
