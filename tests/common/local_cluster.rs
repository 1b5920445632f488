//! A local ClickHouse cluster for tests: `scripts/local-cluster` (Debian's ZooKeeper and four
//! 18.16 nodes as 2 shards × 2 replicas, cluster `tracehouse`), started per test on free
//! loopback ports and stopped when the test ends (or, by the script's watchdog, when the test
//! process dies).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tracehouse::store::clickhouse::ClickHouseConfig;

pub const CLUSTER: &str = "tracehouse";

pub struct LocalCluster {
    dir: PathBuf,
    /// HTTP ports of nodes 1–4: nodes 1 and 2 are shard 1's replicas, 3 and 4 shard 2's.
    pub http_ports: Vec<u16>,
    /// Their native (TCP) ports, in the same order.
    pub tcp_ports: Vec<u16>,
    /// ZooKeeper's client port.
    pub zookeeper_port: u16,
}

/// The ports the script printed as `NAME="port port …"`.
fn ports(printed: &str, name: &str) -> Vec<u16> {
    printed
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{name} printed: {printed}"))
        .trim_matches('"')
        .split_whitespace()
        .map(|port| port.parse().expect("port"))
        .collect()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/local-cluster")
}

fn run(args: &[&str]) -> String {
    let output = Command::new(script())
        .args(args)
        .output()
        .expect("scripts/local-cluster runs");
    assert!(
        output.status.success(),
        "scripts/local-cluster {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl LocalCluster {
    pub fn start() -> Self {
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tracehouse-cluster-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let printed = run(&[
            "start",
            &dir.display().to_string(),
            &std::process::id().to_string(),
        ]);
        LocalCluster {
            dir,
            http_ports: ports(&printed, "HTTP_PORTS"),
            tcp_ports: ports(&printed, "TCP_PORTS"),
            zookeeper_port: ports(&printed, "ZK_PORT")[0],
        }
    }

    /// Node `node`'s (1–4) HTTP interface.
    pub fn url(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.http_ports[node - 1])
    }

    /// A store configuration on the cluster through node `node`.
    pub fn config(&self, node: usize, database: &str) -> ClickHouseConfig {
        let mut config = ClickHouseConfig::new(&self.url(node), database);
        config.retention_days = 0;
        config.cluster = Some(CLUSTER.to_owned());
        config
    }

    /// SIGKILLs node `node`, keeping its data.
    pub fn kill(&self, node: usize) {
        run(&["kill", &self.dir.display().to_string(), &node.to_string()]);
    }

    /// Starts node `node` again on its ports and data.
    pub fn restart(&self, node: usize) {
        run(&[
            "restart",
            &self.dir.display().to_string(),
            &node.to_string(),
        ]);
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The servers' own account of a failed test, before their directory goes.
            for node in 1..=4 {
                let log = self.dir.join(format!("node{node}/server.log.err"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let errors: Vec<&str> = text
                    .lines()
                    .filter(|line| line.contains("<Error>"))
                    .collect();
                let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
                eprintln!(
                    "--- node {node}: {} errors, {} 'Session expired', {} 'Unknown status'; the last:",
                    errors.len(),
                    count("Session expired"),
                    count("Unknown status")
                );
                for line in &errors[errors.len().saturating_sub(8)..] {
                    eprintln!("{}", line.chars().take(400).collect::<String>());
                }
            }
        }
        let _ = Command::new(script())
            .args(["stop", &self.dir.display().to_string()])
            .status();
    }
}
