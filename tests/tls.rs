//! TLS on every listener (`--tls-cert`/`--tls-key`): OTLP/HTTP and the query API over HTTPS,
//! OTLP/gRPC over TLS, plain connections refused, and a renewed certificate served without a
//! restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TestServer, fixture};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tracehouse::tls::TlsFiles;

/// A self-signed certificate for `localhost`, written where the server reads it.
struct TestCertificate {
    der: CertificateDer<'static>,
    pem: String,
}

fn write_certificate(files: &TlsFiles) -> TestCertificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let pem = generated.cert.pem();
    // Written aside and renamed, as certificate managers do, so no half file is ever read.
    for (path, text) in [
        (&files.key, generated.signing_key.serialize_pem()),
        (&files.cert, pem.clone()),
    ] {
        let aside = path.with_extension("tmp");
        std::fs::write(&aside, text).expect("write");
        std::fs::rename(&aside, path).expect("rename");
    }
    TestCertificate {
        der: generated.cert.der().clone(),
        pem,
    }
}

fn connector(trusted: &TestCertificate) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.der.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One HTTPS request; the status, the certificate the server presented and the headers.
async fn https(
    trusted: &TestCertificate,
    address: std::net::SocketAddr,
    request: http::Request<Full<Bytes>>,
) -> Result<(u16, CertificateDer<'static>, http::HeaderMap), String> {
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    let tls = connector(trusted)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first().cloned())
        .ok_or("no certificate")?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let _ = response.into_body().collect().await;
    Ok((status, presented, headers))
}

fn post_traces() -> http::Request<Full<Bytes>> {
    http::Request::post("/v1/traces")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(fixture(
            "otlp/rag-api-traces-4.json",
        ))))
        .expect("request")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_listener_speaks_tls_and_takes_a_renewed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let first = write_certificate(&files);
    let server = TestServer::start_with(|c| c.tls = Some(files.clone()), None).await;

    let (status, presented, _) = https(&first, server.http, post_traces())
        .await
        .expect("https");
    assert_eq!((status, &presented), (200, &first.der));
    let search = http::Request::get("/api/v1/search?q=answered")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("request");
    assert_eq!(
        https(&first, server.api, search).await.expect("https").0,
        200
    );

    let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{}", server.grpc))
        .expect("endpoint")
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&first.pem))
                .domain_name("localhost"),
        )
        .expect("tls config");
    let mut grpc = TraceServiceClient::new(endpoint.connect().await.expect("gRPC over TLS"));
    let request: ExportTraceServiceRequest =
        serde_json::from_slice(&fixture("otlp/rag-api-traces-4.json")).expect("fixture");
    grpc.export(request).await.expect("export over TLS");

    // Signing in over TLS sets a cookie the browser keeps off plain HTTP.
    let token = common::issue_token(&*server.store, &["shop"], false).await;
    let login = http::Request::post("/login")
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!("token={token}"))))
        .expect("request");
    let (status, _, headers) = https(&first, server.api, login).await.expect("https");
    let cookie = headers
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(status, 303, "{headers:?}");
    assert!(
        cookie.ends_with("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // Plain HTTP on a TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.http))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));

    let renewed = write_certificate(&files);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match https(&renewed, server.http, post_traces()).await {
            Ok((200, presented, _)) if presented == renewed.der => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("the renewed certificate was never served: {other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_key_that_does_not_match_its_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    write_certificate(&files);
    let other = rcgen::KeyPair::generate().expect("key");
    std::fs::write(&files.key, other.serialize_pem()).expect("write");
    let Err(error) = tracehouse::tls::Tls::load(files) else {
        panic!("a mismatched key was accepted")
    };
    assert!(
        error
            .to_string()
            .contains("is not the key of the certificate"),
        "{error}"
    );
}
