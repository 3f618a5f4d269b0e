//! A listener's certificate that follows its files: at most once a second, at a handshake, the
//! certificate and key files are read again and, if they changed and form a valid pair, served
//! from then on. A pair that does not load (one file rewritten before the other) is skipped
//! until it does, with a warning; the last good one stays in use.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::{pem, TlsError};

/// How often the files are compared with what is served.
const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct ReloadingCert {
    section: String,
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    served: Arc<CertifiedKey>,
    /// The file contents `served` came from (or last failed to load from).
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    checked: Instant,
}

impl ReloadingCert {
    /// Loads the pair now; an unusable one is an error naming its field.
    pub(crate) fn load(
        section: &str,
        cert: PathBuf,
        key: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCert, TlsError> {
        let cert_pem = pem::read(&format!("{section}.tls.cert"), &cert)?;
        let key_pem = pem::read(&format!("{section}.tls.key"), &key)?;
        let served = Arc::new(certified(section, &provider, &cert_pem, &key_pem)?);
        Ok(ReloadingCert {
            section: section.to_string(),
            cert,
            key,
            provider,
            state: Mutex::new(State {
                served,
                cert_pem,
                key_pem,
                checked: Instant::now(),
            }),
        })
    }

    fn refresh(&self, state: &mut State) {
        let read = |path: &PathBuf| std::fs::read(path);
        let (cert_pem, key_pem) = match (read(&self.cert), read(&self.key)) {
            (Ok(c), Ok(k)) => (c, k),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(section = %self.section, error = %e,
                    "TLS certificate files unreadable; the loaded certificate stays in use");
                return;
            }
        };
        if cert_pem == state.cert_pem && key_pem == state.key_pem {
            return;
        }
        match certified(&self.section, &self.provider, &cert_pem, &key_pem) {
            Ok(served) => {
                state.served = Arc::new(served);
                tracing::info!(section = %self.section, cert = %self.cert.display(),
                    "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(section = %self.section, error = %e,
                    "new TLS certificate not loaded; the previous one stays in use")
            }
        }
        // Remembered either way: an unusable pair is retried once its files change again.
        state.cert_pem = cert_pem;
        state.key_pem = key_pem;
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = ccx_model::sync::lock(&self.state);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            self.refresh(&mut state);
        }
        Some(Arc::clone(&state.served))
    }
}

/// A certificate chain with its signing key, checked to belong together.
fn certified(
    section: &str,
    provider: &CryptoProvider,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    let cert_field = format!("{section}.tls.cert");
    let key_field = format!("{section}.tls.key");
    let chain = pem::certs(&cert_field, cert_pem)?;
    let key = pem::key(&key_field, key_pem)?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::new(&key_field, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| {
        TlsError::new(
            &key_field,
            format!("does not belong to the certificate of {cert_field}: {e}"),
        )
    })?;
    Ok(certified)
}
