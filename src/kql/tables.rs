//! The tables a query can name, in both schemes Azure users know (classic Application Insights
//! `requests`, workspace-based `AppRequests`), and where each column is stored. A registry:
//! other tables (Container Insights) are added as entries, without touching the planner.

use super::types::{Dynamic, KqlType};

/// Where a column's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A stored column of this name.
    Column(&'static str),
    /// The row's time (`timestamp_ns`).
    Time,
    /// A property bag stored as `{name}` (SQLite JSON) or `{name}_keys`/`{name}_values`.
    Bag(&'static str),
    /// The same text on every row (`itemType`, `Type`).
    Constant(&'static str),
    /// The first non-empty `customDimensions` value of these keys, `''` where none is.
    Dims(&'static [&'static str]),
}

/// A table whose rows a subquery makes (Container Insights' views of metrics and logs): its
/// SQL per dialect, reading stored tables as `{customMetrics}`. Its rows have the columns
/// the table's [`Stored`] entries name, `timestamp_ns`, `appName` and, on ClickHouse,
/// `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    pub sqlite: &'static str,
    pub clickhouse: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: KqlType,
    pub stored: Stored,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub name: &'static str,
    /// The stored table, written `{name}` in statements.
    pub stored: &'static str,
    pub columns: Vec<ColumnDef>,
    /// The column the time range applies to.
    pub time_column: &'static str,
    /// Rows from a subquery rather than the stored table itself.
    pub derived: Option<Derived>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    tables: Vec<TableDef>,
}

impl Registry {
    /// The Application Insights tables in both schemes and the Container Insights tables.
    pub fn app_insights() -> Self {
        let mut tables = Vec::new();
        for spec in APP_INSIGHTS {
            for scheme in [Scheme::Classic, Scheme::Workspace] {
                tables.push(spec.table(scheme));
            }
        }
        let mut registry = Registry { tables };
        for table in super::container_tables::tables() {
            registry.register(table);
        }
        registry
    }

    /// Adds (or replaces) a table.
    pub fn register(&mut self, table: TableDef) {
        self.tables.retain(|t| t.name != table.name);
        self.tables.push(table);
    }

    pub fn get(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.tables.iter().map(|t| t.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Classic,
    Workspace,
}

/// `(classic name, workspace name, type, where stored)`; an empty name: not in that scheme.
type Column = (&'static str, &'static str, KqlType, Stored);

struct TableSpec {
    classic: &'static str,
    workspace: &'static str,
    /// `itemType` in the classic scheme.
    item_type: &'static str,
    stored: &'static str,
    columns: &'static [Column],
    /// customMetrics counts values in `valueCount`, not `itemCount`.
    has_item_count: bool,
}

const S: KqlType = KqlType::String;
const L: KqlType = KqlType::Long;
const R: KqlType = KqlType::Real;
const B: KqlType = KqlType::Bool;

const fn col(name: &'static str) -> Stored {
    Stored::Column(name)
}

/// The columns every table has, after the time.
const COMMON: [Column; 16] = [
    ("itemId", "_ItemId", S, col("itemId")),
    ("iKey", "IKey", S, col("iKey")),
    ("appName", "AppName", S, col("appName")),
    ("operation_Id", "OperationId", S, col("operation_Id")),
    (
        "operation_ParentId",
        "ParentId",
        S,
        col("operation_ParentId"),
    ),
    ("operation_Name", "OperationName", S, col("operation_Name")),
    ("cloud_RoleName", "AppRoleName", S, col("cloud_RoleName")),
    (
        "cloud_RoleInstance",
        "AppRoleInstance",
        S,
        col("cloud_RoleInstance"),
    ),
    ("sdkVersion", "SDKVersion", S, col("sdkVersion")),
    (
        "application_Version",
        "AppVersion",
        S,
        col("application_Version"),
    ),
    ("user_Id", "UserId", S, col("user_Id")),
    (
        "user_AuthenticatedId",
        "UserAuthenticatedId",
        S,
        col("user_AuthenticatedId"),
    ),
    ("session_Id", "SessionId", S, col("session_Id")),
    ("client_IP", "ClientIP", S, col("client_IP")),
    (
        "customDimensions",
        "Properties",
        KqlType::Dynamic(Dynamic::Bag { numbers: false }),
        Stored::Bag("customDimensions"),
    ),
    (
        "customMeasurements",
        "Measurements",
        KqlType::Dynamic(Dynamic::Bag { numbers: true }),
        Stored::Bag("customMeasurements"),
    ),
];

const SPAN: [Column; 2] = [
    ("resultCode", "ResultCode", S, col("resultCode")),
    ("success", "Success", B, col("success")),
];

const APP_INSIGHTS: [TableSpec; 9] = [
    TableSpec {
        classic: "requests",
        workspace: "AppRequests",
        item_type: "request",
        stored: "requests",
        has_item_count: true,
        columns: &[
            ("id", "Id", S, col("id")),
            ("name", "Name", S, col("name")),
            ("url", "Url", S, col("url")),
            ("source", "Source", S, col("source")),
            SPAN[0],
            SPAN[1],
            ("duration", "DurationMs", R, col("duration_ms")),
            (
                "performanceBucket",
                "PerformanceBucket",
                S,
                col("performanceBucket"),
            ),
        ],
    },
    TableSpec {
        classic: "dependencies",
        workspace: "AppDependencies",
        item_type: "dependency",
        stored: "dependencies",
        has_item_count: true,
        columns: &[
            ("id", "Id", S, col("id")),
            ("name", "Name", S, col("name")),
            ("type", "DependencyType", S, col("type")),
            ("target", "Target", S, col("target")),
            ("data", "Data", S, col("data")),
            SPAN[0],
            SPAN[1],
            ("duration", "DurationMs", R, col("duration_ms")),
            (
                "performanceBucket",
                "PerformanceBucket",
                S,
                col("performanceBucket"),
            ),
            ("genai_provider", "GenAIProvider", S, col("genai_provider")),
            (
                "genai_operation",
                "GenAIOperation",
                S,
                col("genai_operation"),
            ),
            (
                "genai_requestModel",
                "GenAIRequestModel",
                S,
                col("genai_requestModel"),
            ),
            (
                "genai_responseModel",
                "GenAIResponseModel",
                S,
                col("genai_responseModel"),
            ),
            (
                "genai_inputTokens",
                "GenAIInputTokens",
                L,
                col("genai_inputTokens"),
            ),
            (
                "genai_outputTokens",
                "GenAIOutputTokens",
                L,
                col("genai_outputTokens"),
            ),
            (
                "genai_cachedInputTokens",
                "GenAICachedInputTokens",
                L,
                col("genai_cachedInputTokens"),
            ),
            (
                "genai_reasoningTokens",
                "GenAIReasoningTokens",
                L,
                col("genai_reasoningTokens"),
            ),
            (
                "genai_finishReason",
                "GenAIFinishReason",
                S,
                col("genai_finishReason"),
            ),
            (
                "genai_promptName",
                "GenAIPromptName",
                S,
                col("genai_promptName"),
            ),
            (
                "genai_promptVersion",
                "GenAIPromptVersion",
                S,
                col("genai_promptVersion"),
            ),
        ],
    },
    TableSpec {
        classic: "exceptions",
        workspace: "AppExceptions",
        item_type: "exception",
        stored: "exceptions",
        has_item_count: true,
        columns: &[
            ("problemId", "ProblemId", S, col("problemId")),
            ("type", "ExceptionType", S, col("type")),
            ("message", "Message", S, col("message")),
            ("outerType", "OuterType", S, col("outerType")),
            ("outerMessage", "OuterMessage", S, col("outerMessage")),
            ("innermostType", "InnermostType", S, col("innermostType")),
            (
                "innermostMessage",
                "InnermostMessage",
                S,
                col("innermostMessage"),
            ),
            ("method", "Method", S, col("method")),
            ("assembly", "Assembly", S, col("assembly")),
            ("severityLevel", "SeverityLevel", L, col("severityLevel")),
            ("handledAt", "HandledAt", S, col("handledAt")),
            (
                "details",
                "Details",
                KqlType::Dynamic(Dynamic::Json),
                col("details"),
            ),
        ],
    },
    TableSpec {
        classic: "traces",
        workspace: "AppTraces",
        item_type: "trace",
        stored: "traces",
        has_item_count: true,
        columns: &[
            ("message", "Message", S, col("message")),
            ("severityLevel", "SeverityLevel", L, col("severityLevel")),
        ],
    },
    TableSpec {
        classic: "customEvents",
        workspace: "AppEvents",
        item_type: "customEvent",
        stored: "customEvents",
        has_item_count: true,
        columns: &[("name", "Name", S, col("name"))],
    },
    TableSpec {
        classic: "customMetrics",
        workspace: "AppMetrics",
        item_type: "customMetric",
        stored: "customMetrics",
        has_item_count: false,
        columns: &[
            ("name", "Name", S, col("name")),
            ("value", "", R, col("value")),
            ("valueCount", "ItemCount", L, col("valueCount")),
            ("valueSum", "Sum", R, col("valueSum")),
            ("valueMin", "Min", R, col("valueMin")),
            ("valueMax", "Max", R, col("valueMax")),
            ("valueStdDev", "", R, col("valueStdDev")),
        ],
    },
    TableSpec {
        classic: "pageViews",
        workspace: "AppPageViews",
        item_type: "pageView",
        stored: "pageViews",
        has_item_count: true,
        columns: &[
            ("id", "Id", S, col("id")),
            ("name", "Name", S, col("name")),
            ("url", "Url", S, col("url")),
            ("duration", "DurationMs", R, col("duration_ms")),
            (
                "performanceBucket",
                "PerformanceBucket",
                S,
                col("performanceBucket"),
            ),
        ],
    },
    TableSpec {
        classic: "availabilityResults",
        workspace: "AppAvailabilityResults",
        item_type: "availabilityResult",
        stored: "availabilityResults",
        has_item_count: true,
        columns: &[
            ("id", "Id", S, col("id")),
            ("name", "Name", S, col("name")),
            ("location", "Location", S, col("location")),
            ("message", "Message", S, col("message")),
            ("success", "Success", B, col("success")),
            ("duration", "DurationMs", R, col("duration_ms")),
        ],
    },
    TableSpec {
        classic: "performanceCounters",
        workspace: "AppPerformanceCounters",
        item_type: "performanceCounter",
        stored: "performanceCounters",
        has_item_count: true,
        columns: &[
            ("category", "Category", S, col("category")),
            ("counter", "Counter", S, col("counter")),
            ("instance", "Instance", S, col("instance")),
            ("name", "Name", S, col("name")),
            ("value", "Value", R, col("value")),
        ],
    },
];

impl TableSpec {
    fn table(&self, scheme: Scheme) -> TableDef {
        let pick = |column: &Column| match scheme {
            Scheme::Classic => column.0,
            Scheme::Workspace => column.1,
        };
        let (name, time, kind) = match scheme {
            Scheme::Classic => (self.classic, "timestamp", self.item_type),
            Scheme::Workspace => (self.workspace, "TimeGenerated", self.workspace),
        };
        let mut columns = vec![ColumnDef {
            name: time,
            ty: KqlType::Datetime,
            stored: Stored::Time,
        }];
        let item_count = ("itemCount", "ItemCount", L, col("itemCount"));
        let specific = self.columns.iter();
        let counted = self.has_item_count.then_some(&item_count);
        for column in COMMON.iter().chain(counted).chain(specific) {
            let name = pick(column);
            if !name.is_empty() {
                columns.push(ColumnDef {
                    name,
                    ty: column.2,
                    stored: column.3,
                });
            }
        }
        columns.push(ColumnDef {
            name: match scheme {
                Scheme::Classic => "itemType",
                Scheme::Workspace => "Type",
            },
            ty: KqlType::String,
            stored: Stored::Constant(kind),
        });
        TableDef {
            name,
            stored: self.stored,
            columns,
            time_column: time,
            derived: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_schemes_name_the_same_stored_columns() {
        let registry = Registry::app_insights();
        let classic = registry.get("requests").expect("ok");
        let workspace = registry.get("AppRequests").expect("ok");
        assert_eq!(classic.stored, workspace.stored);
        assert_eq!(classic.columns.len(), workspace.columns.len());
        let stored = |table: &TableDef, name: &str| {
            table
                .columns
                .iter()
                .find(|c| c.name == name)
                .expect("ok")
                .stored
        };
        assert_eq!(stored(classic, "duration"), stored(workspace, "DurationMs"));
        assert_eq!(stored(classic, "timestamp"), Stored::Time);
        assert_eq!(registry.names().count(), 24);
        let metrics = registry.get("AppMetrics").expect("ok");
        assert_eq!(stored(metrics, "ItemCount"), Stored::Column("valueCount"));
    }
}
