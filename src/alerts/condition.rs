//! Measuring a rule's condition over its window: a log rule runs its KQL query, a metric rule
//! aggregates a `customMetrics` name; either answers one value per series.

use async_trait::async_trait;
use serde_json::Value;

use super::rules::{Condition, Rule};
use super::state::Observation;
use crate::kql::result::ResultTable;
use crate::kql::run::{QueryError, run_over};
use crate::reads::metric_series::Buckets;
use crate::reads::metrics::{GroupKey, SeriesQuery};
use crate::reads::{AppScope, Column, Filter, TimeRange};
use crate::store::{Store, StoreError};

/// Why an evaluation measured nothing.
#[derive(Debug, thiserror::Error)]
pub enum ConditionError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The answer does not have the shape the rule needs.
    #[error("{0}")]
    Shape(String),
    #[error("the measurement took longer than {0:?}")]
    TimedOut(std::time::Duration),
}

impl ConditionError {
    /// What the history and the API may show: store error text stays in the log.
    pub fn public_message(&self) -> String {
        match self {
            ConditionError::Query(QueryError::Store(error)) | ConditionError::Store(error) => {
                error.public_message()
            }
            other => other.to_string(),
        }
    }
}

/// Measures rules; the evaluator's tests give it scripted values.
#[async_trait]
pub trait Measure: Send + Sync {
    async fn measure(
        &self,
        rule: &Rule,
        window: TimeRange,
    ) -> Result<Vec<Observation>, ConditionError>;
}

/// Measures on the store.
pub struct StoreMeasure {
    pub store: std::sync::Arc<dyn Store>,
}

#[async_trait]
impl Measure for StoreMeasure {
    async fn measure(
        &self,
        rule: &Rule,
        window: TimeRange,
    ) -> Result<Vec<Observation>, ConditionError> {
        let scope = match &rule.app {
            Some(app) => AppScope::one(app),
            None => AppScope::All,
        };
        match &rule.condition {
            Condition::Log { query, measure } => {
                let table = run_over(
                    self.store.as_ref(),
                    &scope,
                    query,
                    Some(window),
                    window.to_ns,
                )
                .await?;
                observations(&table, &rule.dimensions, measure.as_deref())
                    .map_err(ConditionError::Shape)
            }
            Condition::Metric {
                name,
                aggregation,
                filters,
            } => {
                let buckets = Buckets::whole(window.from_ns, window.to_ns)
                    .ok_or_else(|| ConditionError::Shape("the window is empty".into()))?;
                let query = SeriesQuery::over(
                    buckets,
                    scope,
                    vec![name.clone()],
                    filters
                        .iter()
                        .map(|(key, value)| match metric_key(key) {
                            GroupKey::Column(column) => Filter::Equals(column, value.clone()),
                            GroupKey::Dimension(key) => Filter::Dimension(key, value.clone()),
                        })
                        .collect(),
                    rule.dimensions.iter().map(|d| metric_key(d)).collect(),
                    *aggregation,
                );
                let series = self.store.metric_series(&query).await?;
                Ok(series
                    .into_iter()
                    .filter_map(|group| {
                        let value = group.values.first().copied().flatten()?;
                        Some(Observation {
                            dimensions: rule.dimensions.iter().cloned().zip(group.group).collect(),
                            value,
                        })
                    })
                    .collect())
            }
        }
    }
}

/// `role`, `role_instance` and `app` are columns; any other name (or `dim.<key>`) is a
/// `customDimensions` key such as `k8s.node.name`.
fn metric_key(name: &str) -> GroupKey {
    match Column::from_api_name(name).filter(|c| GroupKey::is_metric_column(*c)) {
        Some(column) => GroupKey::Column(column),
        None => GroupKey::Dimension(name.strip_prefix("dim.").unwrap_or(name).to_owned()),
    }
}

/// One observation per row: the dimension columns' values and the measure column's number.
pub fn observations(
    table: &ResultTable,
    dimensions: &[String],
    measure: Option<&str>,
) -> Result<Vec<Observation>, String> {
    let column = |name: &str| {
        table
            .columns
            .iter()
            .position(|(c, _)| c == name)
            .ok_or_else(|| {
                let names: Vec<&str> = table.columns.iter().map(|(c, _)| c.as_str()).collect();
                format!(
                    "the query answers no column {name:?} (it has {})",
                    names.join(", ")
                )
            })
    };
    let dimension_columns = dimensions
        .iter()
        .map(|d| column(d))
        .collect::<Result<Vec<_>, _>>()?;
    let measure_column = match measure {
        Some(name) => column(name)?,
        None => {
            let numeric: Vec<usize> = table
                .columns
                .iter()
                .enumerate()
                .filter(|(i, (_, ty))| ty.is_numeric() && !dimension_columns.contains(i))
                .map(|(i, _)| i)
                .collect();
            match numeric.as_slice() {
                [only] => *only,
                [] => {
                    return Err(
                        "the query answers no numeric column to compare with the threshold".into(),
                    );
                }
                _ => {
                    return Err(
                        "the query answers several numeric columns; name one as the rule's measure"
                            .into(),
                    );
                }
            }
        }
    };
    if dimensions.is_empty() && table.rows.len() > 1 {
        return Err(format!(
            "the query answers {} rows; a rule without dimensions needs one (summarize, or name the dimensions that tell the rows apart)",
            table.rows.len()
        ));
    }
    let observations: Vec<Observation> = table
        .rows
        .iter()
        .map(|row| Observation {
            dimensions: dimensions
                .iter()
                .zip(&dimension_columns)
                .map(|(name, &i)| (name.clone(), text(row.get(i))))
                .collect(),
            value: row.get(measure_column).and_then(number).unwrap_or(f64::NAN),
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = observations.iter().find(|o| !seen.insert(&o.dimensions)) {
        return Err(format!(
            "the query answers more than one row for {}; summarize by the rule's dimensions only",
            crate::alerts::state::series_key(&twice.dimensions)
        ));
    }
    Ok(observations)
}

fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kql::types::KqlType;

    fn table(rows: Vec<Vec<Value>>) -> ResultTable {
        ResultTable {
            columns: vec![
                ("AppRoleName".into(), KqlType::String),
                ("total".into(), KqlType::Long),
                ("error_percent".into(), KqlType::Real),
            ],
            rows,
            truncated: false,
            visualization: None,
        }
    }

    #[test]
    fn each_row_is_a_series_of_its_dimension_values() {
        let answer = table(vec![
            vec![json!("api"), json!(40), json!(25.0)],
            vec![json!("web"), json!(20), Value::Null],
        ]);
        let dimensions = ["AppRoleName".to_owned()];
        let observed = observations(&answer, &dimensions, Some("error_percent")).expect("shape");
        assert_eq!(
            observed[0].dimensions,
            [("AppRoleName".into(), "api".into())]
        );
        assert_eq!(observed[0].value, 25.0);
        assert!(observed[1].value.is_nan(), "a null measure is no data");
        let error = observations(&answer, &dimensions, None).expect_err("two numeric columns");
        assert!(error.contains("name one as the rule's measure"), "{error}");
        let error = observations(&answer, &[], Some("total")).expect_err("two rows");
        assert!(error.contains("2 rows"), "{error}");
        let error = observations(&answer, &dimensions, Some("p99")).expect_err("no column");
        assert!(error.contains("no column \"p99\""), "{error}");
    }

    #[test]
    fn two_rows_of_one_series_are_refused() {
        let answer = table(vec![
            vec![json!("api"), json!(40), json!(25.0)],
            vec![json!("api"), json!(20), json!(1.0)],
        ]);
        let error = observations(&answer, &["AppRoleName".to_owned()], Some("error_percent"))
            .expect_err("duplicate");
        assert!(error.contains("more than one row"), "{error}");
    }
}
