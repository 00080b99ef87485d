use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// The certificate's subjectAltName DNS names and IP addresses.
fn alt_names(cert: &Certificate) -> (Vec<String>, Vec<Vec<u8>>) {
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    let Ok(Some((_, san))) = cert.tbs_certificate.get::<SubjectAltName>() else {
        return (dns, ips);
    };
    for name in san.0 {
        match name {
            GeneralName::DnsName(d) => dns.push(d.as_str().to_ascii_lowercase()),
            GeneralName::IpAddress(ip) => ips.push(ip.as_bytes().to_vec()),
            _ => {}
        }
    }
    (dns, ips)
}

/// The subject's first common name, the one libpq reads (OpenSSL's
/// `X509_NAME_get_index_by_NID` from the start): a certificate with
/// several matches on its first only.
fn common_names(cert: &Certificate) -> Vec<String> {
    const CN: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == CN)
        .take(1)
        .filter_map(|atv| {
            let v = &atv.value;
            std::str::from_utf8(v.value())
                .ok()
                .map(|s| s.to_ascii_lowercase())
        })
        .collect()
}

/// A host name the certificate does not hold, said as libpq says it,
/// with the names it does hold (its subjectAltName names, else its CN).
pub fn mismatch(der: &CertificateDer<'_>, server_name: &ServerName<'_>) -> rustls::Error {
    let presented = match Certificate::from_der(der.as_ref()) {
        Ok(cert) => {
            let (dns, ips) = alt_names(&cert);
            let ips = ips.iter().filter_map(|b| match b.len() {
                4 => <[u8; 4]>::try_from(b.as_slice())
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(b.as_slice())
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            });
            let alt: Vec<String> = dns.iter().cloned().chain(ips).collect();
            match alt.is_empty() {
                true => common_names(&cert),
                false => alt,
            }
        }
        Err(_) => Vec::new(),
    };
    rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
        expected: server_name.to_owned(),
        presented: presented.iter().map(|n| format!("\"{n}\"")).collect(),
    })
}

/// Issued by itself (issuer and subject the same name).
pub fn self_signed(der: &CertificateDer<'_>) -> bool {
    Certificate::from_der(der.as_ref())
        .is_ok_and(|c| c.tbs_certificate.issuer == c.tbs_certificate.subject)
}

/// libpq's host name match: exact, or a `*.` wildcard for one label.
fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == host,
    }
}

/// Whether `server_name` is among the certificate's names: its
/// subjectAltName names, or, when it has none, its CN.
pub fn matches(der: &CertificateDer<'_>, server_name: &ServerName<'_>) -> bool {
    let Ok(cert) = Certificate::from_der(der.as_ref()) else {
        return false;
    };
    let (dns, ips) = alt_names(&cert);
    match server_name {
        ServerName::DnsName(n) => {
            let host = n.as_ref().to_ascii_lowercase();
            match dns.is_empty() && ips.is_empty() {
                true => common_names(&cert).iter().any(|cn| name_matches(cn, &host)),
                false => dns.iter().any(|d| name_matches(d, &host)),
            }
        }
        ServerName::IpAddress(ip) => {
            let bytes: Vec<u8> = match std::net::IpAddr::from(*ip) {
                std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            let text = std::net::IpAddr::from(*ip).to_string();
            match dns.is_empty() && ips.is_empty() {
                true => common_names(&cert).contains(&text),
                false => ips.contains(&bytes),
            }
        }
        _ => false,
    }
}

/// The CN fallback alone: for a certificate webpki found valid but for
/// its names, which has no subjectAltName names.
pub fn cn_fallback_matches(der: &CertificateDer<'_>, server_name: &ServerName<'_>) -> bool {
    let Ok(cert) = Certificate::from_der(der.as_ref()) else {
        return false;
    };
    let (dns, ips) = alt_names(&cert);
    dns.is_empty() && ips.is_empty() && matches(der, server_name)
}

/// Whether `now` is within the certificate's validity.
pub fn valid_at(der: &CertificateDer<'_>, now: UnixTime) -> bool {
    let Ok(cert) = Certificate::from_der(der.as_ref()) else {
        return false;
    };
    let v = &cert.tbs_certificate.validity;
    let secs = now.as_secs();
    v.not_before.to_unix_duration().as_secs() <= secs
        && secs <= v.not_after.to_unix_duration().as_secs()
}
