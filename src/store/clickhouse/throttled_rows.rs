//! A batch's 429 attempts (dependencies that answered 429 without GenAI columns: the tries
//! of a GenAI call that were throttled) in ClickHouse's wire form, one RowBinary chunk of
//! `throttled_attempts` per day, spooled and inserted with the batch's other chunks. GenAI
//! usage finds its throttled calls from this small table instead of the range's every
//! dependency (`sql::genai_throttling`).
//!
//! A batch with dependencies but no 429 carries an empty chunk (nothing is inserted for it):
//! a batch without one was spooled by a version before this table, and its attempts are
//! copied from the stored dependencies when it is shipped ([`derive_statement`]).

use super::backfill::Spans;
use super::encoded::{Chunk, DayChunks, Sharding, empty_chunk};
use super::rowbinary::write_string;
use crate::model::Batch;
use crate::reads::throttling::is_throttled_attempt;
use crate::store::sql::THROTTLED_ATTEMPT;

pub const TABLE: &str = "throttled_attempts";

/// Column order of the insert.
pub const COLUMNS: [&str; 5] = [
    "timestamp_ns",
    "appName",
    "operation_Id",
    "operation_ParentId",
    "_batch_id",
];

/// The batch's 429 attempts, one chunk per day (an empty one when it has dependencies but
/// none of them).
pub fn chunks(batch: &Batch, batch_id: u64, sharding: Sharding) -> Vec<Chunk> {
    let mut chunks = DayChunks::new(TABLE, 1024, sharding);
    for dependency in &batch.dependencies {
        if !is_throttled_attempt(
            &dependency.data.genai.provider,
            &dependency.data.result_code,
        ) {
            continue;
        }
        let common = &dependency.common;
        let out = chunks.row(common.timestamp_ns, &common.operation_id);
        out.extend_from_slice(&common.timestamp_ns.to_le_bytes());
        write_string(&common.app_name, out);
        write_string(&common.operation_id, out);
        write_string(&common.operation_parent_id, out);
        out.extend_from_slice(&batch_id.to_le_bytes());
    }
    let chunks = chunks.finish();
    match batch.dependencies.first() {
        Some(first) if chunks.is_empty() => vec![empty_chunk(TABLE, first.common.timestamp_ns)],
        _ => chunks,
    }
}

/// The `INSERT … SELECT` that copies stored 429 attempts of the given batches (all: when the
/// migration that adds the table runs) into the table, leaving out batches that have rows in
/// it already, so that running it again adds nothing twice.
pub fn derive_statement(database: &str, spans: &Spans<'_>) -> String {
    let columns = COLUMNS.join(", ");
    format!(
        "INSERT INTO `{database}`.`{TABLE}` ({columns}) \
         SELECT {columns} FROM `{database}`.`dependencies` \
         WHERE {only}{THROTTLED_ATTEMPT} \
           AND _batch_id NOT IN (SELECT _batch_id FROM `{database}`.`{TABLE}`{within})",
        only = spans.condition(),
        within = match spans {
            Spans::All => String::new(),
            Spans::Batches { from_s, to_s, .. } => format!(
                " WHERE timestamp >= toDateTime({from_s}, 'UTC') \
                  AND timestamp <= toDateTime({to_s}, 'UTC')"
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, Dependency, GenAi, Item};

    fn dependency(day: i64, code: &str, provider: &str) -> Item<Dependency> {
        Item {
            common: Common {
                timestamp_ns: day * 86_400_000_000_000 + 5,
                operation_parent_id: "call".into(),
                ..Common::default()
            },
            data: Dependency {
                result_code: code.into(),
                genai: GenAi {
                    provider: provider.into(),
                    ..GenAi::default()
                }
                .into(),
                ..Dependency::default()
            },
        }
    }

    #[test]
    fn a_chunk_of_429_attempts_a_day_and_an_empty_one_without_them() {
        let mut batch = Batch {
            dependencies: vec![
                dependency(10, "429", ""),
                dependency(10, "200", ""),
                // A GenAI call that ended 429 is a call, not an attempt.
                dependency(10, "429", "azure.ai.openai"),
                dependency(11, "429", ""),
                dependency(11, "429", ""),
            ],
            ..Batch::default()
        };
        let days: Vec<(i64, u64)> = chunks(&batch, 7, Sharding::None)
            .iter()
            .map(|c| (c.day, c.rows))
            .collect();
        assert_eq!(days, [(10, 1), (11, 2)]);
        batch.dependencies.retain(|d| d.data.result_code != "429");
        let marker = chunks(&batch, 7, Sharding::None);
        assert_eq!(marker.len(), 1);
        assert_eq!((marker[0].day, marker[0].rows), (10, 0));
        assert!(marker[0].data.is_empty());
        assert!(chunks(&Batch::default(), 7, Sharding::None).is_empty());
    }

    #[test]
    fn only_named_batches_are_copied_and_numbers_only_are_spliced_in() {
        let all = derive_statement("db", &Spans::All);
        assert!(
            all.contains("resultCode = '429' AND genai_provider = ''"),
            "{all}"
        );
        let some = derive_statement(
            "db",
            &Spans::Batches {
                ids: &[3, 4],
                from_s: 10,
                to_s: 20,
            },
        );
        assert!(some.contains("_batch_id IN (3, 4)"), "{some}");
        assert!(
            some.contains("timestamp <= toDateTime(20, 'UTC')"),
            "{some}"
        );
    }
}
