//! `GET /api/v1/genai/usage`: LLM calls per provider, model and target — tokens, peak tokens
//! per minute, throttling as `query::throttling` defines it, cost from the price table, and
//! usage against the deployment's quota minute by minute.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Access;
use super::analysis::stats_page;
use super::insights::series_by_group;
use super::params::{DIMENSION, FILTER, FROM, INTERVAL, LIMIT, PERCENTILES, ParamSpec, Params, TO};
use super::{ApiError, ApiState, ok};
use crate::genai::GenAiPolicy;
use crate::query::quota::{QuotaReport, report};
use crate::query::throttling::{GenAiThrottling, ModelKey, ThrottledCalls};
use crate::reads::stats::coarser_buckets;
use crate::reads::{
    AppScope, Column, Filter, Percentiles, ScopedRange, Selection, Source, StatsQuery, StatsRow,
};
use crate::time::format_instant;

pub const GENAI_PARAMS: &[ParamSpec] = &[FROM, TO, INTERVAL, FILTER, DIMENSION, LIMIT, PERCENTILES];

/// Per-minute peaks are computed over at most this range.
const PEAK_RANGE_NS: i64 = 31 * 86_400 * 1_000_000_000;

fn token_point(row: &StatsRow, cost_usd: Option<f64>) -> Value {
    json!({
        "cost_usd": cost_usd,
        "bucket": row.bucket_ns.map(format_instant),
        "calls": row.count,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "throttled_calls": row.throttled,
    })
}

/// A usage row's throttling, as `query::throttling` defines it: calls with a throttled attempt
/// plus calls that ended 429 with no attempts recorded beneath them (each its own attempt),
/// and what the callers waited.
pub struct Throttled {
    pub calls: u64,
    pub attempts: u64,
    pub time_ms: f64,
}

impl Throttled {
    pub fn of(row: &StatsRow, inside: Option<&ThrottledCalls>) -> Self {
        let inside = inside.copied().unwrap_or_default();
        let ended_alone = row.throttled.saturating_sub(inside.ended_throttled);
        Throttled {
            calls: inside.calls.saturating_add(ended_alone),
            attempts: inside.attempts.saturating_add(ended_alone),
            time_ms: inside.throttled_ms()
                + (row.throttled_ms - inside.ended_throttled_ms()).max(0.0),
        }
    }
}

impl GenAiUsage {
    /// Most tokens in one minute of a group; `None` past [`PEAK_RANGE_NS`].
    pub fn peak_tokens_per_minute(&self, group: &[String]) -> Option<u64> {
        let minutes = self.minutes.as_ref()?;
        Some(minutes.get(group).map_or(0, |rows| {
            rows.iter()
                .map(|r| r.input_tokens.saturating_add(r.output_tokens))
                .max()
                .unwrap_or(0)
        }))
    }

    /// The group's minutes against its deployment's quota, when one is configured (and the
    /// range is short enough for per-minute figures).
    pub fn quota(&self, policy: &GenAiPolicy, row: &StatsRow) -> Option<QuotaReport> {
        let key = model_key(row);
        let quota = policy.quota(&key.2, &key.1)?;
        let minutes = self
            .minutes
            .as_ref()?
            .get(&row.group)
            .map_or(&[][..], Vec::as_slice);
        let throttled = self
            .throttled_minutes
            .get(&key)
            .map_or(&[][..], Vec::as_slice);
        Some(report(quota, minutes, throttled))
    }
}

/// (provider, model, target) of a usage row.
pub fn model_key(row: &StatsRow) -> ModelKey {
    (
        row.group[0].clone(),
        row.group[1].clone(),
        row.group[2].clone(),
    )
}

/// GenAI usage per provider, model and target, as the API and the UI show it.
pub struct GenAiUsage {
    pub rows: Vec<StatsRow>,
    pub truncated: bool,
    /// Per-minute rows by group; `None` past [`PEAK_RANGE_NS`].
    pub minutes: Option<HashMap<Vec<String>, Vec<StatsRow>>>,
    /// The minute each throttled call was first throttled in, per (provider, model, target).
    pub throttled_minutes: HashMap<ModelKey, Vec<i64>>,
    /// Throttled attempts inside the calls and their time, per (provider, model, target).
    pub throttling: HashMap<ModelKey, ThrottledCalls>,
    /// Per-bucket rows by group, with an interval.
    pub series: HashMap<Vec<String>, Vec<StatsRow>>,
}

pub async fn genai_usage_of(
    state: &ApiState,
    params: &Params,
    scope: &AppScope,
) -> Result<GenAiUsage, ApiError> {
    let range = params.range()?;
    let mut genai_filters = params.filters(Source::Dependencies)?;
    genai_filters.push(Filter::NotEmpty(Column::GenAiProvider));
    let interval_s = params.interval_s(range)?;
    let limit = params.limit(100, 1_000)?;
    let query = StatsQuery {
        selection: Selection {
            source: Source::Dependencies,
            range,
            scope: scope.clone(),
            filters: genai_filters.clone(),
        },
        group_by: vec![Column::GenAiProvider, Column::GenAiModel, Column::Target],
        bucket_s: None,
        percentiles: params.percentiles()?,
    };
    let minutes_read = range.to_ns.saturating_sub(range.from_ns) <= PEAK_RANGE_NS;
    // Series in whole minutes are added up from the per-minute rows, not read again.
    let series_from_minutes = interval_s.filter(|b| minutes_read && b.is_multiple_of(60));
    // The reads are independent: one round trip's worth of wall time, not four.
    let per_minute = async {
        if !minutes_read {
            return Ok(None);
        }
        let per_minute = StatsQuery {
            bucket_s: Some(60),
            percentiles: Percentiles::Unused,
            ..query.clone()
        };
        Ok::<_, ApiError>(Some(series_by_group(
            state.store.stats(&per_minute, 2_000_000).await?,
        )))
    };
    let window = ScopedRange {
        range,
        scope: scope.clone(),
        filters: genai_filters,
    };
    let series = async {
        let Some(bucket) = interval_s.filter(|_| series_from_minutes.is_none()) else {
            return Ok(HashMap::new());
        };
        let bucketed = StatsQuery {
            bucket_s: Some(bucket),
            percentiles: Percentiles::Unused,
            ..query.clone()
        };
        Ok::<_, ApiError>(series_by_group(
            state.store.stats(&bucketed, 200_000).await?,
        ))
    };
    let attempts = async { Ok::<_, ApiError>(state.store.genai_throttling(&window).await?) };
    let ((rows, truncated), minutes, attempts, mut series) = tokio::try_join!(
        stats_page(state, &query, limit),
        per_minute,
        attempts,
        series
    )?;
    if let (Some(bucket), Some(minutes)) = (series_from_minutes, &minutes) {
        series = minutes
            .iter()
            .map(|(group, rows)| (group.clone(), coarser_buckets(rows, bucket)))
            .collect();
    }
    let GenAiThrottling {
        per_model: throttling,
        first_minutes: throttled_minutes,
    } = attempts;
    Ok(GenAiUsage {
        rows,
        truncated,
        minutes,
        throttled_minutes,
        throttling,
        series,
    })
}

pub async fn genai_usage(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), GENAI_PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let interval_s = params.interval_s(range)?;
    let mut usage = genai_usage_of(&state, &params, &access.scope).await?;
    let policy = &state.genai;
    let mut series = std::mem::take(&mut usage.series);
    let items: Vec<Value> = usage
        .rows
        .iter()
        .map(|row| {
            let key = model_key(row);
            let throttled = Throttled::of(row, usage.throttling.get(&key));
            let [p50, _, p95, p99] = row.percentiles_ms;
            let mut value = json!({
                "provider": key.0,
                "model": key.1,
                "target": key.2,
                "calls": row.count,
                "failed": row.failed,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "peak_tokens_per_minute": usage.peak_tokens_per_minute(&row.group),
                "cost_usd": policy.cost_usd(&key.1, row.input_tokens, row.output_tokens),
                "quota": usage.quota(policy, row),
                "throttled_calls": throttled.calls,
                "throttled_attempts": throttled.attempts,
                "throttled_time_ms": throttled.time_ms,
                "avg_ms": row.duration_sum_ms / row.count.max(1) as f64,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "ms_per_output_token": (row.output_tokens > 0)
                    .then(|| row.duration_sum_ms / row.output_tokens as f64),
                "sample_operation_id": row.latest_operation_id,
            });
            if interval_s.is_some() {
                let points: Vec<Value> = series
                    .remove(&row.group)
                    .unwrap_or_default()
                    .iter()
                    .map(|point| {
                        token_point(
                            point,
                            policy.cost_usd(&key.1, point.input_tokens, point.output_tokens),
                        )
                    })
                    .collect();
                value["series"] = json!(points);
            }
            value
        })
        .collect();
    Ok(ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "rows": items,
        "truncated": usage.truncated,
        "prices_as_of": policy.prices_as_of,
    })))
}
