//! Reading the PEM files a [`ccx_config::TlsConfig`] names, each error naming its field.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use crate::TlsError;

pub(crate) fn read(field: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::new(field, format!("{}: {e}", path.display())))
}

/// Every certificate of a PEM file; at least one.
pub(crate) fn certs(field: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(field, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new(field, "no CERTIFICATE block in the file"));
    }
    Ok(certs)
}

pub(crate) fn key(field: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        TlsError::new(
            field,
            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })
}

/// The CA certificates of a PEM file as trust roots.
pub(crate) fn roots(field: &str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(field, &read(field, path)?)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::new(field, format!("unusable CA certificate: {e}")))?;
    }
    Ok(roots)
}
