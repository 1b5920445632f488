//! Performance percentiles, the slow samples behind them, and search.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Access;
use super::params::{
    CURSOR, DIMENSION, FILTER, FROM, INTERVAL, LIMIT, PERCENTILES, ParamSpec, ParamType, Params,
    TABLE, TO, decode_cursor, encode_cursor, param,
};
use super::{ApiError, ApiState, ok};
use crate::reads::{
    Column, Filter, SampleCursor, SampleOrder, SampleQuery, SearchKinds, SearchQuery, Source,
    StatsQuery, StatsRow,
};
use crate::time::format_instant;

pub const PERFORMANCE_PARAMS: &[ParamSpec] = &[
    TABLE,
    FROM,
    TO,
    PERCENTILES,
    param(
        "group_by",
        ParamType::String,
        "comma-separated: name, operation_name, role, role_instance, app, result_code, success, session_id, user_id; for dependencies also type, target, provider, genai_operation, model, response_model, prompt, prompt_version; default name (requests) or target (dependencies)",
    ),
    INTERVAL,
    FILTER,
    DIMENSION,
    LIMIT,
];

/// The JSON of one aggregate row.
pub fn stats_json(row: &StatsRow, group_by: &[Column]) -> Value {
    let group: serde_json::Map<String, Value> = group_by
        .iter()
        .zip(&row.group)
        .map(|(c, v)| (c.api_name().to_owned(), json!(v)))
        .collect();
    let count = row.count.max(1) as f64;
    let [p50, p90, p95, p99] = row.percentiles_ms;
    let mut value = json!({
        "group": group,
        "count": row.count,
        "failed": row.failed,
        "failure_rate": row.failed as f64 / count,
        "avg_ms": row.duration_sum_ms / count,
        "p50_ms": p50,
        "p90_ms": p90,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": row.duration_max_ms,
        "sample_operation_id": row.latest_operation_id,
    });
    if let Some(bucket) = row.bucket_ns {
        value["bucket"] = json!(format_instant(bucket));
    }
    value
}

/// Runs a stats query asking for one row more than `limit`, to say whether rows were left out.
pub async fn stats_page(
    state: &ApiState,
    query: &StatsQuery,
    limit: usize,
) -> Result<(Vec<StatsRow>, bool), ApiError> {
    let mut rows = state.store.stats(query, limit + 1).await?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, truncated))
}

pub async fn performance(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), PERFORMANCE_PARAMS, crate::clock::now_ns())?;
    let source = params.table()?;
    let default_group = match source {
        crate::reads::Source::Dependencies => Column::Target,
        _ => Column::Name,
    };
    let selection = params.selection(source, &access.scope)?;
    let query = StatsQuery {
        group_by: params.group_by(source, &[default_group])?,
        bucket_s: params.interval_s(selection.range)?,
        selection,
        percentiles: params.percentiles()?,
    };
    let limit = params.limit(100, 10_000)?;
    let (rows, truncated) = stats_page(&state, &query, limit).await?;
    Ok(ok(json!({
        "table": source,
        "from": format_instant(query.selection.range.from_ns),
        "to": format_instant(query.selection.range.to_ns),
        "group_by": query.group_by.iter().map(|c| c.api_name()).collect::<Vec<_>>(),
        "interval_s": query.bucket_s,
        "rows": rows.iter().map(|r| stats_json(r, &query.group_by)).collect::<Vec<_>>(),
        "truncated": truncated,
    })))
}

pub const SAMPLES_PARAMS: &[ParamSpec] = &[
    TABLE,
    FROM,
    TO,
    PERCENTILES,
    FILTER,
    DIMENSION,
    param(
        "band",
        ParamType::String,
        "percentile band of the filtered rows, `<low>-<high>` from p50, p90, p95, p99, max (e.g. `p95-p99`); inclusive",
    ),
    param("min_ms", ParamType::Number, "shortest duration (inclusive)"),
    param("max_ms", ParamType::Number, "longest duration (inclusive)"),
    param(
        "order",
        ParamType::String,
        "`slowest` (default) or `newest`",
    ),
    LIMIT,
    CURSOR,
];

fn band_level(name: &str) -> Option<Option<usize>> {
    match name {
        "p50" => Some(Some(0)),
        "p90" => Some(Some(1)),
        "p95" => Some(Some(2)),
        "p99" => Some(Some(3)),
        "max" => Some(None),
        _ => None,
    }
}

/// `(low, high)` duration bounds of a band over the selection.
async fn band_bounds(
    state: &ApiState,
    params: &Params,
    selection: &crate::reads::Selection,
) -> Result<Option<(f64, f64)>, ApiError> {
    let Some(band) = params.get("band") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::invalid(
            "band",
            "must be like p95-p99 (levels p50, p90, p95, p99, max)",
        )
    };
    let (low, high) = band.split_once('-').ok_or_else(invalid)?;
    let (low, high) = (
        band_level(low).ok_or_else(invalid)?,
        band_level(high).ok_or_else(invalid)?,
    );
    let low = low.ok_or_else(invalid)?;
    if high.is_some_and(|h| h <= low) {
        return Err(invalid());
    }
    let query = StatsQuery {
        selection: selection.clone(),
        group_by: Vec::new(),
        bucket_s: None,
        percentiles: params.percentiles()?,
    };
    let Some(row) = state.store.stats(&query, 1).await?.into_iter().next() else {
        return Ok(Some((f64::INFINITY, f64::NEG_INFINITY)));
    };
    let upper = high.map_or(row.duration_max_ms, |h| row.percentiles_ms[h]);
    Ok(Some((row.percentiles_ms[low], upper)))
}

/// A page of samples as both the API and the UI show it.
pub struct SamplesPage {
    pub source: crate::reads::Source,
    /// `(low, high)` in ms of the asked band, when there is one and it holds anything.
    pub band: Option<(f64, f64)>,
    pub items: Vec<crate::reads::SampleRecord>,
    pub next_cursor: Option<String>,
}

/// The samples `params` ask for (table, filters, band or duration range, order, page), in
/// `scope`.
pub async fn find_samples(
    state: &ApiState,
    params: &Params,
    scope: &crate::reads::AppScope,
) -> Result<SamplesPage, ApiError> {
    let source = params.table()?;
    let mut selection = params.selection(source, scope)?;
    let order = match params.get("order").unwrap_or("slowest") {
        "slowest" => SampleOrder::Slowest,
        "newest" => SampleOrder::Newest,
        _ => return Err(ApiError::invalid("order", "must be `slowest` or `newest`")),
    };
    let limit = params.limit(20, 1_000)?;
    let after = params
        .get("cursor")
        .map(|c| parse_sample_cursor(c, order))
        .transpose()?;
    let (min_ms, max_ms) = (params.millis("min_ms")?, params.millis("max_ms")?);
    let band = band_bounds(state, params, &selection).await?;
    if band.is_some() && (min_ms.is_some() || max_ms.is_some()) {
        return Err(ApiError::invalid(
            "band",
            "cannot be combined with min_ms or max_ms",
        ));
    }
    let (low, high) = band.map_or((min_ms, max_ms), |(l, h)| (Some(l), Some(h)));
    let empty_band = matches!((low, high), (Some(l), Some(h)) if l > h);
    selection.filters.extend(low.map(Filter::DurationAtLeast));
    selection.filters.extend(high.map(Filter::DurationAtMost));
    let query = SampleQuery {
        selection,
        order,
        after,
        limit,
    };
    let items = if empty_band {
        Vec::new()
    } else {
        state.store.samples(&query).await?
    };
    let next_cursor =
        (items.len() == limit)
            .then(|| items.last())
            .flatten()
            .map(|last| match order {
                SampleOrder::Newest => encode_cursor(&last.timestamp_ns.to_string(), &last.id),
                SampleOrder::Slowest => {
                    encode_cursor(&format!("{:016x}", last.duration_ms.to_bits()), &last.id)
                }
            });
    Ok(SamplesPage {
        source,
        band: band.filter(|_| !empty_band),
        items,
        next_cursor,
    })
}

pub async fn samples(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), SAMPLES_PARAMS, crate::clock::now_ns())?;
    let page = find_samples(&state, &params, &access.scope).await?;
    let causes =
        super::causes::failed_calls_of(&state, &access.scope, params.range()?, &page.items).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|s| {
            let mut value = json!(s);
            value["start"] = json!(format_instant(s.timestamp_ns));
            value["failed_calls"] =
                json!(causes.get(&s.operation_id).map_or(&[][..], Vec::as_slice));
            value
        })
        .collect();
    Ok(ok(json!({
        "table": page.source,
        "band": page.band.map(|(l, h)| json!({"low_ms": l, "high_ms": h})),
        "items": items,
        "next_cursor": page.next_cursor,
    })))
}

fn parse_sample_cursor(cursor: &str, order: SampleOrder) -> Result<SampleCursor, ApiError> {
    let (key, id) = decode_cursor(cursor)?;
    let bad = || ApiError::invalid("cursor", "does not belong to this order");
    Ok(match order {
        SampleOrder::Newest => SampleCursor::Newest {
            timestamp_ns: key.parse().map_err(|_| bad())?,
            id,
        },
        SampleOrder::Slowest => SampleCursor::Slowest {
            duration_ms: u64::from_str_radix(&key, 16)
                .map(f64::from_bits)
                .ok()
                .filter(|d| d.is_finite())
                .ok_or_else(bad)?,
            id,
        },
    })
}

pub const SEARCH_PARAMS: &[ParamSpec] = &[
    FROM,
    TO,
    param(
        "q",
        ParamType::String,
        "text the message (or exception type) contains, case-insensitive",
    ),
    param(
        "severity",
        ParamType::String,
        "lowest severity: 0-4 or verbose, information, warning, error, critical",
    ),
    param("role", ParamType::String, "cloud_RoleName"),
    param("operation_id", ParamType::String, "one operation's items"),
    FILTER,
    DIMENSION,
    param(
        "kind",
        ParamType::String,
        "`traces`, `exceptions` or `all` (default)",
    ),
    LIMIT,
    CURSOR,
];

fn severity(text: &str) -> Option<u8> {
    match text.to_ascii_lowercase().as_str() {
        "0" | "verbose" => Some(0),
        "1" | "information" => Some(1),
        "2" | "warning" => Some(2),
        "3" | "error" => Some(3),
        "4" | "critical" => Some(4),
        _ => None,
    }
}

/// The search `params` ask for, in `scope`.
pub fn search_query(
    params: &Params,
    scope: &crate::reads::AppScope,
) -> Result<SearchQuery, ApiError> {
    let kinds = match params.get("kind").unwrap_or("all") {
        "all" => SearchKinds {
            traces: true,
            exceptions: true,
        },
        "traces" => SearchKinds {
            traces: true,
            exceptions: false,
        },
        "exceptions" => SearchKinds {
            traces: false,
            exceptions: true,
        },
        _ => {
            return Err(ApiError::invalid(
                "kind",
                "must be `traces`, `exceptions` or `all`",
            ));
        }
    };
    let text = params.get("q").filter(|q| !q.is_empty()).map(str::to_owned);
    if text.as_ref().is_some_and(|q| q.len() > 1_000) {
        return Err(ApiError::invalid("q", "is longer than 1000 bytes"));
    }
    let min_severity = params
        .get("severity")
        .map(|s| {
            severity(s).ok_or_else(|| ApiError::invalid("severity", "must be 0-4 or a level name"))
        })
        .transpose()?;
    let operation_id = params.get("operation_id").map(str::to_owned);
    if operation_id
        .as_deref()
        .is_some_and(|id| !super::transaction::valid_operation_id(id))
    {
        return Err(ApiError::invalid(
            "operation_id",
            "must be 1 to 128 letters, digits or |.-_:",
        ));
    }
    let after = params
        .get("cursor")
        .map(|c| {
            let (key, id) = decode_cursor(c)?;
            let ts = key
                .parse::<i64>()
                .map_err(|_| ApiError::invalid("cursor", "is not a cursor this API returned"))?;
            Ok::<_, ApiError>((ts, id))
        })
        .transpose()?;
    let limit = params.limit(100, 1_000)?;
    let query = SearchQuery {
        range: params.range()?,
        scope: scope.clone(),
        text,
        min_severity,
        role: params.get("role").map(str::to_owned),
        operation_id,
        filters: params.filters(Source::Exceptions)?,
        kinds,
        after,
        limit,
    };
    Ok(query)
}

/// The cursor of the page after `hits`, when the page was full.
pub fn search_cursor(hits: &[crate::reads::SearchHit], limit: usize) -> Option<String> {
    (hits.len() == limit)
        .then(|| hits.last())
        .flatten()
        .map(|h| encode_cursor(&h.timestamp_ns.to_string(), &h.item_id))
}

pub async fn search(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), SEARCH_PARAMS, crate::clock::now_ns())?;
    let query = search_query(&params, &access.scope)?;
    let limit = query.limit;
    let hits = state.store.search(&query).await?;
    let next_cursor = search_cursor(&hits, limit);
    let items: Vec<Value> = hits
        .iter()
        .map(|h| {
            let mut value = json!(h);
            value["time"] = json!(format_instant(h.timestamp_ns));
            value
        })
        .collect();
    Ok(ok(json!({ "items": items, "next_cursor": next_cursor })))
}
