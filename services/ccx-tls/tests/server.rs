//! A listener's TLS against real handshakes on loopback: the certificate it presents, a
//! rotation picked up without restart, clients refused for what they lack, and errors that
//! name the setting.

use std::sync::Arc;
use std::time::Duration;

use ccx_config::TlsConfig;
use ccx_tls::testing::{Issued, TestCa};
use ccx_tls::{ClientCerts, ServerTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_stream::StreamExt;

/// Accepts TLS connections and answers each with one byte, so a client knows its handshake
/// was accepted.
async fn echo_server(tls: ServerTls) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut incoming = tls.incoming(listener);
        while let Some(Ok(mut stream)) = incoming.next().await {
            tokio::spawn(async move {
                let _ = stream.write_all(b"!").await;
                let _ = stream.flush().await;
                // Held open until the client has read.
                let _ = stream.read(&mut [0u8; 1]).await;
            });
        }
    });
    addr
}

fn connector(ca: &TestCa, identity: Option<&Issued>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca.ca_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => {
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(&id.cert)
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&id.key).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    // Every handshake a full one: a resumed session shows the certificate it began with.
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// The certificate the server presented, once it answered; an error if it refused.
async fn handshake(
    addr: std::net::SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let mut byte = [0u8; 1];
    // TLS 1.3 reports a refused client certificate on the first read.
    tls.read_exact(&mut byte).await?;
    let (_, session) = tls.get_ref();
    Ok(session.peer_certificates().unwrap()[0].to_vec())
}

#[tokio::test]
async fn a_rotated_certificate_is_served_from_the_next_handshake() {
    let ca = TestCa::new("ccx test CA");
    let dir = tempfile::tempdir().unwrap();
    let first = ca.issue_into(dir.path(), "server", &["localhost", "127.0.0.1"]);
    let tls = ServerTls::http("wallboard", &first.tls(), ClientCerts::Required).unwrap();
    let addr = echo_server(tls).await;
    let client = connector(&ca, None);
    assert_eq!(handshake(addr, &client).await.unwrap(), first.der);

    // Rewritten in place, as a mounted Secret or a renewal job does.
    let second = ca.issue_into(dir.path(), "server", &["localhost", "127.0.0.1"]);
    assert_ne!(first.der, second.der);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(handshake(addr, &client).await.unwrap(), second.der);

    // A key that belongs to another certificate is not taken: the last good pair stays.
    let other = ca.issue("other", &["localhost"]);
    std::fs::copy(&other.key, &second.key).unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(handshake(addr, &client).await.unwrap(), second.der);
}

#[tokio::test]
async fn clients_are_refused_for_what_they_lack() {
    let ca = TestCa::new("ccx test CA");
    let server = ca.issue("server", &["localhost"]);
    let client_cert = ca.issue("client", &["client"]);
    let tls = TlsConfig {
        client_ca: Some(ca.ca_path()),
        ..server.tls()
    };
    let addr =
        echo_server(ServerTls::grpc("collector", &tls, ClientCerts::Required).unwrap()).await;

    assert_eq!(
        handshake(addr, &connector(&ca, Some(&client_cert)))
            .await
            .unwrap(),
        server.der
    );
    // No client certificate where one is required.
    assert!(handshake(addr, &connector(&ca, None)).await.is_err());
    // A client certificate of another CA.
    let stranger = TestCa::new("another CA");
    let foreign = stranger.issue("client", &["client"]);
    assert!(handshake(addr, &connector(&ca, Some(&foreign)))
        .await
        .is_err());
    // A client that does not trust the server's CA.
    assert!(handshake(addr, &connector(&stranger, Some(&client_cert)))
        .await
        .is_err());
    // A plaintext client gets no answer: its request is not a TLS handshake.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"!") && !buf.starts_with(b"HTTP"),
        "{read:?} {buf:?}"
    );

    // Optional client certificates: none is fine, a foreign one is not.
    let optional = ServerTls::grpc("control", &tls, ClientCerts::Optional).unwrap();
    let addr = echo_server(optional).await;
    assert!(handshake(addr, &connector(&ca, None)).await.is_ok());
    assert!(handshake(addr, &connector(&ca, Some(&foreign)))
        .await
        .is_err());
}

#[test]
fn unusable_settings_name_their_field() {
    let ca = TestCa::new("ccx test CA");
    let server = ca.issue("server", &["localhost"]);
    let other = ca.issue("other", &["localhost"]);
    let error = |tls: TlsConfig| {
        ServerTls::http("wallboard", &tls, ClientCerts::Required)
            .unwrap_err()
            .to_string()
    };
    let missing = error(TlsConfig {
        cert: Some("/nonexistent/server.crt".into()),
        ..server.tls()
    });
    assert!(
        missing.starts_with("wallboard.tls.cert: /nonexistent/server.crt:"),
        "{missing}"
    );
    let swapped = error(TlsConfig {
        cert: Some(server.key.clone()),
        key: Some(server.cert.clone()),
        client_ca: None,
    });
    assert!(swapped.starts_with("wallboard.tls.cert: "), "{swapped}");
    let mismatched = error(TlsConfig {
        key: Some(other.key.clone()),
        ..server.tls()
    });
    assert!(
        mismatched.starts_with("wallboard.tls.key: does not belong to the certificate"),
        "{mismatched}"
    );
    let no_ca = error(TlsConfig {
        client_ca: Some(server.key.clone()),
        ..server.tls()
    });
    assert!(no_ca.starts_with("wallboard.tls.client_ca: "), "{no_ca}");
    let client = ccx_tls::ClientTls::trusting("control.ca", std::path::Path::new("/nonexistent"));
    assert!(client
        .unwrap_err()
        .to_string()
        .starts_with("control.ca: /nonexistent"));
}

#[test]
fn plaintext_is_warned_off_loopback_only() {
    let loopback = "127.0.0.1:1".parse().unwrap();
    let any = "0.0.0.0:1".parse().unwrap();
    assert!(!ccx_tls::warn_if_plaintext("wallboard", loopback, false));
    assert!(!ccx_tls::warn_if_plaintext(
        "wallboard",
        "[::1]:1".parse().unwrap(),
        false
    ));
    assert!(ccx_tls::warn_if_plaintext("wallboard", any, false));
    assert!(!ccx_tls::warn_if_plaintext("wallboard", any, true));
}
