//! Scores: evaluations of an operation or one of its spans — user feedback, an LLM judge's
//! verdict, a check an API ran — as `POST /api/v1/scores` receives them and the stores keep them.

use serde::Serialize;

use super::AppScope;
use crate::store::TimeRange;

/// What a score's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreType {
    Numeric,
    Boolean,
    Categorical,
}

impl ScoreType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreType::Numeric => "numeric",
            ScoreType::Boolean => "boolean",
            ScoreType::Categorical => "categorical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ScoreType::Numeric,
            ScoreType::Boolean,
            ScoreType::Categorical,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// One stored score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRecord {
    pub id: String,
    pub time_ns: i64,
    pub app: String,
    pub operation_id: String,
    /// Empty when the score is of the whole operation.
    pub span_id: String,
    pub name: String,
    pub data_type: ScoreType,
    /// The number; 1 or 0 for booleans; 0 for categories.
    pub value: f64,
    /// The category; empty otherwise.
    pub category: String,
    pub comment: String,
    /// `human`, `llm-judge` or `api`.
    pub source: String,
    /// The requested model and prompt version of the scored span when it is an LLM call,
    /// read with the score; empty otherwise.
    pub model: String,
    pub prompt_version: String,
}

/// Scores of a time range and scope, or of one operation, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreQuery {
    pub range: TimeRange,
    pub scope: AppScope,
    /// `(app, operation id)`: only that operation's.
    pub operation: Option<(String, String)>,
    pub limit: usize,
}
