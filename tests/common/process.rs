//! tracehouse as a separate process, for tests that SIGKILL it or measure its memory.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct TracehouseProcess {
    child: Child,
    pub http_port: u16,
    pub grpc_port: u16,
    pub api_port: u16,
    args: Vec<String>,
}

impl TracehouseProcess {
    /// Starts `tracehouse serve` on free loopback ports with `data_dir` and extra flags.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        let (http_port, grpc_port, api_port) = (free_port(), free_port(), free_port());
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http-listen".into(),
            format!("127.0.0.1:{http_port}"),
            "--grpc-listen".into(),
            format!("127.0.0.1:{grpc_port}"),
            "--api-listen".into(),
            format!("127.0.0.1:{api_port}"),
            "--max-item-age".into(),
            "3650d".into(),
            "--retention-days".into(),
            "0".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = spawn(&args);
        let process = TracehouseProcess {
            child,
            http_port,
            grpc_port,
            api_port,
            args,
        };
        process.wait_healthy();
        process
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.http_port)) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response);
                if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "tracehouse did not become healthy on port {}",
            self.http_port
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, waiting for the graceful shutdown (a rolling restart's stop).
    pub fn terminate(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Starts again with the same flags and ports.
    pub fn restart(&mut self) {
        self.child = spawn(&self.args);
        self.wait_healthy();
    }

    /// Peak resident memory so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("tracehouse starts")
}

impl Drop for TracehouseProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
