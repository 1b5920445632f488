//! Numbered migrations from `schema/clickhouse/`, rendered for the server's version and applied
//! at start-up.
//!
//! The core column types work on ClickHouse 18.16 (no DateTime64, Map, TTL, codecs or skip
//! indexes); storage extras are switched on when `SELECT version()` says the server has them.
//! Templates use `{{name}}` placeholders and lines starting `--@feature ` that are kept only
//! when the feature is on. Every statement is idempotent (`IF NOT EXISTS`), so two instances
//! migrating at once both succeed.

use crate::reads::Source;
use crate::store::StoreError;

/// `(version, name, template)` in the order they apply.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "tables",
        include_str!("../../../schema/clickhouse/001_tables.sql"),
    ),
    (
        2,
        "operations",
        include_str!("../../../schema/clickhouse/002_operations.sql"),
    ),
    (
        3,
        "keys",
        include_str!("../../../schema/clickhouse/003_keys.sql"),
    ),
    (
        4,
        "tokens",
        include_str!("../../../schema/clickhouse/004_tokens.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../../../schema/clickhouse/005_alerts.sql"),
    ),
    (
        6,
        "genai_prompts",
        include_str!("../../../schema/clickhouse/006_genai_prompts.sql"),
    ),
    (
        7,
        "scores",
        include_str!("../../../schema/clickhouse/007_scores.sql"),
    ),
    (
        8,
        "span_rollups",
        include_str!("../../../schema/clickhouse/008_span_rollups.sql"),
    ),
    (
        9,
        "throttled_attempts",
        include_str!("../../../schema/clickhouse/009_throttled_attempts.sql"),
    ),
];

/// A `major.minor` ClickHouse version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// Parses `SELECT version()` output such as `18.16.1` or `25.8.2.29`.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let mut parts = text.trim().split('.');
        let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
        match (next(), next()) {
            (Some(major), Some(minor)) => Ok(Version { major, minor }),
            _ => Err(StoreError::Schema(format!(
                "unrecognised clickhouse version {text:?}"
            ))),
        }
    }

    pub const fn at_least(self, major: u32, minor: u32) -> bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }
}

/// Which storage extras the server supports. The thresholds are conservative: each feature
/// exists, without experimental flags, from the version named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub low_cardinality: bool,
    pub codecs: bool,
    pub ttl: bool,
    pub skip_indexes: bool,
    /// `insert_deduplication_token` with `non_replicated_deduplication_window`.
    pub insert_dedup_token: bool,
}

impl Features {
    pub fn of(version: Version) -> Self {
        Features {
            low_cardinality: version.at_least(20, 1),
            codecs: version.at_least(20, 1),
            ttl: version.at_least(20, 1),
            skip_indexes: version.at_least(20, 3),
            insert_dedup_token: version.at_least(22, 4),
        }
    }

    fn enabled(self, name: &str) -> bool {
        match name {
            "low_cardinality" => self.low_cardinality,
            "codecs" => self.codecs,
            "ttl" => self.ttl,
            "skip_indexes" => self.skip_indexes,
            "insert_dedup_token" => self.insert_dedup_token,
            _ => false,
        }
    }
}

/// What a template is rendered with.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    pub database: &'a str,
    pub features: Features,
    /// 0 keeps data forever.
    pub retention_days: u32,
}

/// The database and the table recording applied migrations, created before any migration.
pub fn bootstrap(database: &str) -> [String; 2] {
    [
        format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.`schema_migrations` \
             (version UInt32, name String, applied_at DateTime) \
             ENGINE = MergeTree ORDER BY version"
        ),
    ]
}

/// Every statement a fresh server of this version gets, in order, as one script.
pub fn script(version: Version, ctx_database: &str, retention_days: u32) -> String {
    let ctx = RenderContext {
        database: ctx_database,
        features: Features::of(version),
        retention_days,
    };
    let f = ctx.features;
    let mut out = format!(
        "-- ClickHouse {}.{}: low_cardinality={} codecs={} ttl={} skip_indexes={} insert_dedup_token={}\n",
        version.major,
        version.minor,
        f.low_cardinality,
        f.codecs,
        f.ttl,
        f.skip_indexes,
        f.insert_dedup_token
    );
    for statement in bootstrap(ctx_database) {
        out.push_str(&statement);
        out.push_str(";\n\n");
    }
    for (number, name, template) in MIGRATIONS {
        out.push_str(&format!("-- migration {number}: {name}\n"));
        for statement in render(template, &ctx) {
            out.push_str(&statement);
            out.push_str(";\n\n");
        }
        for (what, statement) in derived_rows(name, ctx_database) {
            out.push_str(&format!("-- {what} stored before\n{statement};\n\n"));
        }
    }
    out
}

/// What a migration derives from the rows stored before it (the rollups of the spans, the
/// 429 attempts of the dependencies), as `(what, statement)`: statements that add only what is
/// missing, so a migration run again adds nothing twice.
pub fn derived_rows(migration: &str, database: &str) -> Vec<(&'static str, String)> {
    use super::backfill::{self, Spans};
    match migration {
        "span_rollups" => [Source::Requests, Source::Dependencies]
            .into_iter()
            .map(|source| {
                (
                    source.table(),
                    backfill::statement(database, source, &Spans::All),
                )
            })
            .collect(),
        "throttled_attempts" => vec![(
            "429 attempts",
            super::throttled_rows::derive_statement(database, &Spans::All),
        )],
        _ => Vec::new(),
    }
}

/// Renders one migration template into its statements.
pub fn render(template: &str, ctx: &RenderContext<'_>) -> Vec<String> {
    let f = ctx.features;
    let ttl = |column: &str| {
        if f.ttl && ctx.retention_days > 0 {
            format!("TTL {column} + INTERVAL {} DAY", ctx.retention_days)
        } else {
            String::new()
        }
    };
    let mut settings = vec!["index_granularity = 8192".to_owned()];
    if f.ttl {
        settings.push("ttl_only_drop_parts = 1".to_owned());
    }
    if f.insert_dedup_token {
        settings.push("non_replicated_deduplication_window = 1000".to_owned());
    }
    let replacements = [
        ("{{database}}", format!("`{}`", ctx.database)),
        (
            "{{lc}}",
            if f.low_cardinality {
                "LowCardinality(String)"
            } else {
                "String"
            }
            .to_owned(),
        ),
        (
            "{{codec_time}}",
            if f.codecs {
                "CODEC(Delta, ZSTD(1))"
            } else {
                ""
            }
            .to_owned(),
        ),
        (
            "{{codec_zstd}}",
            if f.codecs { "CODEC(ZSTD(1))" } else { "" }.to_owned(),
        ),
        ("{{ttl}}", ttl("timestamp")),
        ("{{ttl_day}}", ttl("day")),
        ("{{settings}}", settings.join(", ")),
    ];
    let mut text = String::with_capacity(template.len());
    for line in template.lines() {
        let line = match line.strip_prefix("--@") {
            Some(conditional) => match conditional.split_once(' ') {
                Some((feature, rest)) if f.enabled(feature) => rest,
                _ => continue,
            },
            None if line.trim_start().starts_with("--") => continue,
            None => line,
        };
        text.push_str(line);
        text.push('\n');
    }
    for (placeholder, value) in &replacements {
        text = text.replace(placeholder, value);
    }
    text.split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            Version::parse("18.16.1").ok(),
            Some(Version {
                major: 18,
                minor: 16
            })
        );
        assert_eq!(
            Version::parse("25.8.2.29\n").ok(),
            Some(Version {
                major: 25,
                minor: 8
            })
        );
        assert!(Version::parse("banana").is_err());
    }

    #[test]
    fn old_servers_get_the_portable_core_only() {
        let features = Features::of(Version {
            major: 18,
            minor: 16,
        });
        assert_eq!(
            features,
            Features {
                low_cardinality: false,
                codecs: false,
                ttl: false,
                skip_indexes: false,
                insert_dedup_token: false
            }
        );
        let ctx = RenderContext {
            database: "db",
            features,
            retention_days: 30,
        };
        let statements = render(MIGRATIONS[0].2, &ctx);
        let all = statements.join("\n");
        assert!(!all.contains("LowCardinality"));
        assert!(!all.contains("CODEC"));
        assert!(!all.contains("TTL"));
        assert!(!all.contains("INDEX"));
        assert!(!all.contains("{{"), "every placeholder is filled");
        assert!(all.contains("CREATE TABLE IF NOT EXISTS `db`.`requests`"));
    }

    #[test]
    fn the_printed_script_is_what_a_server_of_that_version_gets() {
        let v25 = Version::parse("25.8").expect("version");
        let script = script(v25, "tracehouse", 30);
        assert!(script.starts_with("-- ClickHouse 25.8: low_cardinality=true"));
        assert!(script.contains("CREATE DATABASE IF NOT EXISTS `tracehouse`;"));
        assert!(script.contains("LowCardinality(String)"));
        for (number, name, _) in MIGRATIONS {
            assert!(script.contains(&format!("-- migration {number}: {name}")));
        }
        let old = super::script(Version::parse("18.16").expect("version"), "db", 30);
        assert!(!old.contains("LowCardinality") && !old.contains("TTL"));
    }

    #[test]
    fn current_servers_get_storage_extras() {
        let features = Features::of(Version {
            major: 25,
            minor: 8,
        });
        assert!(features.low_cardinality && features.codecs && features.ttl);
        assert!(features.skip_indexes && features.insert_dedup_token);
        let ctx = RenderContext {
            database: "db",
            features,
            retention_days: 30,
        };
        let all = render(MIGRATIONS[0].2, &ctx).join("\n");
        assert!(all.contains("LowCardinality(String)"));
        assert!(all.contains("CODEC(Delta, ZSTD(1))"));
        assert!(all.contains("TTL timestamp + INTERVAL 30 DAY"));
        assert!(all.contains("INDEX"));
        assert!(all.contains("non_replicated_deduplication_window"));
        let forever = RenderContext {
            retention_days: 0,
            ..ctx
        };
        assert!(!render(MIGRATIONS[0].2, &forever).join("\n").contains("TTL"));
    }
}
