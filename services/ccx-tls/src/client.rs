//! What a client of the control plane trusts, and the certificate a replica presents to
//! another one.

use std::path::{Path, PathBuf};

use ccx_config::TlsConfig;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::{pem, TlsError};

/// A gRPC client's TLS: the CA it verifies servers against and, for mutual TLS, its own
/// certificate. Checked when built; each new channel reads the files again, so a channel
/// built after a rotation presents the new certificate.
#[derive(Debug, Clone)]
pub struct ClientTls {
    ca: PemFile,
    identity: Option<(PemFile, PemFile)>,
}

/// A PEM file and the contents it had when checked (used if it cannot be read again).
#[derive(Debug, Clone)]
struct PemFile {
    path: PathBuf,
    checked: Vec<u8>,
}

impl PemFile {
    fn current(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap_or_else(|e| {
            tracing::warn!(path = %self.path.display(), error = %e,
                "TLS file unreadable; its last checked contents are used");
            self.checked.clone()
        })
    }
}

impl ClientTls {
    /// Trusts the CA certificates of the PEM file at `ca`; `field` names it in errors.
    pub fn trusting(field: &str, ca: &Path) -> Result<ClientTls, TlsError> {
        pem::roots(field, ca)?;
        Ok(ClientTls {
            ca: PemFile {
                path: ca.to_path_buf(),
                checked: pem::read(field, ca)?,
            },
            identity: None,
        })
    }

    /// Also presents the certificate and key of `tls` (a replica's own, to its peers);
    /// `section` names them in errors.
    pub fn presenting(mut self, section: &str, tls: &TlsConfig) -> Result<ClientTls, TlsError> {
        let file = |name: &str, path: &Option<PathBuf>| {
            let field = format!("{section}.tls.{name}");
            let path = path
                .as_ref()
                .ok_or_else(|| TlsError::new(&field, "required to present a certificate"))?;
            let checked = pem::read(&field, path)?;
            Ok::<_, TlsError>((
                field,
                PemFile {
                    path: path.clone(),
                    checked,
                },
            ))
        };
        let (cert_field, cert) = file("cert", &tls.cert)?;
        let (key_field, key) = file("key", &tls.key)?;
        pem::certs(&cert_field, &cert.checked)?;
        pem::key(&key_field, &key.checked)?;
        self.identity = Some((cert, key));
        Ok(self)
    }

    /// tonic's client configuration, from the files as they are now; the server name checked
    /// is the endpoint's host.
    pub fn tonic(&self) -> ClientTlsConfig {
        let config =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca.current()));
        match &self.identity {
            Some((cert, key)) => config.identity(Identity::from_pem(cert.current(), key.current())),
            None => config,
        }
    }
}
