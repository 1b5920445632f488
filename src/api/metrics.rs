//! `GET /api/v1/metrics` (the stored metric names, how they were sent, their dimension keys)
//! and `GET /api/v1/metrics/series` (one series per group in fixed buckets, aggregated by the
//! semantics of each point kind: `reads::metric_series`).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Access;
use super::params::{DIMENSION, FILTER, FROM, LIMIT, ParamSpec, ParamType, Params, TO, param};
use super::{ApiError, ApiState, ok};
use crate::reads::metric_series::{Aggregation, Buckets, GroupSeries};
use crate::reads::metrics::{CatalogQuery, GroupKey, SeriesQuery};
use crate::reads::{AppScope, Column, Filter, TimeRange};
use crate::time::format_instant;

const NAME: ParamSpec = param("name", ParamType::String, "the metric's name (required)");
const PREFIX: ParamSpec = param("prefix", ParamType::String, "only names starting with this");
const AGGREGATION: ParamSpec = param(
    "aggregation",
    ParamType::String,
    "`avg` (default), `min`, `max`, `sum`, `count`, `rate` (per second), `increase`, `last`, `p50`, `p90`, `p95`, `p99`",
);
const SERIES_INTERVAL: ParamSpec = param(
    "interval",
    ParamType::String,
    "bucket width (`30s`, `1m`, `1h`); default: the narrowest of 1s, 5s, 10s, 15s, 30s, 1m, 5m, 10m, 15m, 30m, 1h, 3h, 6h, 12h, 1d giving at most 60 buckets",
);
const SERIES_GROUP_BY: ParamSpec = param(
    "group_by",
    ParamType::String,
    "comma-separated: `role`, `role_instance`, `app` or `dim.<key>` (resource attributes such as `dim.k8s.node.name` included)",
);

pub const CATALOG_PARAMS: &[ParamSpec] = &[FROM, TO, PREFIX, LIMIT];
pub const SERIES_PARAMS: &[ParamSpec] = &[
    FROM,
    TO,
    NAME,
    AGGREGATION,
    SERIES_INTERVAL,
    SERIES_GROUP_BY,
    FILTER,
    DIMENSION,
];

const NS_PER_S: i64 = 1_000_000_000;

pub async fn catalog(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), CATALOG_PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let query = CatalogQuery {
        range,
        scope: access.scope.clone(),
        prefix: params.get("prefix").unwrap_or("").to_owned(),
        limit: params.limit(1_000, 10_000)?,
    };
    let metrics = state.store.metric_catalog(&query).await?;
    let items: Vec<Value> = metrics
        .into_iter()
        .map(|m| {
            json!({
                "name": m.name,
                "type": m.metric_type,
                "unit": m.unit,
                "temporality": m.temporality,
                "namespace": m.namespace,
                "points": m.points,
                "first": format_instant(m.first_ns),
                "last": format_instant(m.last_ns),
                "dimension_keys": m.dimension_keys,
            })
        })
        .collect();
    Ok(ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "metrics": items,
    })))
}

/// A series read from API parameters, for the series endpoint and the views built on it.
pub struct SeriesRequest {
    pub names: Vec<String>,
    pub range: TimeRange,
    pub width_ns: i64,
    pub aggregation: Aggregation,
    pub group_by: Vec<GroupKey>,
    pub filters: Vec<Filter>,
}

impl SeriesRequest {
    pub fn from_params(params: &Params) -> Result<Self, ApiError> {
        let name = params
            .get("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::invalid("name", "is required: the metric to read"))?;
        let range = params.range()?;
        let aggregation = match params.get("aggregation") {
            None => Aggregation::Avg,
            Some(text) => Aggregation::parse(text).ok_or_else(|| {
                ApiError::invalid(
                    "aggregation",
                    &format!("must be one of {}", Aggregation::NAMES),
                )
            })?,
        };
        let width_ns = match params.interval_s(range)? {
            Some(seconds) => i64::from(seconds) * NS_PER_S,
            None => default_width_ns(range),
        };
        Ok(SeriesRequest {
            names: vec![name.to_owned()],
            range,
            width_ns,
            aggregation,
            group_by: group_by(params)?,
            filters: params.filters_on("customMetrics", GroupKey::is_metric_column)?,
        })
    }

    /// The store read, its points from [`crate::reads::metrics::BASELINE_NS`] before the range.
    pub fn query(&self, scope: &AppScope) -> Result<SeriesQuery, ApiError> {
        let buckets = Buckets::new(self.range.from_ns, self.range.to_ns, self.width_ns)
            .ok_or_else(|| ApiError::invalid("interval", "gives no buckets over this range"))?;
        Ok(SeriesQuery::over(
            buckets,
            scope.clone(),
            self.names.clone(),
            self.filters.clone(),
            self.group_by.clone(),
            self.aggregation,
        ))
    }
}

/// The narrowest round width giving at most about 60 buckets.
pub fn default_width_ns(range: TimeRange) -> i64 {
    const WIDTHS_S: [i64; 15] = [
        1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400,
    ];
    let wanted = (range.to_ns - range.from_ns) / 60;
    let seconds = WIDTHS_S
        .into_iter()
        .find(|w| w * NS_PER_S >= wanted)
        .unwrap_or_else(|| wanted.div_euclid(NS_PER_S).max(1));
    seconds * NS_PER_S
}

fn group_by(params: &Params) -> Result<Vec<GroupKey>, ApiError> {
    let mut keys = Vec::new();
    for name in params
        .get("group_by")
        .unwrap_or("")
        .split(',')
        .filter(|n| !n.is_empty())
    {
        let key = match name.strip_prefix("dim.") {
            Some(dimension) if !dimension.is_empty() => GroupKey::Dimension(dimension.to_owned()),
            _ => Column::from_api_name(name)
                .filter(|c| GroupKey::is_metric_column(*c))
                .map(GroupKey::Column)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "group_by",
                        &format!(
                            "has unknown key {name:?}: use role, role_instance, app or dim.<key>"
                        ),
                    )
                })?,
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.len() > 5 {
        return Err(ApiError::invalid("group_by", "takes at most 5 keys"));
    }
    Ok(keys)
}

pub async fn series(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), SERIES_PARAMS, crate::clock::now_ns())?;
    let request = SeriesRequest::from_params(&params)?;
    let query = request.query(&access.scope)?;
    let series = state.store.metric_series(&query).await?;
    Ok(ok(series_json(&request, &query.buckets, series)))
}

pub fn series_json(request: &SeriesRequest, buckets: &Buckets, series: Vec<GroupSeries>) -> Value {
    let names: Vec<String> = request.group_by.iter().map(GroupKey::api_name).collect();
    let items: Vec<Value> = series
        .into_iter()
        .map(|s| {
            let group: serde_json::Map<String, Value> = names
                .iter()
                .cloned()
                .zip(s.group.into_iter().map(Value::String))
                .collect();
            json!({ "group": group, "values": s.values })
        })
        .collect();
    json!({
        "name": request.names.first(),
        "aggregation": request.aggregation.api_name(),
        "from": format_instant(request.range.from_ns),
        "to": format_instant(request.range.to_ns),
        "interval_s": request.width_ns / NS_PER_S,
        "timestamps": (0..buckets.count).map(|i| format_instant(buckets.time_ns(i))).collect::<Vec<_>>(),
        "series": items,
    })
}
