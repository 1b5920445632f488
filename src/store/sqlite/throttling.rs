//! Throttled GenAI calls on SQLite, kept up to date as spans are written: each batch's
//! transaction recomputes every call its dependencies may change (a 429 attempt, an attempt
//! beside one, a call above one) from all the stored rows of its operation, and stores what
//! the call adds to GenAI usage ([`ThrottledCallFacts`]). The usage read then adds up a few
//! rows per throttled call instead of pairing every throttled operation's spans (170–400 ms
//! at 12,467 throttled calls). Reads with filters still pair the spans: the facts do not carry
//! the columns a filter may name.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::query::fetch;
use super::sqlite_error;
use crate::model::Batch;
use crate::reads::throttled::{ThrottlingSpan, throttled_calls};
use crate::reads::throttling::{
    GenAiThrottling, ThrottledCallFacts, is_throttled_attempt, ns_of_ms,
};
use crate::reads::{Column, Filter, ScopedRange, ThrottledCall};
use crate::store::StoreError;
use crate::store::sql::{self, Condition, Dialect, Param};

/// (app, operation id).
type Operation<'a> = (&'a str, &'a str);

/// Whether the operation holds a 429 attempt beneath the span `parent_id` (the partial index
/// of 429 attempts by parent answers it).
fn has_throttled_child() -> String {
    format!(
        "SELECT 1 FROM dependencies_rows \
         WHERE appName = ?1 AND operation_ParentId = ?2 AND operation_Id = ?3 \
           AND {} LIMIT 1",
        sql::THROTTLED_ATTEMPT
    )
}

/// The dependencies of one operation, as [`throttling_span`] reads them.
fn operation_spans() -> String {
    format!(
        "SELECT {} FROM dependencies_rows WHERE operation_Id = ?1 AND appName = ?2",
        sql::throttling_span_columns("")
    )
}

const UPSERT: &str = "INSERT OR REPLACE INTO genai_throttled_calls (appName, operation_Id, \
     call_id, timestamp_ns, provider, model, target, throttled_attempts, waited_ms, \
     first_minute_ns, ended_throttled, duration_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Recomputes the throttled calls the batch's dependencies may have changed, inside its
/// transaction (after its rows are inserted).
pub fn refresh(transaction: &Transaction<'_>, batch: &Batch) -> Result<(), StoreError> {
    let mut probe = transaction
        .prepare_cached(&has_throttled_child())
        .map_err(sqlite_error)?;
    let mut changed: BTreeSet<Operation<'_>> = BTreeSet::new();
    for item in &batch.dependencies {
        let common = &item.common;
        let is_call = !item.data.genai.provider.is_empty();
        let operation = (&*common.app_name, common.operation_id.as_str());
        if is_throttled_attempt(&item.data.genai.provider, &item.data.result_code) {
            changed.insert(operation);
            continue;
        }
        // A call, or an attempt that may be one beside a 429: its call changes when the
        // call (its own id, or its parent) has a 429 attempt beneath it.
        let call_id = if is_call {
            &item.data.id
        } else {
            &common.operation_parent_id
        };
        if call_id.is_empty() || changed.contains(&operation) {
            continue;
        }
        let throttled: Option<i64> = probe
            .query_row(
                params![&*common.app_name, call_id, &common.operation_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(sqlite_error)?;
        if throttled.is_some() {
            changed.insert(operation);
        }
    }
    refresh_operations(transaction, &changed)
}

/// Recomputes and stores every throttled call of the operations.
fn refresh_operations(
    transaction: &Transaction<'_>,
    operations: &BTreeSet<Operation<'_>>,
) -> Result<(), StoreError> {
    let mut spans_of = transaction
        .prepare_cached(&operation_spans())
        .map_err(sqlite_error)?;
    let mut upsert = transaction.prepare_cached(UPSERT).map_err(sqlite_error)?;
    for (app, operation_id) in operations {
        let spans = spans_of
            .query_map(params![operation_id, app], throttling_span)
            .map_err(sqlite_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite_error)?;
        for call in throttled_calls(&spans, usize::MAX) {
            store_call(&mut upsert, &call)?;
        }
    }
    Ok(())
}

fn store_call(
    upsert: &mut rusqlite::CachedStatement<'_>,
    call: &ThrottledCall,
) -> Result<(), StoreError> {
    let facts = ThrottledCallFacts::of(call);
    upsert
        .execute(params![
            call.app,
            call.operation_id,
            call.call_id,
            call.timestamp_ns,
            facts.model.0,
            facts.model.1,
            facts.model.2,
            i64::try_from(facts.throttled_attempts).unwrap_or(i64::MAX),
            facts.waited_ns as f64 / 1e6,
            facts.first_minute_ns,
            facts.ended_throttled,
            call.duration_ms,
        ])
        .map_err(sqlite_error)?;
    Ok(())
}

/// A dependency row as [`throttled_calls`] pairs it, read as [`sql::throttling_span_columns`].
pub(super) fn throttling_span(row: &rusqlite::Row<'_>) -> rusqlite::Result<ThrottlingSpan> {
    Ok(ThrottlingSpan {
        provider: row.get(0)?,
        model: row.get(1)?,
        target: row.get(2)?,
        app: row.get(3)?,
        operation_id: row.get(4)?,
        id: row.get(5)?,
        parent_id: row.get(6)?,
        result_code: row.get(7)?,
        duration_ms: row.get::<_, Option<f64>>(8)?.unwrap_or(0.0),
        timestamp_ns: row.get(9)?,
        success: row.get(10)?,
        item_count: row.get(11)?,
    })
}

/// Stores the throttled calls of the rows a database held before it kept them (inside the
/// migration that adds the table).
pub fn backfill(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    let mut statement = transaction
        .prepare(&format!(
            "SELECT DISTINCT appName, operation_Id FROM dependencies_rows WHERE {}",
            sql::THROTTLED_ATTEMPT
        ))
        .map_err(sqlite_error)?;
    let operations = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(sqlite_error)?
        .collect::<Result<Vec<(String, String)>, _>>()
        .map_err(sqlite_error)?;
    let operations = operations
        .iter()
        .map(|(app, operation)| (app.as_str(), operation.as_str()))
        .collect();
    refresh_operations(transaction, &operations)
}

/// Whether the stored calls answer a window: one without filters but what every GenAI call
/// passes (the usage read asks for calls that name a provider).
pub fn answers(window: &ScopedRange) -> bool {
    window
        .filters
        .iter()
        .all(|filter| *filter == Filter::NotEmpty(Column::GenAiProvider))
}

/// The window's throttling from the stored calls (a window they [`answers`]): the calls that
/// started in the range, each with all its attempts, in app, operation and call order, at
/// most [`sql::MAX_THROTTLED_CALLS`].
pub fn read(connection: &Connection, window: &ScopedRange) -> Result<GenAiThrottling, StoreError> {
    let within = sql::selection_range(window.range, &window.scope, Dialect::Sqlite);
    let statement = Condition {
        sql: format!(
            "SELECT provider, model, target, throttled_attempts, waited_ms, first_minute_ns, \
                    ended_throttled, duration_ms \
             FROM genai_throttled_calls WHERE {} \
             ORDER BY appName, operation_Id, call_id LIMIT ?",
            within.sql
        ),
        params: within
            .params
            .into_iter()
            .chain([Param::Int(
                i64::try_from(sql::MAX_THROTTLED_CALLS).unwrap_or(i64::MAX),
            )])
            .collect(),
    };
    let facts = fetch(connection, statement, |row| {
        Ok(ThrottledCallFacts {
            model: (row.get(0)?, row.get(1)?, row.get(2)?),
            throttled_attempts: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
            // Stored in ms: whole ns come back exactly (for any wait under 26 days).
            waited_ns: ns_of_ms(row.get::<_, Option<f64>>(4)?.unwrap_or(0.0)),
            first_minute_ns: row.get(5)?,
            ended_throttled: row.get(6)?,
            duration_ns: ns_of_ms(row.get::<_, Option<f64>>(7)?.unwrap_or(0.0)),
        })
    })?;
    Ok(GenAiThrottling::of_facts(facts))
}

/// Drops the calls that started before the cutoff (with their spans).
pub fn enforce_retention(connection: &Connection, cutoff_ns: i64) -> Result<(), StoreError> {
    connection
        .execute(
            "DELETE FROM genai_throttled_calls WHERE timestamp_ns < ?1",
            [cutoff_ns],
        )
        .map_err(sqlite_error)?;
    Ok(())
}
