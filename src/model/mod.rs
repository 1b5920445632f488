//! The Application Insights data model: one row type per table, shared columns in [`Common`].
//!
//! Rows are plain structs that derive `Serialize`; each store turns them into its own wire form
//! (RowBinary for ClickHouse, bound parameters for SQLite) from the serde field order, so the field
//! order of every struct here *is* the column order of its table.

mod attributes;
pub mod otel_span;
mod tables;

use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};

pub use attributes::{Dimensions, Measurements};
pub use tables::{
    Availability, CustomEvent, CustomMetric, Dependency, Exception, GenAi, GenAiColumns, PageView,
    PerformanceCounter, Request, Trace,
};

/// What every row of one resource (one process of one service) has in common, built once per
/// OTLP resource or App Insights tag set and shared by reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    pub cloud_role_name: String,
    pub cloud_role_instance: String,
    pub sdk_version: String,
    pub application_version: String,
    /// Resource attributes that did not become a column; appended to each row's dimensions.
    pub dimensions: Dimensions,
}

/// The columns every table shares. `timestamp_ns` is UTC nanoseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Common {
    pub timestamp_ns: i64,
    pub ikey: Arc<str>,
    pub app_name: Arc<str>,
    pub item_id: String,
    pub operation_id: String,
    pub operation_parent_id: String,
    pub operation_name: String,
    pub resource: Arc<Resource>,
    pub user_id: String,
    pub user_authenticated_id: String,
    pub session_id: String,
    pub client_ip: String,
    /// How many original items this row stands for: `round(100 / sampleRate)`.
    pub item_count: u32,
    /// The item's own attributes; the resource's follow them when stored, so the item's win on
    /// a key collision (readers take the first occurrence).
    pub dimensions: Dimensions,
    pub measurements: Measurements,
}

/// Column names of [`Common`], in stored order.
pub const COMMON_COLUMNS: [&str; 18] = [
    "timestamp_ns",
    "iKey",
    "appName",
    "itemId",
    "operation_Id",
    "operation_ParentId",
    "operation_Name",
    "cloud_RoleName",
    "cloud_RoleInstance",
    "sdkVersion",
    "application_Version",
    "user_Id",
    "user_AuthenticatedId",
    "session_Id",
    "client_IP",
    "itemCount",
    "customDimensions",
    "customMeasurements",
];

impl Serialize for Common {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Common", COMMON_COLUMNS.len())?;
        s.serialize_field("timestamp_ns", &self.timestamp_ns)?;
        s.serialize_field("iKey", &*self.ikey)?;
        s.serialize_field("appName", &*self.app_name)?;
        s.serialize_field("itemId", &self.item_id)?;
        s.serialize_field("operation_Id", &self.operation_id)?;
        s.serialize_field("operation_ParentId", &self.operation_parent_id)?;
        s.serialize_field("operation_Name", &self.operation_name)?;
        s.serialize_field("cloud_RoleName", &self.resource.cloud_role_name)?;
        s.serialize_field("cloud_RoleInstance", &self.resource.cloud_role_instance)?;
        s.serialize_field("sdkVersion", &self.resource.sdk_version)?;
        s.serialize_field("application_Version", &self.resource.application_version)?;
        s.serialize_field("user_Id", &self.user_id)?;
        s.serialize_field("user_AuthenticatedId", &self.user_authenticated_id)?;
        s.serialize_field("session_Id", &self.session_id)?;
        s.serialize_field("client_IP", &self.client_ip)?;
        s.serialize_field("itemCount", &self.item_count)?;
        s.serialize_field(
            "customDimensions",
            &attributes::Chained(&self.dimensions, &self.resource.dimensions),
        )?;
        s.serialize_field("customMeasurements", &self.measurements)?;
        s.end()
    }
}

impl Resource {
    /// Rough bytes the resource adds to every row it is stored with.
    pub fn approx_bytes(&self) -> usize {
        self.cloud_role_name.len()
            + self.cloud_role_instance.len()
            + self.sdk_version.len()
            + self.application_version.len()
            + self.dimensions.approx_bytes()
    }
}

impl Common {
    /// Rough bytes the row takes once stored, its resource's attributes included (ClickHouse
    /// stores them on every row, SQLite once per resource; shared in memory): what the queue,
    /// batches and the per-request limit count, the larger cost for either store.
    pub fn approx_bytes(&self) -> usize {
        const FIXED: usize = 160;
        FIXED
            + self.resource.approx_bytes()
            + self.item_id.len()
            + self.operation_id.len()
            + self.operation_parent_id.len()
            + self.operation_name.len()
            + self.user_id.len()
            + self.user_authenticated_id.len()
            + self.session_id.len()
            + self.client_ip.len()
            + self.dimensions.approx_bytes()
            + self.measurements.approx_bytes()
    }
}

/// One stored item: the shared columns followed by the table's own.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Item<T> {
    pub common: Common,
    pub data: T,
}

/// A row type with a table of its own.
pub trait TableRow: Serialize + Default + Send + Sync + 'static {
    const TABLE: &'static str;
    /// Rough heap footprint of the table-specific part.
    fn approx_bytes(&self) -> usize;
}

impl<T: TableRow> Item<T> {
    pub fn approx_bytes(&self) -> usize {
        self.common.approx_bytes() + self.data.approx_bytes()
    }
}

/// Something that handles every table of a [`Batch`] in turn, typed per table.
pub trait TableVisitor {
    type Error;
    fn visit<T: TableRow>(&mut self, rows: &[Item<T>]) -> Result<(), Self::Error>;
}

/// Rows of every table, as produced by normalization and written by the stores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub requests: Vec<Item<Request>>,
    pub dependencies: Vec<Item<Dependency>>,
    pub exceptions: Vec<Item<Exception>>,
    pub traces: Vec<Item<Trace>>,
    pub custom_events: Vec<Item<CustomEvent>>,
    pub custom_metrics: Vec<Item<CustomMetric>>,
    pub page_views: Vec<Item<PageView>>,
    pub availability_results: Vec<Item<Availability>>,
    pub performance_counters: Vec<Item<PerformanceCounter>>,
}

/// Names of every item table, in the order [`Batch::visit`] walks them.
pub const TABLES: [&str; 9] = [
    Request::TABLE,
    Dependency::TABLE,
    Exception::TABLE,
    Trace::TABLE,
    CustomEvent::TABLE,
    CustomMetric::TABLE,
    PageView::TABLE,
    Availability::TABLE,
    PerformanceCounter::TABLE,
];

impl Batch {
    pub fn visit<V: TableVisitor>(&self, visitor: &mut V) -> Result<(), V::Error> {
        visitor.visit(&self.requests)?;
        visitor.visit(&self.dependencies)?;
        visitor.visit(&self.exceptions)?;
        visitor.visit(&self.traces)?;
        visitor.visit(&self.custom_events)?;
        visitor.visit(&self.custom_metrics)?;
        visitor.visit(&self.page_views)?;
        visitor.visit(&self.availability_results)?;
        visitor.visit(&self.performance_counters)
    }

    pub fn append(&mut self, mut other: Batch) {
        self.requests.append(&mut other.requests);
        self.dependencies.append(&mut other.dependencies);
        self.exceptions.append(&mut other.exceptions);
        self.traces.append(&mut other.traces);
        self.custom_events.append(&mut other.custom_events);
        self.custom_metrics.append(&mut other.custom_metrics);
        self.page_views.append(&mut other.page_views);
        self.availability_results
            .append(&mut other.availability_results);
        self.performance_counters
            .append(&mut other.performance_counters);
    }

    pub fn row_count(&self) -> usize {
        let mut counter = RowCounter::default();
        let Ok(()) = self.visit(&mut counter);
        counter.rows
    }

    pub fn is_empty(&self) -> bool {
        self.row_count() == 0
    }

    pub fn approx_bytes(&self) -> usize {
        let mut counter = RowCounter::default();
        let Ok(()) = self.visit(&mut counter);
        counter.bytes
    }

    /// Stamps the authenticated application on every row.
    pub fn set_app(&mut self, ikey: &Arc<str>, app_name: &Arc<str>) {
        self.each_common_mut(|common| {
            common.ikey = Arc::clone(ikey);
            common.app_name = Arc::clone(app_name);
        });
    }

    /// Calls `f` with the shared columns of every row of every table.
    pub fn each_common_mut(&mut self, mut f: impl FnMut(&mut Common)) {
        macro_rules! each {
            ($($table:ident),*) => {$(
                for row in &mut self.$table {
                    f(&mut row.common);
                }
            )*};
        }
        each!(
            requests,
            dependencies,
            exceptions,
            traces,
            custom_events,
            custom_metrics,
            page_views,
            availability_results,
            performance_counters
        );
    }
}

#[derive(Default)]
struct RowCounter {
    rows: usize,
    bytes: usize,
}

impl TableVisitor for RowCounter {
    type Error = std::convert::Infallible;
    fn visit<T: TableRow>(&mut self, rows: &[Item<T>]) -> Result<(), Self::Error> {
        self.rows += rows.len();
        self.bytes += rows.iter().map(Item::approx_bytes).sum::<usize>();
        Ok(())
    }
}

/// Application Insights `performanceBucket` for a duration in milliseconds (upper bound exclusive).
pub fn performance_bucket(duration_ms: f64) -> &'static str {
    const BUCKETS: [(f64, &str); 10] = [
        (250.0, "<250ms"),
        (500.0, "250ms-500ms"),
        (1_000.0, "500ms-1sec"),
        (3_000.0, "1sec-3sec"),
        (7_000.0, "3sec-7sec"),
        (15_000.0, "7sec-15sec"),
        (30_000.0, "15sec-30sec"),
        (60_000.0, "30sec-1min"),
        (120_000.0, "1min-2min"),
        (300_000.0, "2min-5min"),
    ];
    BUCKETS
        .iter()
        .find(|(upper, _)| duration_ms < *upper)
        .map_or(">=5min", |(_, name)| name)
}

/// `itemCount` for an App Insights sampling percentage: `round(100 / sampleRate)`, at least 1.
pub fn item_count_for_sample_rate(sample_rate_percent: f64) -> u32 {
    if !sample_rate_percent.is_finite()
        || sample_rate_percent <= 0.0
        || sample_rate_percent >= 100.0
    {
        return 1;
    }
    let count = (100.0 / sample_rate_percent).round();
    if count >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and non-negative by the checks above.
        count as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performance_bucket_upper_bound_is_exclusive() {
        assert_eq!(performance_bucket(0.0), "<250ms");
        assert_eq!(performance_bucket(249.999), "<250ms");
        assert_eq!(performance_bucket(250.0), "250ms-500ms");
        assert_eq!(performance_bucket(999.0), "500ms-1sec");
        assert_eq!(performance_bucket(1000.0), "1sec-3sec");
        assert_eq!(performance_bucket(7_700.0), "7sec-15sec");
        assert_eq!(performance_bucket(299_999.0), "2min-5min");
        assert_eq!(performance_bucket(300_000.0), ">=5min");
    }

    #[test]
    fn item_count_rounds_inverse_sample_rate() {
        assert_eq!(item_count_for_sample_rate(100.0), 1);
        assert_eq!(item_count_for_sample_rate(50.0), 2);
        assert_eq!(item_count_for_sample_rate(33.333), 3);
        assert_eq!(item_count_for_sample_rate(10.0), 10);
        assert_eq!(item_count_for_sample_rate(0.0), 1);
        assert_eq!(item_count_for_sample_rate(-5.0), 1);
        assert_eq!(item_count_for_sample_rate(f64::NAN), 1);
        assert_eq!(item_count_for_sample_rate(1e-300), u32::MAX);
    }
}
