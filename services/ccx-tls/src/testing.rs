//! A test CA and certificates signed by it, generated at test time and written to a
//! temporary directory, for the TLS tests of every crate.

use std::path::{Path, PathBuf};

use ccx_config::TlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority whose key signs [`TestCa::issue`]'s certificates.
pub struct TestCa {
    dir: tempfile::TempDir,
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and key written to files.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate as DER, to compare with what a server presented.
    pub der: Vec<u8>,
}

impl Issued {
    /// A listener's TLS settings with this certificate, without client CA.
    pub fn tls(&self) -> TlsConfig {
        TlsConfig {
            cert: Some(self.cert.clone()),
            key: Some(self.key.clone()),
            client_ca: None,
        }
    }
}

impl TestCa {
    /// A new CA named `name`, its certificate at [`TestCa::ca_path`].
    pub fn new(name: &str) -> TestCa {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        std::fs::write(dir.path().join("ca.crt"), cert.pem()).expect("write CA");
        TestCa { dir, cert, key }
    }

    /// The CA certificate (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }

    /// A gRPC client's TLS trusting this CA, presenting `identity` if given.
    pub fn client_tls(&self, identity: Option<&Issued>) -> crate::ClientTls {
        let tls = crate::ClientTls::trusting("test.ca", &self.ca_path()).expect("CA");
        match identity {
            Some(id) => tls.presenting("test", &id.tls()).expect("identity"),
            None => tls,
        }
    }

    /// An HTTPS client trusting only this CA, presenting `identity` if given; it does not
    /// follow redirects (tests look at them).
    pub fn https_client(&self, identity: Option<&Issued>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem()).expect("CA");
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10));
        if let Some(id) = identity {
            let mut pem = std::fs::read(&id.cert).expect("certificate");
            pem.extend(std::fs::read(&id.key).expect("key"));
            builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
        }
        builder.build().expect("HTTPS client")
    }

    /// A certificate for `names` (DNS names or IP addresses), usable by servers and clients
    /// alike, written as `<file>.crt` and `<file>.key`.
    pub fn issue(&self, file: &str, names: &[&str]) -> Issued {
        self.issue_into(self.dir.path(), file, names)
    }

    /// As [`TestCa::issue`], into `dir` (rewriting a listener's files rotates its certificate).
    pub fn issue_into(&self, dir: &Path, file: &str, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, file.to_string());
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        let issued = Issued {
            cert: dir.join(format!("{file}.crt")),
            key: dir.join(format!("{file}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("write certificate");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write key");
        issued
    }
}
