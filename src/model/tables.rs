//! The table-specific columns of each Application Insights table.

use serde::Serialize;

use super::TableRow;

/// An incoming operation: a SERVER/CONSUMER span, a local root span, or a `RequestData` envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Request {
    pub id: String,
    pub name: String,
    pub url: String,
    pub source: String,
    #[serde(rename = "resultCode")]
    pub result_code: String,
    pub success: bool,
    pub duration_ms: f64,
    #[serde(rename = "performanceBucket")]
    pub performance_bucket: &'static str,
}

/// The GenAI columns of a dependency, canonical across semantic-convention dialects.
/// Empty strings and zero tokens mean "not reported".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenAi {
    #[serde(rename = "genai_provider")]
    pub provider: String,
    #[serde(rename = "genai_operation")]
    pub operation: String,
    #[serde(rename = "genai_requestModel")]
    pub request_model: String,
    #[serde(rename = "genai_responseModel")]
    pub response_model: String,
    #[serde(rename = "genai_inputTokens")]
    pub input_tokens: u64,
    #[serde(rename = "genai_outputTokens")]
    pub output_tokens: u64,
    #[serde(rename = "genai_cachedInputTokens")]
    pub cached_input_tokens: u64,
    /// Output tokens spent reasoning (part of `output_tokens`).
    #[serde(rename = "genai_reasoningTokens")]
    pub reasoning_tokens: u64,
    #[serde(rename = "genai_maxTokens")]
    pub max_tokens: u64,
    #[serde(rename = "genai_finishReason")]
    pub finish_reason: String,
    /// The managed prompt the call was made from (`gen_ai.prompt.name`, Langfuse's).
    #[serde(rename = "genai_promptName")]
    pub prompt_name: String,
    #[serde(rename = "genai_promptVersion")]
    pub prompt_version: String,
    /// Which attribute family the values came from: `otel`, `otel-legacy`, `openllmetry`,
    /// `openinference`.
    #[serde(rename = "genai_dialect")]
    pub dialect: &'static str,
}

/// An outgoing call or in-process operation: CLIENT/PRODUCER/INTERNAL spans and
/// `RemoteDependencyData` envelopes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dependency {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub dependency_type: String,
    pub target: String,
    pub data: String,
    #[serde(rename = "resultCode")]
    pub result_code: String,
    pub success: bool,
    pub duration_ms: f64,
    #[serde(rename = "performanceBucket")]
    pub performance_bucket: &'static str,
    pub genai: GenAiColumns,
}

/// The GenAI columns of a dependency, allocated only for GenAI calls; reads as all-empty
/// [`GenAi`] otherwise. Keeps the common, non-LLM dependency row small.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenAiColumns(pub Option<Box<GenAi>>);

/// What a dependency that is not a GenAI call stores in the GenAI columns.
static NO_GENAI: GenAi = GenAi {
    provider: String::new(),
    operation: String::new(),
    request_model: String::new(),
    response_model: String::new(),
    input_tokens: 0,
    output_tokens: 0,
    cached_input_tokens: 0,
    reasoning_tokens: 0,
    max_tokens: 0,
    finish_reason: String::new(),
    prompt_name: String::new(),
    prompt_version: String::new(),
    dialect: "",
};

impl std::ops::Deref for GenAiColumns {
    type Target = GenAi;
    fn deref(&self) -> &GenAi {
        self.0.as_deref().unwrap_or(&NO_GENAI)
    }
}

impl From<GenAi> for GenAiColumns {
    fn from(genai: GenAi) -> Self {
        GenAiColumns(Some(Box::new(genai)))
    }
}

impl Serialize for GenAiColumns {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exception {
    #[serde(rename = "problemId")]
    pub problem_id: String,
    #[serde(rename = "type")]
    pub exception_type: String,
    pub message: String,
    #[serde(rename = "outerType")]
    pub outer_type: String,
    #[serde(rename = "outerMessage")]
    pub outer_message: String,
    #[serde(rename = "innermostType")]
    pub innermost_type: String,
    #[serde(rename = "innermostMessage")]
    pub innermost_message: String,
    pub method: String,
    pub assembly: String,
    #[serde(rename = "severityLevel")]
    pub severity_level: u8,
    #[serde(rename = "handledAt")]
    pub handled_at: String,
    /// The raw stack text of the outermost exception.
    pub stack: String,
    /// JSON array of the exception chain (`id`, `outerId`, `type`, `message`, `parsedStack`).
    pub details: String,
}

/// A log line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trace {
    pub message: String,
    #[serde(rename = "severityLevel")]
    pub severity_level: u8,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomEvent {
    pub name: String,
}

/// One metric data point. Histograms keep their buckets: `bucketBounds[i]` is the upper bound of
/// `bucketCounts[i]`, the last count being the overflow bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomMetric {
    pub name: String,
    pub namespace: String,
    #[serde(rename = "metricType")]
    pub metric_type: &'static str,
    pub unit: String,
    #[serde(rename = "aggregationTemporality")]
    pub aggregation_temporality: &'static str,
    pub value: f64,
    #[serde(rename = "valueCount")]
    pub value_count: u64,
    #[serde(rename = "valueSum")]
    pub value_sum: f64,
    #[serde(rename = "valueMin")]
    pub value_min: f64,
    #[serde(rename = "valueMax")]
    pub value_max: f64,
    #[serde(rename = "valueStdDev")]
    pub value_std_dev: f64,
    #[serde(rename = "bucketBounds")]
    pub bucket_bounds: Vec<f64>,
    #[serde(rename = "bucketCounts")]
    pub bucket_counts: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PageView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub duration_ms: f64,
    #[serde(rename = "performanceBucket")]
    pub performance_bucket: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Availability {
    pub id: String,
    pub name: String,
    pub location: String,
    pub message: String,
    pub success: bool,
    pub duration_ms: f64,
}

/// A Windows-style performance counter (`\Category(instance)\Counter`) sent as MetricData.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerformanceCounter {
    pub category: String,
    pub counter: String,
    pub instance: String,
    pub name: String,
    pub value: f64,
}

impl TableRow for Request {
    const TABLE: &'static str = "requests";
    fn approx_bytes(&self) -> usize {
        64 + self.id.len() + self.name.len() + self.url.len() + self.source.len()
    }
}

impl TableRow for Dependency {
    const TABLE: &'static str = "dependencies";
    fn approx_bytes(&self) -> usize {
        160 + self.id.len()
            + self.name.len()
            + self.dependency_type.len()
            + self.target.len()
            + self.data.len()
            + self
                .genai
                .0
                .as_ref()
                .map_or(0, |g| 160 + g.request_model.len() + g.response_model.len())
    }
}

impl TableRow for Exception {
    const TABLE: &'static str = "exceptions";
    fn approx_bytes(&self) -> usize {
        128 + self.problem_id.len()
            + 2 * (self.exception_type.len() + self.message.len())
            + self.stack.len()
            + self.details.len()
    }
}

impl TableRow for Trace {
    const TABLE: &'static str = "traces";
    fn approx_bytes(&self) -> usize {
        32 + self.message.len()
    }
}

impl TableRow for CustomEvent {
    const TABLE: &'static str = "customEvents";
    fn approx_bytes(&self) -> usize {
        24 + self.name.len()
    }
}

impl TableRow for CustomMetric {
    const TABLE: &'static str = "customMetrics";
    fn approx_bytes(&self) -> usize {
        128 + self.name.len() + 16 * self.bucket_counts.len()
    }
}

impl TableRow for PageView {
    const TABLE: &'static str = "pageViews";
    fn approx_bytes(&self) -> usize {
        64 + self.id.len() + self.name.len() + self.url.len()
    }
}

impl TableRow for Availability {
    const TABLE: &'static str = "availabilityResults";
    fn approx_bytes(&self) -> usize {
        64 + self.id.len() + self.name.len() + self.location.len() + self.message.len()
    }
}

impl TableRow for PerformanceCounter {
    const TABLE: &'static str = "performanceCounters";
    fn approx_bytes(&self) -> usize {
        64 + self.category.len() + self.counter.len() + self.instance.len() + self.name.len()
    }
}
