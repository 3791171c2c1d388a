//! TLS for OTLP export, with rustls (ring provider) for both protocols: the system's roots by
//! default, a private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE`) besides them, and a client
//! certificate and key for mutual TLS. PEM files are read here, once when the configuration is
//! loaded (so that a bad file is an error naming its variable) and again when the exporters
//! are built.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{SignalExport, TlsFile};

/// The largest PEM file read (1 MiB: a CA bundle is a few hundred kilobytes).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The bytes of a PEM file: a regular file of at most [`MAX_PEM_BYTES`]; the error says why not
/// (never the contents).
pub(crate) fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(format!(
            "{} is larger than 1 MiB ({} bytes)",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The certificates of a PEM file; an error when it cannot be read or holds none.
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1); the error never shows the key.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!(
            "{} holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)",
            path.display()
        )
    })
}

/// The error of one TLS file, naming its setting.
fn file_error(file: &TlsFile, e: String) -> String {
    format!("{} cannot be used: {e}", file.setting)
}

/// The client certificate and key of `export`: both or neither.
fn client_pair(export: &SignalExport) -> Result<Option<(&TlsFile, &TlsFile)>, String> {
    match (&export.client_certificate, &export.client_key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(cert), None) => Err(format!(
            "{} is set without a client key: set the matching `client_key` (OTEL_EXPORTER_OTLP_CLIENT_KEY or its per-signal variable) too",
            cert.setting
        )),
        (None, Some(key)) => Err(format!(
            "{} is set without a client certificate: set the matching `client_certificate` (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE or its per-signal variable) too",
            key.setting
        )),
    }
}

/// The rustls configuration of an HTTP exporter: the system's roots, the private CA of
/// `export.certificate` and the client certificate, when set.
pub(crate) fn rustls_config(export: &SignalExport) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(file) = &export.certificate {
        for cert in certificates(&file.path).map_err(|e| file_error(file, e))? {
            roots.add(cert).map_err(|e| {
                file_error(file, format!("a certificate is not usable as a CA ({e})"))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(roots);
    let mut config = match client_pair(export)? {
        Some((cert, key)) => {
            let chain = certificates(&cert.path).map_err(|e| file_error(cert, e))?;
            let key_der = private_key(&key.path).map_err(|e| file_error(key, e))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "{} and {} do not make a usable client identity ({e})",
                    cert.setting, key.setting
                )
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The tonic TLS configuration of a gRPC exporter: the system's roots, the private CA and the
/// client identity, when set.
pub(crate) fn tonic_config(
    export: &SignalExport,
) -> Result<tonic::transport::ClientTlsConfig, String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let mut config = ClientTlsConfig::new().with_native_roots();
    if let Some(file) = &export.certificate {
        certificates(&file.path).map_err(|e| file_error(file, e))?;
        let pem = read_pem(&file.path).map_err(|e| file_error(file, e))?;
        config = config.ca_certificate(Certificate::from_pem(pem));
    }
    if let Some((cert, key)) = client_pair(export)? {
        certificates(&cert.path).map_err(|e| file_error(cert, e))?;
        private_key(&key.path).map_err(|e| file_error(key, e))?;
        let cert_pem = read_pem(&cert.path).map_err(|e| file_error(cert, e))?;
        let key_pem = read_pem(&key.path).map_err(|e| file_error(key, e))?;
        config = config.identity(Identity::from_pem(cert_pem, key_pem));
    }
    Ok(config)
}
