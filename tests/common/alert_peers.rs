//! The real receivers alert notifications go to: Debian's prometheus-alertmanager, aiosmtpd
//! (from PyPI) writing mail to a maildir, and an HTTP server recording what webhooks and
//! Slack are posted.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde_json::Value;

use super::{free_port, python};

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Prometheus Alertmanager on a loopback port, routing everything to a receiver that
/// sends nothing.
pub struct Alertmanager {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

impl Alertmanager {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .expect("config");
        let port = free_port();
        let mut child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: one instance, and no port outside loopback.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{ALERTMANAGER}: {e} (scripts/test installs prometheus-alertmanager)")
            });
        wait_for_port(port, "alertmanager", &mut child);
        Alertmanager {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The active alerts, as the API lists them.
    pub async fn alerts(&self) -> Vec<Value> {
        let response = reqwest::get(format!("{}/api/v2/alerts", self.url()))
            .await
            .expect("alertmanager answers");
        response.json().await.expect("json")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd's Mailbox handler on a loopback port: each message is a file in a maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("mail");
        let port = free_port();
        let mut child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        wait_for_port(port, "aiosmtpd", &mut child);
        SmtpServer {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    /// Every message received, as text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Posts = Arc<Mutex<Vec<(String, Value)>>>;

/// Records every JSON body POSTed to `/<name>`; `/slow` answers only after a minute.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    posts: Posts,
}

async fn record(
    State(posts): State<Posts>,
    Path(name): Path<String>,
    body: String,
) -> &'static str {
    if name == "slow" {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    posts.lock().expect("lock").push((name, value));
    "ok"
}

impl HttpReceiver {
    pub async fn start() -> Self {
        let posts: Posts = Arc::default();
        let router = Router::new()
            .route("/{name}", post(record))
            .with_state(Arc::clone(&posts));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        HttpReceiver { addr, posts }
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// The bodies posted to `/<name>`, in order.
    pub fn posts(&self, name: &str) -> Vec<Value> {
        let posts = self.posts.lock().expect("lock");
        posts
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}
