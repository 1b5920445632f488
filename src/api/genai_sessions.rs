//! `GET /api/v1/genai/sessions` and `GET /api/v1/genai/users`: the LLM calls of each session
//! (or user) with its server requests — calls, tokens, cost from the price table, failures,
//! the models used, the users of a session (the sessions of a user), and the latest operation
//! to open. A session is the `session_id` column: `session.id`, Langfuse's `langfuse.session.id`,
//! `gen_ai.conversation.id` or the Application Insights session tag, inherited within a
//! request by the spans beneath the one that names it.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Access;
use super::analysis::stats_page;
use super::params::{DIMENSION, FILTER, FROM, LIMIT, PERCENTILES, ParamSpec, Params, TO};
use super::{ApiError, ApiState, ok};
use crate::reads::{
    AppScope, Column, Filter, Percentiles, Selection, Source, StatsQuery, StatsRow,
};
use crate::time::format_instant;

pub const PARAMS: &[ParamSpec] = &[FROM, TO, FILTER, DIMENSION, LIMIT, PERCENTILES];

/// Groups read per table before they are folded into sessions; past it the answer says
/// `truncated`.
const MAX_GROUPS: usize = 20_000;

/// Sessions (or users) the API lists without a `limit`.
const API_LIMIT: usize = 100;

/// What is listed: sessions (with their users) or users (with their sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Sessions,
    Users,
}

impl Grouping {
    fn key(self) -> Column {
        match self {
            Grouping::Sessions => Column::SessionId,
            Grouping::Users => Column::UserId,
        }
    }
    fn key_name(self) -> &'static str {
        self.key().api_name()
    }
    fn other_name(self) -> &'static str {
        match self {
            Grouping::Sessions => "users",
            Grouping::Users => "sessions",
        }
    }
}

/// One session's (or user's) figures.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SessionRow {
    pub key: String,
    /// Server requests under the key, of every role (a downstream service's too).
    pub requests: u64,
    pub failed_requests: u64,
    pub calls: u64,
    pub failed_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Cost of the calls whose model has a price; `unpriced_calls` counts the others.
    pub cost_usd: f64,
    pub unpriced_calls: u64,
    pub models: BTreeSet<String>,
    /// Users of a session, or sessions of a user.
    pub others: BTreeSet<String>,
    pub latest_operation_id: String,
    pub latest_timestamp_ns: i64,
}

impl SessionRow {
    fn seen(&mut self, row: &StatsRow) {
        if row.latest_timestamp_ns >= self.latest_timestamp_ns {
            self.latest_timestamp_ns = row.latest_timestamp_ns;
            self.latest_operation_id = row.latest_operation_id.clone();
        }
    }
}

/// Folds the per (key, other, model) call groups and the per (key, other) request groups
/// into one row per key that has LLM calls, latest first. Pure, so the API and UI agree.
pub fn fold(
    calls: &[StatsRow],
    requests: &[StatsRow],
    price: &dyn Fn(&str, u64, u64) -> Option<f64>,
) -> Vec<SessionRow> {
    let mut by_key: HashMap<&str, SessionRow> = HashMap::new();
    for row in calls {
        let [key, other, model] = [0, 1, 2].map(|i| row.group.get(i).map_or("", String::as_str));
        let session = by_key.entry(key).or_insert_with(|| SessionRow {
            key: key.to_owned(),
            ..SessionRow::default()
        });
        session.calls = session.calls.saturating_add(row.count);
        session.failed_calls = session.failed_calls.saturating_add(row.failed);
        session.input_tokens = session.input_tokens.saturating_add(row.input_tokens);
        session.output_tokens = session.output_tokens.saturating_add(row.output_tokens);
        match price(model, row.input_tokens, row.output_tokens) {
            Some(cost) => session.cost_usd += cost,
            None => session.unpriced_calls = session.unpriced_calls.saturating_add(row.count),
        }
        if !model.is_empty() {
            session.models.insert(model.to_owned());
        }
        if !other.is_empty() {
            session.others.insert(other.to_owned());
        }
        session.seen(row);
    }
    for row in requests {
        let [key, other] = [0, 1].map(|i| row.group.get(i).map_or("", String::as_str));
        // Sessions without LLM calls are not GenAI sessions.
        let Some(session) = by_key.get_mut(key) else {
            continue;
        };
        session.requests = session.requests.saturating_add(row.count);
        session.failed_requests = session.failed_requests.saturating_add(row.failed);
        if !other.is_empty() {
            session.others.insert(other.to_owned());
        }
        session.seen(row);
    }
    let mut rows: Vec<SessionRow> = by_key.into_values().collect();
    rows.sort_by(|a, b| {
        b.latest_timestamp_ns
            .cmp(&a.latest_timestamp_ns)
            .then_with(|| a.key.cmp(&b.key))
    });
    rows
}

/// The sessions (or users) of a range with the newest LLM calls, at most the `limit`
/// parameter of them (`default_limit` without it), as the API and the UI list them (latest
/// seen first).
pub async fn sessions_of(
    state: &ApiState,
    params: &Params,
    scope: &AppScope,
    grouping: Grouping,
    default_limit: usize,
) -> Result<(Vec<SessionRow>, bool), ApiError> {
    let range = params.range()?;
    let limit = params.limit(default_limit, 1_000)?;
    let (key, other) = match grouping {
        Grouping::Sessions => (Column::SessionId, Column::UserId),
        Grouping::Users => (Column::UserId, Column::SessionId),
    };
    // Filters narrow the calls; requests take those their table has (a session "using
    // gpt-4o" counts all its requests).
    let mut call_filters = params.filters(Source::Dependencies)?;
    let mut request_filters: Vec<Filter> = call_filters
        .iter()
        .filter(|filter| match filter {
            Filter::Equals(column, _)
            | Filter::NotEmpty(column)
            | Filter::NotStartingWith(column, _) => Source::Requests.has(*column),
            _ => true,
        })
        .cloned()
        .collect();
    call_filters.extend([
        Filter::NotEmpty(Column::GenAiProvider),
        Filter::NotEmpty(key),
    ]);
    request_filters.push(Filter::NotEmpty(key));
    // The `limit` sessions (or users) with the newest calls first, then only their rows:
    // a page of them reads a few rows, not every call and request of the range.
    let newest = Selection {
        source: Source::Dependencies,
        range,
        scope: scope.clone(),
        filters: call_filters.clone(),
    };
    let mut keys = state
        .store
        .latest_keys(&newest, key, limit.saturating_add(1))
        .await?;
    let more_keys = keys.len() > limit;
    keys.truncate(limit);
    if keys.is_empty() {
        return Ok((Vec::new(), false));
    }
    call_filters.push(Filter::OneOf(key, keys.clone()));
    request_filters.push(Filter::OneOf(key, keys));
    // Sessions show no percentiles.
    let percentiles = Percentiles::Unused;
    let query = |source, filters, group_by| StatsQuery {
        selection: Selection {
            source,
            range,
            scope: scope.clone(),
            filters,
        },
        group_by,
        bucket_s: None,
        percentiles,
    };
    let calls = query(
        Source::Dependencies,
        call_filters,
        vec![key, other, Column::GenAiModel],
    );
    let requests = query(Source::Requests, request_filters, vec![key, other]);
    let ((calls, calls_truncated), (requests, requests_truncated)) = tokio::try_join!(
        stats_page(state, &calls, MAX_GROUPS),
        stats_page(state, &requests, MAX_GROUPS)
    )?;
    let policy = &state.genai;
    let mut rows = fold(&calls, &requests, &|model, input, output| {
        policy.cost_usd(model, input, output)
    });
    let truncated = more_keys || calls_truncated || requests_truncated || rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, truncated))
}

fn row_json(grouping: Grouping, row: &SessionRow) -> Value {
    let mut value = json!({
        "requests": row.requests,
        "failed_requests": row.failed_requests,
        "calls": row.calls,
        "failed_calls": row.failed_calls,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cost_usd": row.cost_usd,
        "unpriced_calls": row.unpriced_calls,
        "models": row.models,
        "last_seen": format_instant(row.latest_timestamp_ns),
        "sample_operation_id": row.latest_operation_id,
    });
    value[grouping.key_name()] = json!(row.key);
    value[grouping.other_name()] = json!(row.others);
    value
}

async fn answer(
    state: ApiState,
    access: Access,
    raw: Option<String>,
    grouping: Grouping,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let (rows, truncated) =
        sessions_of(&state, &params, &access.scope, grouping, API_LIMIT).await?;
    let rows: Vec<Value> = rows.iter().map(|row| row_json(grouping, row)).collect();
    Ok(ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "rows": rows,
        "truncated": truncated,
        "prices_as_of": state.genai.prices_as_of,
    })))
}

pub async fn sessions(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(state, access, raw, Grouping::Sessions).await
}

pub async fn users(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(state, access, raw, Grouping::Users).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &[&str], count: u64, failed: u64, tokens: (u64, u64), at: i64) -> StatsRow {
        StatsRow {
            group: group.iter().map(|s| (*s).to_owned()).collect(),
            count,
            failed,
            input_tokens: tokens.0,
            output_tokens: tokens.1,
            latest_operation_id: format!("op-{at}"),
            latest_timestamp_ns: at,
            ..StatsRow::default()
        }
    }

    #[test]
    fn calls_and_requests_fold_into_sessions_latest_first() {
        let calls = [
            row(&["s1", "alice", "gpt-4o"], 3, 1, (300, 30), 10),
            row(&["s1", "alice", "unknown-model"], 1, 0, (10, 1), 5),
            row(&["s2", "bob", "gpt-4o"], 2, 0, (200, 20), 20),
        ];
        let requests = [
            row(&["s1", "alice"], 2, 1, (0, 0), 12),
            row(&["s1", ""], 1, 0, (0, 0), 1),
            // A session without LLM calls is left out.
            row(&["s3", "carol"], 5, 0, (0, 0), 30),
        ];
        let price = |model: &str, input: u64, output: u64| {
            (model == "gpt-4o").then_some(input as f64 * 0.01 + output as f64 * 0.1)
        };
        let rows = fold(&calls, &requests, &price);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["s2", "s1"]);
        let s1 = &rows[1];
        assert_eq!((s1.calls, s1.failed_calls), (4, 1));
        assert_eq!((s1.requests, s1.failed_requests), (3, 1));
        assert_eq!((s1.input_tokens, s1.output_tokens), (310, 31));
        assert!((s1.cost_usd - 6.0).abs() < 1e-9, "{}", s1.cost_usd);
        assert_eq!(s1.unpriced_calls, 1);
        assert_eq!(
            s1.models.iter().collect::<Vec<_>>(),
            ["gpt-4o", "unknown-model"]
        );
        assert_eq!(s1.others.iter().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(
            (s1.latest_operation_id.as_str(), s1.latest_timestamp_ns),
            ("op-12", 12)
        );
    }
}
