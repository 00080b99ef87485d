#[test]
fn webpki_reasons_read_as_words() {
    let said = super::readable(
            "error performing TLS handshake: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"
                .to_string(),
        );
    assert_eq!(
            said,
            "error performing TLS handshake: invalid peer certificate: the server's certificate is a CA \
             certificate, which its root does not vouch for as a server's (give that certificate itself as \
             sslrootcert, or issue the server one from it)"
        );
    let other = "invalid peer certificate: Other(OtherError(SomethingNew))".to_string();
    assert_eq!(super::readable(other.clone()), other);
    assert_eq!(super::readable("plain".into()), "plain");
}
