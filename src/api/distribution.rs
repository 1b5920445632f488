//! `GET /api/v1/performance/histogram`: the duration distribution of requests or dependencies
//! in log-spaced buckets (ten per factor of ten, the same bounds on every store), from the first
//! to the last bucket holding anything — what the Performance view draws, for other clients.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::access::Access;
use super::params::{DIMENSION, FILTER, FROM, ParamSpec, Params, TABLE, TO};
use super::{ApiError, ApiState, ok};
use crate::time::format_instant;

pub const PARAMS: &[ParamSpec] = &[TABLE, FROM, TO, FILTER, DIMENSION];

pub async fn histogram(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), PARAMS, crate::clock::now_ns())?;
    let source = params.table()?;
    let selection = params.selection(source, &access.scope)?;
    let histogram = state.store.duration_histogram(&selection).await?;
    let buckets: Vec<_> = histogram
        .occupied()
        .map(|(bucket, count)| {
            let (low, high) = histogram.range_of(bucket);
            json!({ "low_ms": low, "high_ms": high, "count": count })
        })
        .collect();
    Ok(ok(json!({
        "table": source,
        "from": format_instant(selection.range.from_ns),
        "to": format_instant(selection.range.to_ns),
        "total": histogram.total(),
        "buckets": buckets,
    })))
}
