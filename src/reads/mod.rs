//! What reads ask and what they get back: the query shapes every store answers, the records
//! they return, and the aggregation both stores must agree on. A leaf beneath `store` (which
//! answers these) and `query` (which builds on the answers), so neither imports the other.
//! Every value in these types comes from a closed set (column enums) or is bound as a
//! parameter by the stores; nothing is spliced into SQL.

pub mod alert_records;
pub mod binned;
pub mod bucket_quantile;
pub mod histogram;
pub mod metric_series;
pub mod metrics;
pub mod records;
pub mod scores;
pub mod series_shape;
pub mod stats;
pub mod tabular;
pub mod throttled;
pub mod throttling;

use serde::Serialize;

/// A half-open time range `[from_ns, to_ns)` in UTC nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ns: i64,
    pub to_ns: i64,
}

/// Which apps' rows a read may see. Every read carries one, and the stores put it into the
/// query itself (`appName IN (…)`), so rows of other apps are never read, joined or counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppScope {
    /// Every app: an unauthenticated server, or a token issued with `--all-apps`.
    All,
    /// Only these apps (none sees nothing).
    Only(Vec<String>),
}

impl AppScope {
    pub fn one(app: &str) -> Self {
        AppScope::Only(vec![app.to_owned()])
    }

    pub fn allows(&self, app: &str) -> bool {
        match self {
            AppScope::All => true,
            AppScope::Only(apps) => apps.iter().any(|a| a == app),
        }
    }
}

/// Filters for reading metric points back.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub range: TimeRange,
    pub scope: AppScope,
    /// Exact metric name, or all metrics.
    pub name: Option<String>,
    pub limit: usize,
}

/// The tables the aggregate queries read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Requests,
    Dependencies,
    Exceptions,
}

impl Source {
    pub fn table(self) -> &'static str {
        match self {
            Source::Requests => "requests",
            Source::Dependencies => "dependencies",
            Source::Exceptions => "exceptions",
        }
    }

    /// Whether the table has durations and a success flag.
    pub fn is_span(self) -> bool {
        !matches!(self, Source::Exceptions)
    }

    pub fn has(self, column: Column) -> bool {
        use Column::*;
        match column {
            Name | ResultCode | Success => self.is_span(),
            OperationName | RoleName | RoleInstance | AppName | SessionId | UserId => true,
            Type | Target | GenAiProvider | GenAiOperation | GenAiModel | GenAiResponseModel
            | GenAiPromptName | GenAiPromptVersion => self == Source::Dependencies,
            ExceptionType | ProblemId => self == Source::Exceptions,
        }
    }
}

/// A column that can be grouped by or filtered on; the same name in both stores' schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Column {
    Name,
    OperationName,
    RoleName,
    RoleInstance,
    AppName,
    ResultCode,
    Success,
    Type,
    Target,
    GenAiProvider,
    GenAiOperation,
    GenAiModel,
    GenAiResponseModel,
    ExceptionType,
    ProblemId,
    /// The managed prompt of a GenAI call and its version.
    GenAiPromptName,
    GenAiPromptVersion,
    /// `session.id` (or the item's session tag), inherited within a request from the span above.
    SessionId,
    /// `enduser.pseudo.id` / `user.id` (or the item's user tag), inherited like the session.
    UserId,
}

impl Column {
    pub const ALL: [Column; 19] = [
        Column::Name,
        Column::OperationName,
        Column::RoleName,
        Column::RoleInstance,
        Column::AppName,
        Column::ResultCode,
        Column::Success,
        Column::Type,
        Column::Target,
        Column::GenAiProvider,
        Column::GenAiOperation,
        Column::GenAiModel,
        Column::GenAiResponseModel,
        Column::ExceptionType,
        Column::ProblemId,
        Column::GenAiPromptName,
        Column::GenAiPromptVersion,
        Column::SessionId,
        Column::UserId,
    ];

    /// The name clients use in `group_by` and `filter.<name>`.
    pub fn api_name(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::OperationName => "operation_name",
            Column::RoleName => "role",
            Column::RoleInstance => "role_instance",
            Column::AppName => "app",
            Column::ResultCode => "result_code",
            Column::Success => "success",
            Column::Type => "type",
            Column::Target => "target",
            Column::GenAiProvider => "provider",
            Column::GenAiOperation => "genai_operation",
            Column::GenAiModel => "model",
            Column::GenAiResponseModel => "response_model",
            Column::ExceptionType => "exception_type",
            Column::ProblemId => "problem_id",
            Column::GenAiPromptName => "prompt",
            Column::GenAiPromptVersion => "prompt_version",
            Column::SessionId => "session_id",
            Column::UserId => "user_id",
        }
    }

    pub fn from_api_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.api_name() == name)
    }

    /// The column in the store schemas (identical in SQLite and ClickHouse).
    pub fn sql(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::OperationName => "operation_Name",
            Column::RoleName => "cloud_RoleName",
            Column::RoleInstance => "cloud_RoleInstance",
            Column::AppName => "appName",
            Column::ResultCode => "resultCode",
            Column::Success => "success",
            Column::Type => "type",
            Column::Target => "target",
            Column::GenAiProvider => "genai_provider",
            Column::GenAiOperation => "genai_operation",
            Column::GenAiModel => "genai_requestModel",
            Column::GenAiResponseModel => "genai_responseModel",
            Column::ExceptionType => "type",
            Column::ProblemId => "problemId",
            Column::GenAiPromptName => "genai_promptName",
            Column::GenAiPromptVersion => "genai_promptVersion",
            Column::SessionId => "session_Id",
            Column::UserId => "user_Id",
        }
    }
}

/// One condition; all conditions of a query must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Equals(Column, String),
    /// The column equals one of the values (none: nothing matches).
    OneOf(Column, Vec<String>),
    NotEmpty(Column),
    /// The column's text does not start with the prefix.
    NotStartingWith(Column, String),
    /// `customDimensions[key] = value`; a missing key reads as the empty string.
    Dimension(String, String),
    /// Durations in ms, inclusive.
    DurationAtLeast(f64),
    DurationAtMost(f64),
}

/// Rows of one table in a time range, narrowed by filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub source: Source,
    pub range: TimeRange,
    pub scope: AppScope,
    pub filters: Vec<Filter>,
}

/// A time range of the apps in a scope: what the reads joining tables (map edges, GenAI
/// throttling) cover. Their joins match rows of the same app only.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedRange {
    pub range: TimeRange,
    pub scope: AppScope,
    /// Conditions on the calling side: the dependencies of map edges, the GenAI calls whose
    /// throttled attempts are counted.
    pub filters: Vec<Filter>,
}

/// Aggregates per group (and per time bucket when `bucket_s` is set).
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    pub selection: Selection,
    pub group_by: Vec<Column>,
    pub bucket_s: Option<u32>,
    pub percentiles: Percentiles,
}

/// How a stats read computes percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Percentiles {
    /// Nearest-rank over every stored duration of the range.
    #[default]
    Exact,
    /// From the per-minute rollups where they can answer (fine log buckets, within 2.3 % of
    /// the exact value; counts, sums and extremes stay exact), the rows otherwise.
    Binned,
    /// The caller reads no percentile (series of counts and tokens, session totals): the
    /// stores may answer 0 for them and skip what computing them costs; the rollups answer
    /// like [`Percentiles::Binned`].
    Unused,
}

impl Percentiles {
    /// Whether the read's percentiles are computed.
    pub fn wanted(self) -> bool {
        self != Percentiles::Unused
    }
}

/// The aggregates of one group. Counts are weighted by `itemCount` (sampled items stand for
/// several); percentiles are nearest-rank over the weighted durations, identical in every store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsRow {
    pub group: Vec<String>,
    /// Start of the bucket in ns, when bucketed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_ns: Option<i64>,
    pub count: u64,
    pub failed: u64,
    pub duration_sum_ms: f64,
    pub duration_max_ms: f64,
    /// p50, p90, p95, p99.
    pub percentiles_ms: [f64; 4],
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Items with result code 429, and their summed duration.
    pub throttled: u64,
    pub throttled_ms: f64,
    /// The most recent operation in the group, to open as an example.
    pub latest_operation_id: String,
    pub latest_timestamp_ns: i64,
}

pub const PERCENTILE_LEVELS: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// Spans of a selection, newest or slowest first, a page at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleQuery {
    pub selection: Selection,
    pub order: SampleOrder,
    pub after: Option<SampleCursor>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleOrder {
    Newest,
    Slowest,
}

/// Where the previous page ended: the sort key of its last row, then its id.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleCursor {
    Newest { timestamp_ns: i64, id: String },
    Slowest { duration_ms: f64, id: String },
}

/// Log lines and exceptions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub range: TimeRange,
    pub scope: AppScope,
    /// Case-insensitive (ASCII) substring of the message (and exception type).
    pub text: Option<String>,
    pub min_severity: Option<u8>,
    pub role: Option<String>,
    pub operation_id: Option<String>,
    /// `filter.*` (columns of exceptions; log lines have no exception columns) and `dim.*`.
    pub filters: Vec<Filter>,
    pub kinds: SearchKinds,
    pub after: Option<(i64, String)>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchKinds {
    pub traces: bool,
    pub exceptions: bool,
}

/// One found item: a log line or an exception.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub kind: &'static str,
    pub timestamp_ns: i64,
    pub item_id: String,
    pub operation_id: String,
    pub parent_id: String,
    pub severity_level: u8,
    pub role: String,
    pub message: String,
    /// Exception type; empty for log lines.
    pub exception_type: String,
    pub problem_id: String,
}

/// A call from one role to a dependency target, and the role that served it when its request
/// was received too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CallEdge {
    pub caller_role: String,
    pub target: String,
    pub callee_role: String,
}

/// A GenAI call throttled at least once (one of its HTTP attempts answered 429), with its
/// provider, model and target and every stored copy of its attempts, oldest first: what
/// [`throttling`] folds into throttled calls, attempts and waiting time. A call stored
/// twice is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThrottledCall {
    pub provider: String,
    pub model: String,
    pub target: String,
    pub app: String,
    pub operation_id: String,
    /// The call's span id, start, result code and duration.
    pub call_id: String,
    pub timestamp_ns: i64,
    pub result_code: String,
    pub duration_ms: f64,
    pub attempts: Vec<StoredAttempt>,
}

/// One stored copy of an HTTP attempt inside a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAttempt {
    pub timestamp_ns: i64,
    pub duration_ms: f64,
    pub result_code: String,
    pub success: bool,
    pub item_count: u32,
}

/// The operations whose failed calls explain them (a page of samples), and the window and
/// scope their calls lie in.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedCallsQuery {
    pub window: ScopedRange,
    pub operation_ids: Vec<String>,
}

/// A dependency call inside one of the asked operations that failed, or that shares its parent
/// with a throttled (429) call — the attempts a retry is made of. What a sample's one-line
/// cause ("3 × 429 from myaoai.openai.azure.com, 6.2 s") is folded from. Resent copies of a
/// call are one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub app: String,
    pub operation_id: String,
    pub parent_id: String,
    pub id: String,
    pub target: String,
    pub result_code: String,
    pub success: bool,
    pub timestamp_ns: i64,
    pub duration_ms: f64,
}

/// A span found by a sample query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    pub timestamp_ns: i64,
    pub id: String,
    pub operation_id: String,
    pub name: String,
    pub target: String,
    pub result_code: String,
    pub success: bool,
    pub duration_ms: f64,
    pub role: String,
}

/// Log lines and exceptions found separately, merged newest first into one page.
pub fn merge_search_hits(mut hits: Vec<SearchHit>, limit: usize) -> Vec<SearchHit> {
    hits.sort_by(|a, b| (b.timestamp_ns, &b.item_id).cmp(&(a.timestamp_ns, &a.item_id)));
    hits.truncate(limit);
    hits
}
