//! Tempo's tag endpoints: which attributes recent spans carry (by scope) and the values one of
//! them takes, for Grafana's search form and autocomplete.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::{Value as Json, json};

use super::access::Access;
use super::foreign_params::{query_map, range};
use super::trace_search::{SERVICE_KQL, run_kql};
use super::{ApiError, ApiState, ok};
use crate::kql::print::string as kql_string;
use crate::model::otel_span::{SpanKind, SpanStatus};
use crate::query::otlp_trace::is_resource_key;
use crate::reads::{AppScope, TimeRange};

/// Spans sampled for tag names, newest first.
const TAG_SAMPLE_SPANS: usize = 2_000;
/// Most values listed for one tag.
const MAX_VALUES: usize = 200;
const DEFAULT_TAGS_NS: i64 = 24 * 3_600 * 1_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

const INTRINSICS: [&str; 8] = [
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
];

/// Resource attributes every rebuilt span has or may have from its columns.
const COLUMN_RESOURCE_TAGS: [&str; 2] = ["service.name", "service.instance.id"];

fn tag_range(raw: Option<&str>) -> Result<(HashMap<String, String>, TimeRange), ApiError> {
    let params = query_map(raw);
    let range = range(&params, SECOND_NS, DEFAULT_TAGS_NS, crate::clock::now_ns())?;
    Ok((params, range))
}

/// (resource tags, span tags) of the newest spans in range.
async fn tag_names(
    state: &ApiState,
    scope: &AppScope,
    range: TimeRange,
) -> Result<(BTreeSet<String>, BTreeSet<String>), ApiError> {
    let text = format!(
        "union requests, dependencies | top {TAG_SAMPLE_SPANS} by timestamp desc | project customDimensions"
    );
    let table = run_kql(state, scope, &text, range).await?;
    let mut resource: BTreeSet<String> = COLUMN_RESOURCE_TAGS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut span = BTreeSet::new();
    for row in &table.rows {
        let Some(Json::Object(bag)) = row.first() else {
            continue;
        };
        for key in bag.keys() {
            if key.starts_with("_OTel.") || key == "_MS.links" || key == "otel.status_description" {
                continue;
            }
            if is_resource_key(key) {
                resource.insert(key.clone());
            } else {
                span.insert(key.clone());
            }
        }
    }
    Ok((resource, span))
}

pub async fn tags_v2(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (params, range) = tag_range(raw.as_deref())?;
    let (resource, span) = tag_names(&state, &access.scope, range).await?;
    let wanted = params.get("scope").map(String::as_str).unwrap_or("");
    let mut scopes = Vec::new();
    for (name, tags) in [
        ("resource", resource.into_iter().collect::<Vec<_>>()),
        ("span", span.into_iter().collect()),
        (
            "intrinsic",
            INTRINSICS.iter().map(|s| (*s).to_owned()).collect(),
        ),
    ] {
        if wanted.is_empty() || wanted == "all" || wanted == name {
            scopes.push(json!({ "name": name, "tags": tags }));
        }
    }
    Ok(ok(json!({ "scopes": scopes })))
}

pub async fn tags_v1(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (_, range) = tag_range(raw.as_deref())?;
    let (resource, span) = tag_names(&state, &access.scope, range).await?;
    let names: BTreeSet<String> = resource.into_iter().chain(span).collect();
    Ok(ok(json!({ "tagNames": names })))
}

/// Grafana encodes the tag in the path, and some versions encode it twice.
pub fn decode_tag(tag: &str) -> String {
    if !tag.contains('%') {
        return tag.to_owned();
    }
    percent_decode(tag)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (type, value) pairs of a tag: `keyword` for statuses and kinds, `int` where every value
/// is an integer, `string` otherwise.
async fn tag_values(
    state: &ApiState,
    scope: &AppScope,
    tag: &str,
    range: TimeRange,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let keywords = |names: Vec<&'static str>| {
        names
            .into_iter()
            .map(|n| ("keyword", n.to_owned()))
            .collect()
    };
    let (scope_prefix, name) = match tag.split_once('.') {
        Some(("resource" | "span" | "", rest)) => (tag.split('.').next().unwrap_or(""), rest),
        _ => ("", tag),
    };
    let expression = match (scope_prefix, name) {
        ("", "status") if !tag.starts_with('.') => {
            return Ok(keywords(SpanStatus::ALL.iter().map(|s| s.name()).collect()));
        }
        ("", "kind") if !tag.starts_with('.') => {
            return Ok(keywords(SpanKind::ALL.iter().map(|k| k.name()).collect()));
        }
        ("", "name" | "rootName") if !tag.starts_with('.') => "name".to_owned(),
        ("", "rootServiceName") | (_, "service.name") => SERVICE_KQL.to_owned(),
        (_, "service.instance.id") => "cloud_RoleInstance".to_owned(),
        ("", "duration" | "traceDuration" | "statusMessage") if !tag.starts_with('.') => {
            return Ok(Vec::new());
        }
        (_, key) => format!("tostring(customDimensions[{}])", kql_string(key)),
    };
    let text = format!(
        "union requests, dependencies | extend v = {expression} | where isnotempty(v) \
         | summarize n = count() by v | top {MAX_VALUES} by n desc"
    );
    let table = run_kql(state, scope, &text, range).await?;
    let values: Vec<String> = table
        .rows
        .iter()
        .filter_map(|row| row.first().and_then(Json::as_str).map(str::to_owned))
        .collect();
    let ty = if !values.is_empty() && values.iter().all(|v| v.parse::<i64>().is_ok()) {
        "int"
    } else {
        "string"
    };
    let mut values: Vec<(&'static str, String)> = values.into_iter().map(|v| (ty, v)).collect();
    values.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(values)
}

pub async fn values_v2(
    State(state): State<ApiState>,
    access: Access,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (_, range) = tag_range(raw.as_deref())?;
    let values = tag_values(&state, &access.scope, &decode_tag(&tag), range).await?;
    let values: Vec<Json> = values
        .into_iter()
        .map(|(ty, value)| json!({ "type": ty, "value": value }))
        .collect();
    Ok(ok(json!({ "tagValues": values, "metrics": {} })))
}

pub async fn values_v1(
    State(state): State<ApiState>,
    access: Access,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (_, range) = tag_range(raw.as_deref())?;
    let values = tag_values(&state, &access.scope, &decode_tag(&tag), range).await?;
    let values: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
    Ok(ok(json!({ "tagValues": values })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_decoded_once_more_when_grafana_encoded_them_twice() {
        // The router decoded `resource.service%252Ename` once already.
        assert_eq!(
            decode_tag("resource.service%2Ename"),
            "resource.service.name"
        );
        assert_eq!(decode_tag("span.http.method"), "span.http.method");
        assert_eq!(decode_tag("span.a%ZZ"), "span.a%ZZ");
    }
}
