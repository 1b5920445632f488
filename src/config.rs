//! Command-line flags (each also a `TRACEHOUSE_*` environment variable) and the typed runtime
//! configuration built from them. Tests build [`ServeConfig`] directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::alerts::AlertsConfig;
use crate::genai::GenAiPolicy;
use crate::ingest::IngestConfig;
use crate::normalize::Limits;
use crate::pipeline::{PipelineConfig, SpoolConfig};
use crate::store::QueryLimits;
use crate::store::clickhouse::{ClickHouseConfig, Compression};
use crate::tls::TlsFiles;

#[derive(Debug, Parser)]
#[command(
    name = "tracehouse",
    version,
    about = "Self-hosted OpenTelemetry APM backend in the Application Insights model"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive telemetry and answer queries.
    Serve(Box<ServeArgs>),
    /// Apply the store's schema migrations and exit (or print them with `--print`).
    Migrate(MigrateArgs),
    /// Issue, list and revoke instrumentation keys; check connection strings.
    Keys {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: crate::keys::KeysCommand,
    },
    /// Run a KQL query against the store (or a running server's API) and print the answer.
    Query(Box<crate::query_cli::QueryArgs>),
    /// Issue, list and revoke query API tokens.
    Tokens {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: crate::tokens::cli::TokensCommand,
    },
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the DDL instead of applying it: ClickHouse's for `--clickhouse-version` (or the
    /// version of the server at `--clickhouse-url`), else SQLite's.
    #[arg(long)]
    pub print: bool,
    /// The ClickHouse version to render the DDL for, e.g. `25.8`.
    #[arg(long, requires = "print")]
    pub clickhouse_version: Option<String>,
}

/// Where data is stored.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database (and the ClickHouse spool).
    #[arg(long, env = "TRACEHOUSE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Store in ClickHouse at this HTTP URL (e.g. `http://localhost:8123`) instead of SQLite.
    #[arg(long, env = "TRACEHOUSE_CLICKHOUSE_URL")]
    pub clickhouse_url: Option<String>,
    #[arg(long, env = "TRACEHOUSE_CLICKHOUSE_USER")]
    pub clickhouse_user: Option<String>,
    #[arg(long, env = "TRACEHOUSE_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
    #[arg(
        long,
        env = "TRACEHOUSE_CLICKHOUSE_DATABASE",
        default_value = "tracehouse"
    )]
    pub clickhouse_database: String,
    /// Run on this cluster of the ClickHouse servers' `remote_servers`: local tables on every
    /// node (replicated when shards have replicas), `Distributed` tables in front, DDL
    /// `ON CLUSTER`, rows sharded by operation id.
    #[arg(long, env = "TRACEHOUSE_CLICKHOUSE_CLUSTER")]
    pub clickhouse_cluster: Option<String>,
    /// Days of telemetry kept; 0 keeps everything.
    #[arg(long, env = "TRACEHOUSE_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// How rows travel to ClickHouse: `lz4` (ClickHouse's own framing) or `none` (for proxies
    /// and endpoints that do not speak it).
    #[arg(
        long,
        env = "TRACEHOUSE_CLICKHOUSE_COMPRESSION",
        value_enum,
        default_value = "lz4"
    )]
    pub clickhouse_compression: Compression,
    /// Longest a query API read may run before it answers 503 (e.g. `30s`).
    #[arg(long, env = "TRACEHOUSE_QUERY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub query_timeout: Duration,
    /// Most memory one query API read may use in ClickHouse before it answers 503.
    #[arg(long, env = "TRACEHOUSE_QUERY_MAX_MEMORY", default_value = "2GiB", value_parser = parse_bytes)]
    pub query_max_memory: usize,
}

impl StoreArgs {
    /// The ClickHouse settings, when ClickHouse is selected.
    pub fn clickhouse(&self) -> Option<ClickHouseConfig> {
        self.clickhouse_url.as_ref().map(|url| ClickHouseConfig {
            url: url.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            database: self.clickhouse_database.clone(),
            retention_days: self.retention_days,
            compression: self.clickhouse_compression,
            query_limits: self.query_limits(),
            cluster: self.clickhouse_cluster.clone(),
        })
    }

    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits {
            timeout: self.query_timeout,
            max_memory_bytes: self.query_max_memory as u64,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// OTLP/gRPC listen address.
    #[arg(long, env = "TRACEHOUSE_GRPC_LISTEN", default_value = "0.0.0.0:4317")]
    pub grpc_listen: SocketAddr,
    /// OTLP/HTTP and Application Insights ingestion listen address.
    #[arg(long, env = "TRACEHOUSE_HTTP_LISTEN", default_value = "0.0.0.0:4318")]
    pub http_listen: SocketAddr,
    /// Query API listen address.
    /// Loopback by default: the query API has no authentication yet, and what it serves
    /// (prompts, completions, every attribute) must not be open to the network by accident.
    #[arg(long, env = "TRACEHOUSE_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub api_listen: SocketAddr,
    /// Largest request body, on the wire and decompressed (e.g. `8MiB`).
    #[arg(long, env = "TRACEHOUSE_MAX_BODY_BYTES", default_value = "8MiB", value_parser = parse_bytes)]
    pub max_body_bytes: usize,
    /// Requests decoded at once, over all transports; bodies being received may hold this
    /// many bodies' worth of bytes.
    #[arg(long, env = "TRACEHOUSE_MAX_CONCURRENT_REQUESTS", default_value_t = 16)]
    pub max_concurrent_requests: usize,
    /// Most bytes one request's rows may take once stored (resource attributes count on every
    /// row); larger requests get 413 before anything is written.
    #[arg(long, env = "TRACEHOUSE_MAX_REQUEST_STORED_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub max_request_stored_bytes: usize,
    /// The part of that body budget one client address may hold (never less than one
    /// largest body); 1 when every request comes through one proxy address.
    #[arg(long, env = "TRACEHOUSE_CLIENT_BODY_SHARE", default_value_t = 0.25)]
    pub client_body_share: f64,
    /// PEM certificate chain: serve OTLP gRPC, OTLP/HTTP and track, and the query API over TLS.
    /// Re-read when the file changes.
    #[arg(long, env = "TRACEHOUSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "TRACEHOUSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long an HTTP connection may take to send its request headers, or stay idle between
    /// keep-alive requests, before it is closed.
    #[arg(long, env = "TRACEHOUSE_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// How long a request body may take to start arriving; after it, bodies must keep up
    /// 64 KiB/s or are cut off with 408 / DEADLINE_EXCEEDED.
    #[arg(long, env = "TRACEHOUSE_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Bytes of rows queued for the store before clients get retryable errors.
    #[arg(long, env = "TRACEHOUSE_MAX_QUEUE_BYTES", default_value = "32MiB", value_parser = parse_bytes)]
    pub max_queue_bytes: usize,
    /// Rows per batch written to the store.
    #[arg(long, env = "TRACEHOUSE_BATCH_MAX_ROWS", default_value_t = 50_000)]
    pub batch_max_rows: usize,
    /// Bytes per batch written to the store.
    #[arg(long, env = "TRACEHOUSE_BATCH_MAX_BYTES", default_value = "16MiB", value_parser = parse_bytes)]
    pub batch_max_bytes: usize,
    /// Longest time rows wait for their batch (e.g. `200ms`).
    #[arg(long, env = "TRACEHOUSE_BATCH_MAX_DELAY", default_value = "200ms", value_parser = parse_duration)]
    pub batch_max_delay: Duration,
    /// Oldest accepted item timestamp (e.g. `7d`).
    #[arg(long, env = "TRACEHOUSE_MAX_ITEM_AGE", default_value = "7d", value_parser = parse_duration)]
    pub max_item_age: Duration,
    /// Furthest accepted item timestamp in the future (clock skew).
    #[arg(long, env = "TRACEHOUSE_MAX_ITEM_FUTURE", default_value = "1h", value_parser = parse_duration)]
    pub max_item_future: Duration,
    /// Longest attribute value kept; longer ones are cut and listed in `_tracehouse.truncated`.
    #[arg(long, env = "TRACEHOUSE_MAX_ATTRIBUTE_VALUE_BYTES", default_value = "16KiB", value_parser = parse_bytes)]
    pub max_attribute_value_bytes: usize,
    /// Most attributes kept per item.
    #[arg(
        long,
        env = "TRACEHOUSE_MAX_ATTRIBUTES_PER_ITEM",
        default_value_t = 256
    )]
    pub max_attributes_per_item: usize,
    /// Bytes of acknowledged batches kept on disk while ClickHouse is unreachable.
    #[arg(long, env = "TRACEHOUSE_SPOOL_MAX_BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    pub spool_max_bytes: usize,
    /// How long shutdown waits for in-flight requests and queued rows.
    #[arg(long, env = "TRACEHOUSE_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Origins allowed to call the query API from a browser (comma-separated, or `*`); none
    /// by default.
    #[arg(long, env = "TRACEHOUSE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Tell Application Insights SDKs that Live Metrics is being watched, so they post data
    /// points every second (kept in memory, shown at `/api/v1/live`).
    #[arg(long, env = "TRACEHOUSE_LIVE_METRICS")]
    pub live_metrics: bool,
    /// Refuse ingest without a valid instrumentation key (issue them with `tracehouse keys
    /// create`); without it any key, or none, is accepted and recorded.
    #[arg(long, env = "TRACEHOUSE_REQUIRE_KEYS")]
    pub require_keys: bool,
    /// Refuse query API requests (and `/metrics`) without a valid `Authorization: Bearer`
    /// token (issue them with `tracehouse tokens create`); implied by `--require-keys`.
    #[arg(long, env = "TRACEHOUSE_REQUIRE_TOKENS")]
    pub require_tokens: bool,
    /// YAML file of LLM deployment quotas (tokens and requests per minute per target and
    /// model), reported against usage per minute.
    #[arg(long, env = "TRACEHOUSE_GENAI_QUOTA")]
    pub genai_quota: Option<PathBuf>,
    /// YAML file of token prices (US dollars per million) that override or extend the
    /// built-in list prices.
    #[arg(long, env = "TRACEHOUSE_GENAI_PRICES")]
    pub genai_prices: Option<PathBuf>,
    /// `off` drops the prompts and completions GenAI instrumentations record, at ingest.
    #[arg(long, env = "TRACEHOUSE_GENAI_CAPTURE_CONTENT", default_value = "on", value_parser = parse_on_off)]
    pub genai_capture_content: bool,
    #[command(flatten)]
    pub alerts: crate::alerts::cli::AlertArgs,
}

/// Everything `serve` needs, already validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    /// ClickHouse instead of the embedded SQLite store.
    pub clickhouse: Option<ClickHouseConfig>,
    /// Days of telemetry kept; 0 keeps everything.
    pub retention_days: u32,
    pub ingest: IngestConfig,
    pub pipeline: PipelineConfig,
    pub shutdown_timeout: Duration,
    /// Browser origins allowed to call the query API; `*` allows any.
    pub cors_origins: Vec<String>,
    /// Ask SDKs for Live Metrics data points.
    pub live_metrics: bool,
    /// Refuse ingest with a missing, unknown or revoked instrumentation key (and reads
    /// without a token).
    pub require_keys: bool,
    /// Refuse reads without a valid API token.
    pub require_tokens: bool,
    /// HTTP request headers must arrive, and idle keep-alive connections be reused, within it.
    pub idle_timeout: Duration,
    /// Serve every listener over TLS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// Guards on every read of the embedded store (ClickHouse's are in its config).
    pub query_limits: QueryLimits,
    /// LLM deployment quotas and token prices.
    pub genai: GenAiPolicy,
    /// Alert rules to evaluate, when a rules file is given.
    pub alerts: Option<AlertsConfig>,
}

impl ServeConfig {
    /// Defaults for everything but where data goes.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        ServeConfig {
            data_dir,
            clickhouse: None,
            retention_days: 30,
            ingest: IngestConfig::default(),
            pipeline: PipelineConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            live_metrics: false,
            require_keys: false,
            require_tokens: false,
            idle_timeout: Duration::from_secs(30),
            tls: None,
            query_limits: QueryLimits::default(),
            genai: GenAiPolicy::default(),
            alerts: None,
        }
    }
}

impl ServeArgs {
    pub fn config(&self) -> Result<ServeConfig, String> {
        let nanos = |name: &str, d: Duration| {
            i64::try_from(d.as_nanos()).map_err(|_| format!("--{name} is too long"))
        };
        if self.store.query_timeout.is_zero() || self.store.query_max_memory == 0 {
            return Err("--query-timeout and --query-max-memory must be above zero".into());
        }
        if !(self.client_body_share > 0.0 && self.client_body_share <= 1.0) {
            return Err(format!(
                "--client-body-share must be above 0 and at most 1, not {}",
                self.client_body_share
            ));
        }
        if self.max_concurrent_requests == 0 {
            return Err("--max-concurrent-requests must be at least 1".into());
        }
        if self.max_queue_bytes < self.max_body_bytes {
            return Err(format!(
                "--max-queue-bytes ({}) must be at least --max-body-bytes ({})",
                self.max_queue_bytes, self.max_body_bytes
            ));
        }
        Ok(ServeConfig {
            data_dir: self.store.data_dir.clone(),
            clickhouse: self.store.clickhouse(),
            retention_days: self.store.retention_days,
            ingest: IngestConfig {
                limits: Limits {
                    max_attribute_value_bytes: self.max_attribute_value_bytes,
                    max_attributes_per_item: self.max_attributes_per_item,
                    max_item_age_ns: nanos("max-item-age", self.max_item_age)?,
                    max_item_future_ns: nanos("max-item-future", self.max_item_future)?,
                    capture_genai_content: self.genai_capture_content,
                    ..Limits::default()
                },
                max_body_bytes: self.max_body_bytes,
                max_concurrent_requests: self.max_concurrent_requests,
                body_timeout: self.body_timeout,
                max_request_stored_bytes: self.max_request_stored_bytes,
                client_body_share: self.client_body_share,
            },
            pipeline: PipelineConfig {
                max_queue_bytes: self.max_queue_bytes,
                max_batch_rows: self.batch_max_rows.max(1),
                max_batch_bytes: self.batch_max_bytes.max(1),
                max_batch_delay: self.batch_max_delay,
                spool: Some(SpoolConfig {
                    dir: self.store.data_dir.join("spool"),
                    max_bytes: self.spool_max_bytes as u64,
                }),
                ..PipelineConfig::default()
            },
            shutdown_timeout: self.shutdown_timeout,
            cors_origins: self.cors_origins.clone(),
            live_metrics: self.live_metrics,
            require_keys: self.require_keys,
            require_tokens: self.require_tokens,
            idle_timeout: self.idle_timeout,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            query_limits: self.store.query_limits(),
            genai: GenAiPolicy::load(self.genai_quota.as_deref(), self.genai_prices.as_deref())
                .map_err(|e| e.to_string())?,
            alerts: self.alerts.config(self.api_listen)?,
        })
    }
}

/// `on` or `off`.
fn parse_on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("expected on or off, not {other:?}")),
    }
}

/// `500ms`, `10s`, `5m`, `1h`, `7d`, `2w`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected a number and a unit like 10s"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {text:?}; use ms, s, m, h, d or w"
            ));
        }
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || !(0.0..=1e10).contains(&seconds) {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `4096`, `64KiB`, `8MiB`, `1GiB` (also `KB`/`MB`/`GB`, as powers of 1000).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected a number like 8MiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    value
        .checked_mul(multiplier)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| format!("size {text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999d").is_err());
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes("16KiB"), Ok(16 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("2MB"), Ok(2_000_000));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }

    #[test]
    fn defaults_parse_into_a_valid_config() {
        let cli = Cli::try_parse_from(["tracehouse", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        let config = args.config().expect("valid");
        assert_eq!(config.ingest.max_body_bytes, 8 << 20);
        assert_eq!(config.pipeline.max_batch_delay, Duration::from_millis(200));
        assert_eq!(
            config.ingest.limits.max_item_age_ns,
            7 * 86_400 * 1_000_000_000
        );
    }

    #[test]
    fn rejects_a_queue_smaller_than_one_body() {
        let cli = Cli::try_parse_from([
            "tracehouse",
            "serve",
            "--max-queue-bytes",
            "1MiB",
            "--max-body-bytes",
            "8MiB",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        let error = args.config().expect_err("invalid");
        assert!(error.contains("--max-queue-bytes"), "{error}");
    }
}
