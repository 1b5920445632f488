//! What made a page of sample operations slow or failed, where the data shows it: their failed
//! dependency calls, read for the whole page in one query.

use std::collections::HashMap;

use super::{ApiError, ApiState};
use crate::query::causes::{FailedCalls, failed_calls_by_operation};
use crate::reads::{AppScope, FailedCallsQuery, SampleRecord, ScopedRange, TimeRange};

/// The failed calls of each sample's operation, most calls first, by operation id.
pub async fn failed_calls_of(
    state: &ApiState,
    scope: &AppScope,
    range: TimeRange,
    samples: &[SampleRecord],
) -> Result<HashMap<String, Vec<FailedCalls>>, ApiError> {
    let mut operation_ids: Vec<String> = samples.iter().map(|s| s.operation_id.clone()).collect();
    operation_ids.sort();
    operation_ids.dedup();
    operation_ids.retain(|id| !id.is_empty());
    if operation_ids.is_empty() {
        return Ok(HashMap::new());
    }
    // A call starts within its operation, which may run past the range's end.
    let longest_ms = samples
        .iter()
        .map(|s| s.duration_ms)
        .filter(|ms| ms.is_finite())
        .fold(0.0, f64::max);
    let window = ScopedRange {
        range: TimeRange {
            from_ns: range.from_ns,
            to_ns: range
                .to_ns
                .saturating_add((longest_ms * 1e6).min(i64::MAX as f64) as i64)
                .saturating_add(1),
        },
        scope: scope.clone(),
        filters: Vec::new(),
    };
    let query = FailedCallsQuery {
        window,
        operation_ids,
    };
    let records = state.store.failed_calls(&query).await?;
    Ok(failed_calls_by_operation(&records))
}
