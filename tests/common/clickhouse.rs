//! Real ClickHouse engines for tests, each started once per test binary on a free loopback
//! port and shared by its tests (a database per test):
//! - Debian's `clickhouse-server` 18.16, with its own config and data directory; a shell
//!   watchdog kills it and removes its files when the test process exits. Fault tests (kill,
//!   restart) start servers of their own.
//! - the current engine (ClickHouse 26.x) from PyPI's chDB, behind ClickHouse's HTTP interface
//!   (`tests/python/chdb_http.py`), which exits with the test process.
//!
//! Tests that are not about faults run on both: [`on_both_engines!`].
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::free_port;

use tracehouse::store::clickhouse::{ClickHouseConfig, Compression};

/// `TRACEHOUSE_TEST_CLICKHOUSE_URL` to use a running 18.16-compatible server instead of
/// starting one.
const URL_ENV: &str = "TRACEHOUSE_TEST_CLICKHOUSE_URL";

/// The ClickHouse engines every store test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Debian's clickhouse-server 18.16: the oldest release the schema supports.
    ClickHouse18,
    /// chDB's engine (ClickHouse 26.x): the releases users run.
    Chdb,
}

impl Engine {
    /// The engine's server shared by this test binary.
    pub fn url(self) -> String {
        match self {
            Engine::ClickHouse18 => shared_url(),
            Engine::Chdb => shared_chdb_url(),
        }
    }

    /// A store configuration for `database` on this engine. chDB's endpoint speaks the HTTP
    /// interface without ClickHouse's lz4 block framing, so rows go uncompressed there.
    pub fn config(self, database: &str) -> ClickHouseConfig {
        let mut config = ClickHouseConfig::new(&self.url(), database);
        config.retention_days = 0;
        if self == Engine::Chdb {
            config.compression = Compression::None;
        }
        config
    }
}

/// Runs `async fn name(engine: Engine)` as two tests, `name::clickhouse_18` and `name::chdb`.
#[allow(unused_macros)]
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread")]
                async fn clickhouse_18() {
                    super::$test(crate::common::clickhouse::Engine::ClickHouse18).await
                }

                #[tokio::test(flavor = "multi_thread")]
                async fn chdb() {
                    super::$test(crate::common::clickhouse::Engine::Chdb).await
                }
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_engines;

pub struct ClickHouseServer {
    pub http_port: u16,
    dir: PathBuf,
    watchdog: Option<Child>,
}

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRACEHOUSE_CLICKHOUSE_SERVER") {
        return PathBuf::from(path);
    }
    for candidate in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "clickhouse-server not found: run scripts/test as root, or apt-get install clickhouse-server"
    );
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#;

impl ClickHouseServer {
    /// Starts a server of its own (for tests that kill and restart it).
    pub fn start() -> Self {
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tracehouse-clickhouse-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("data")).expect("clickhouse dir");
        let http_port = free_port();
        let tcp_port = free_port();
        let data = dir.join("data");
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{log}</log><errorlog>{log}.err</errorlog></logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{data}/</path>
  <tmp_path>{data}/tmp/</tmp_path>
  <user_files_path>{data}/user_files/</user_files_path>
  <format_schema_path>{data}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <timezone>UTC</timezone>
</yandex>
"#,
            log = dir.join("server.log").display(),
            data = data.display(),
        );
        std::fs::write(dir.join("config.xml"), config).expect("config");
        std::fs::write(dir.join("users.xml"), USERS).expect("users");
        let mut server = ClickHouseServer {
            http_port,
            dir,
            watchdog: None,
        };
        server.launch();
        server
    }

    /// Runs the server under a watchdog that kills it when this process or the server ends.
    fn launch(&mut self) {
        let script = r#"
            "$1" --config-file="$2/config.xml" >"$2/stdout.log" 2>&1 &
            ch=$!
            echo "$ch" >"$2/server.pid"
            while kill -0 "$3" 2>/dev/null && kill -0 "$ch" 2>/dev/null; do sleep 0.3; done
            kill -9 "$ch" 2>/dev/null
            if ! kill -0 "$3" 2>/dev/null; then rm -rf "$2"; fi
        "#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(server_binary())
            .arg(&self.dir)
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("clickhouse watchdog starts");
        self.watchdog = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if ping(self.http_port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("server.log.err")).unwrap_or_default();
        panic!("clickhouse did not start on port {}: {log}", self.http_port);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// SIGKILLs the server, keeping its data.
    pub fn kill(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("server.pid")).expect("server pid");
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.launch();
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server shared by every test of this process, or `TRACEHOUSE_TEST_CLICKHOUSE_URL`.
pub fn shared_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            if let Ok(url) = std::env::var(URL_ENV) {
                return url;
            }
            let server = ClickHouseServer::start();
            let url = server.url();
            // Lives until the process exits; the watchdog then stops it.
            std::mem::forget(server);
            url
        })
        .clone()
}

/// The chDB endpoint shared by every test of this process.
fn shared_chdb_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED.get_or_init(start_chdb).clone()
}

/// Starts `tests/python/chdb_http.py` in the test virtualenv; it prints its port once ready and
/// exits (removing its data) when this process does.
fn start_chdb() -> String {
    let dir = std::env::temp_dir().join(format!("tracehouse-chdb-{}", std::process::id()));
    start_chdb_in(&dir, None)
}

/// A chDB endpoint of its own, with data in `dir` and, given one, a clickhouse-local
/// configuration file (clusters, ZooKeeper, macros).
pub fn start_chdb_in(dir: &std::path::Path, config: Option<&std::path::Path>) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/chdb_http.py");
    let mut command = Command::new(super::python());
    command.arg(&script).arg("--data").arg(dir);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the chDB endpoint starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let _ = std::io::BufReader::new(stdout).read_line(&mut line);
    let port = line
        .strip_prefix("listening ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| {
            let status = child.try_wait().ok().flatten();
            panic!(
                "the chDB endpoint did not start ({status:?}, said {line:?}): \
                 run scripts/test, which installs chdb into .venv"
            )
        });
    // Runs until this process exits; the endpoint notices and stops.
    std::mem::forget(child);
    format!("http://127.0.0.1:{port}")
}

/// A database name of its own for one test.
pub fn database_for(test: &str) -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let clean: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(
        "t_{clean}_{}_{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether the server answers `GET /ping` with `Ok.`.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.ends_with("Ok.\n")
}

/// Runs one SQL statement over HTTP (for assertions that bypass tracehouse).
pub async fn query(url: &str, sql: &str) -> Result<String, String> {
    let response = reqwest::Client::new()
        .post(url)
        .body(sql.to_owned())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if ok { Ok(text) } else { Err(text) }
}

/// Forgets that migration `version` ran (18.16 has no synchronous DELETE): the next open runs
/// it again, as after a migration that failed half-way.
pub async fn forget_migration(engine: Engine, database: &str, version: u32) {
    for statement in [
        format!("CREATE TABLE `{database}`.kept AS `{database}`.schema_migrations"),
        format!(
            "INSERT INTO `{database}`.kept SELECT * FROM `{database}`.schema_migrations \
             WHERE version != {version}"
        ),
        format!("DROP TABLE `{database}`.schema_migrations"),
        format!("RENAME TABLE `{database}`.kept TO `{database}`.schema_migrations"),
    ] {
        query(&engine.url(), &statement).await.expect(&statement);
    }
}

/// A fresh ClickHouse store on `engine` and a fresh SQLite one (with the directory it lives in).
pub async fn both_stores(
    engine: Engine,
    test: &str,
) -> (
    tracehouse::store::clickhouse::ClickHouseStore,
    tracehouse::store::sqlite::SqliteStore,
    tempfile::TempDir,
) {
    let clickhouse =
        tracehouse::store::clickhouse::ClickHouseStore::open(&engine.config(&database_for(test)))
            .await
            .expect("clickhouse");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = tracehouse::store::sqlite::SqliteStore::open(dir.path())
        .await
        .expect("sqlite");
    (clickhouse, sqlite, dir)
}
