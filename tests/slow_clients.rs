//! Clients that send headers and then stall (or trickle) must not stop ingest: a stalled body
//! holds only the bytes it sent and no decode slot, and is cut off after the body timeout
//! with 408 / DEADLINE_EXCEEDED; refusals that leave a body unread say `Connection: close`.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::{TestServer, fixture};
use futures_util::StreamExt as _;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STALLED: usize = 64;
const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

fn traces_protobuf() -> Vec<u8> {
    let request: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_slice(&fixture("otlp/rag-api-traces-4.json")).expect("fixture");
    prost::Message::encode_to_vec(&request)
}

/// Sends the headers of a `POST` promising `content_length` bytes and `sent` of them.
async fn stall(server: &TestServer, path: &str, content_length: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(server.http).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: tracehouse\r\ncontent-type: application/x-protobuf\r\n\
         content-length: {content_length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    stream.write_all(&vec![0u8; sent]).await.expect("some body");
    stream
}

/// What a stalled connection is finally told, lower-cased.
async fn answer_of(mut stream: TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).to_lowercase()
}

async fn post_traces(
    client: &reqwest::Client,
    server: &TestServer,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("answered")
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_http_bodies_hold_no_slot_and_are_cut_off() {
    let server =
        TestServer::start_with(|c| c.ingest.body_timeout = Duration::from_secs(1), None).await;
    let mut stalled = Vec::new();
    for i in 0..STALLED {
        let path = if i % 2 == 0 {
            "/v1/traces"
        } else {
            "/v2.1/track"
        };
        stalled.push(stall(&server, path, 1_000, 10).await);
    }
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let response = post_traces(&client, &server, traces_protobuf()).await;
        assert_eq!(response.status(), 200);
    }
    for stream in stalled {
        let answer = answer_of(stream).await;
        assert!(answer.starts_with("http/1.1 408"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        assert!(answer.contains("too slowly"), "{answer}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_grpc_streams_hold_no_slot_and_are_cut_off() {
    let server =
        TestServer::start_with(|c| c.ingest.body_timeout = Duration::from_secs(1), None).await;
    let tcp = TcpStream::connect(server.grpc).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2");
    tokio::spawn(connection);
    let mut answers = Vec::new();
    for _ in 0..STALLED {
        // A gRPC frame header promising 1,000 bytes, three of them, then nothing.
        let first = Frame::data(Bytes::from_static(&[0, 0, 0, 0x03, 0xe8, 1, 2, 3]));
        let frames = futures_util::stream::iter([Ok::<_, Infallible>(first)])
            .chain(futures_util::stream::pending());
        let request = http::Request::post(format!("http://{}{TRACES_PATH}", server.grpc))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(StreamBody::new(frames))
            .expect("request");
        sender.ready().await.expect("ready");
        answers.push(tokio::spawn(sender.send_request(request)));
    }
    let body = traces_protobuf();
    for _ in 0..10 {
        common::raw_grpc_call(server.grpc_url(), TRACES_PATH, body.clone())
            .await
            .expect("a well-behaved export is answered");
    }
    for answer in answers {
        let response = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("answered in time")
            .expect("task")
            .expect("response");
        assert_eq!(
            response.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"4"[..]),
            "DEADLINE_EXCEEDED: {response:?}"
        );
    }
    server.stop().await;
}

/// With the body budget spent by a body still arriving, another request is refused at once
/// (429, `Retry-After`) and told the connection closes, since its body was left unread; once
/// the stalled body is cut off, the budget is back.
#[tokio::test(flavor = "multi_thread")]
async fn a_spent_body_budget_refuses_with_429_and_connection_close() {
    let server = TestServer::start_with(
        |c| {
            c.ingest.body_timeout = Duration::from_secs(1);
            c.ingest.max_concurrent_requests = 1;
            c.ingest.max_body_bytes = 64 * 1024;
        },
        None,
    )
    .await;
    let stalled = stall(&server, "/v1/traces", 64 * 1024, 60 * 1024).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let refused = post_traces(&client, &server, vec![0u8; 20 * 1024]).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["connection"], "close");
    assert!(refused.headers().contains_key("retry-after"));
    assert!(answer_of(stalled).await.starts_with("http/1.1 408"));
    let response = post_traces(&client, &server, traces_protobuf()).await;
    assert_eq!(response.status(), 200);
    server.stop().await;
}

/// Half-sent headers and idle keep-alive connections are closed after the idle timeout, on
/// the ingest and the API ports, so they cannot pile up.
#[tokio::test(flavor = "multi_thread")]
async fn half_sent_headers_and_idle_connections_are_closed() {
    let server = TestServer::start_with(|c| c.idle_timeout = Duration::from_secs(1), None).await;
    let mut open = Vec::new();
    for port in [server.http, server.api] {
        for _ in 0..16 {
            let mut stream = TcpStream::connect(port).await.expect("connect");
            stream
                .write_all(b"POST /v1/traces HTTP/1.1\r\nhost: tracehouse\r\n")
                .await
                .expect("half the headers");
            open.push(stream);
        }
        let mut idle = TcpStream::connect(port).await.expect("connect");
        idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: tracehouse\r\n\r\n")
            .await
            .expect("a whole request");
        let mut answer = [0u8; 64];
        let read = idle.read(&mut answer).await.expect("answered");
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
        open.push(idle);
    }
    for mut stream in open {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the connection was closed by the server");
    }
    let client = reqwest::Client::new();
    let response = post_traces(&client, &server, traces_protobuf()).await;
    assert_eq!(response.status(), 200);
    server.stop().await;
}

/// Like [`stall`], from `source` (another loopback address: a client of its own).
async fn stall_from(
    source: std::net::IpAddr,
    server: &TestServer,
    content_length: usize,
    sent: usize,
) -> Option<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .expect("bind a loopback source address");
    let mut stream = socket.connect(server.http).await.expect("connect");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: tracehouse\r\ncontent-type: application/x-protobuf\r\n\
         content-length: {content_length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(&vec![0u8; sent]).await.ok()?;
    Some(stream)
}

/// One client holding bodies open at the edge of the pace gets only its share of the body
/// budget (429 beyond it); another client's request is still taken.
#[tokio::test(flavor = "multi_thread")]
async fn one_client_cannot_hold_the_whole_body_budget() {
    let server = TestServer::start_with(
        |c| {
            c.ingest.max_body_bytes = 64 * 1024;
            c.ingest.body_timeout = Duration::from_secs(20);
        },
        None,
    )
    .await;
    let greedy: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
    let mut held = Vec::new();
    // 18 bodies of 63 KiB would hold all of the 1 MiB budget (16 bodies' worth).
    for _ in 0..18 {
        if let Some(stream) = stall_from(greedy, &server, 64 * 1024, 63 * 1024).await {
            held.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    // Concatenated protobuf messages are one message with their spans appended.
    let one = traces_protobuf();
    let body = one.repeat((40 * 1024 / one.len()).max(1));
    assert!(
        body.len() > 32 * 1024 && body.len() < 64 * 1024,
        "{}",
        body.len()
    );
    let response = post_traces(&client, &server, body).await;
    assert_eq!(response.status(), 200, "the other client is served");
    let mut refused = 0;
    for stream in held {
        let answer = tokio::time::timeout(Duration::from_secs(2), answer_of(stream))
            .await
            .unwrap_or_default();
        if answer.starts_with("http/1.1 429") {
            assert!(answer.contains("share"), "{answer}");
            refused += 1;
        }
    }
    assert!(
        refused >= 14,
        "18 bodies of 63 KiB against a share of a quarter of 1 MiB: {refused} refused"
    );
    server.stop().await;
}
