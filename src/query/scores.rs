//! Scores summed up per name, source and type: how many, their mean (a boolean's: the share
//! that were true), range, categories, and the same per time bucket.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::reads::scores::{ScoreRecord, ScoreType};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScorePoint {
    pub bucket_ns: i64,
    pub count: u64,
    /// `None` for categories.
    pub mean: Option<f64>,
}

/// What summaries group by beyond name, source and type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreGrouping {
    /// The scored LLM call's requested model.
    pub model: bool,
    pub prompt_version: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreSummary {
    pub name: String,
    pub source: String,
    pub data_type: ScoreType,
    /// When grouped by it: the scored call's model (empty: not an LLM call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    pub count: u64,
    /// Numbers: their mean; booleans: the share that were true; categories: `None`.
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// How often each category was given (categorical scores).
    pub categories: BTreeMap<String, u64>,
    pub latest_operation_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<ScorePoint>,
}

/// Summaries of `scores` (newest first, as stores return them), most scores first; with
/// `bucket_ns`, each with its points.
pub fn summarize(
    scores: &[ScoreRecord],
    bucket_ns: Option<i64>,
    by: ScoreGrouping,
) -> Vec<ScoreSummary> {
    type Key<'a> = (
        &'a str,
        &'a str,
        &'static str,
        Option<&'a str>,
        Option<&'a str>,
    );
    /// A group's summary so far, its sum, and count and sum per bucket.
    type Building = (ScoreSummary, f64, BTreeMap<i64, (u64, f64)>);
    let mut groups: BTreeMap<Key<'_>, Building> = BTreeMap::new();
    for score in scores {
        let model = by.model.then_some(score.model.as_str());
        let prompt_version = by.prompt_version.then_some(score.prompt_version.as_str());
        let key = (
            score.name.as_str(),
            score.source.as_str(),
            score.data_type.as_str(),
            model,
            prompt_version,
        );
        let (summary, sum, buckets) = groups.entry(key).or_insert_with(|| {
            (
                ScoreSummary {
                    name: score.name.clone(),
                    source: score.source.clone(),
                    data_type: score.data_type,
                    model: model.map(str::to_owned),
                    prompt_version: prompt_version.map(str::to_owned),
                    count: 0,
                    mean: None,
                    min: None,
                    max: None,
                    categories: BTreeMap::new(),
                    // Scores come newest first.
                    latest_operation_id: score.operation_id.clone(),
                    series: Vec::new(),
                },
                0.0,
                BTreeMap::new(),
            )
        });
        summary.count += 1;
        if score.data_type == ScoreType::Categorical {
            *summary
                .categories
                .entry(score.category.clone())
                .or_default() += 1;
        } else {
            *sum += score.value;
            summary.min = Some(summary.min.map_or(score.value, |m| m.min(score.value)));
            summary.max = Some(summary.max.map_or(score.value, |m| m.max(score.value)));
        }
        if let Some(width) = bucket_ns.filter(|w| *w > 0) {
            let bucket = score.time_ns.div_euclid(width) * width;
            let (count, total) = buckets.entry(bucket).or_default();
            *count += 1;
            *total += score.value;
        }
    }
    let mut rows: Vec<ScoreSummary> = groups
        .into_values()
        .map(|(mut summary, sum, buckets)| {
            let numeric = summary.data_type != ScoreType::Categorical;
            if numeric {
                summary.mean = Some(sum / summary.count.max(1) as f64);
            }
            summary.series = buckets
                .into_iter()
                .map(|(bucket_ns, (count, total))| ScorePoint {
                    bucket_ns,
                    count,
                    mean: numeric.then(|| total / count.max(1) as f64),
                })
                .collect();
            summary
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(name: &str, data_type: ScoreType, value: f64, category: &str, at: i64) -> ScoreRecord {
        ScoreRecord {
            id: format!("{name}-{at}"),
            time_ns: at,
            app: "a".into(),
            operation_id: format!("op-{at}"),
            span_id: String::new(),
            name: name.into(),
            data_type,
            value,
            category: category.into(),
            comment: String::new(),
            source: "llm-judge".into(),
            model: if at > 15 { "gpt-4o" } else { "o3-mini" }.into(),
            prompt_version: String::new(),
        }
    }

    #[test]
    fn numbers_booleans_and_categories_sum_up_per_name() {
        let scores = [
            score("helpfulness", ScoreType::Numeric, 0.5, "", 30),
            score("helpfulness", ScoreType::Numeric, 1.0, "", 20),
            score("helpfulness", ScoreType::Numeric, 0.0, "", 5),
            score("thumbs_up", ScoreType::Boolean, 1.0, "", 12),
            score("thumbs_up", ScoreType::Boolean, 0.0, "", 11),
            score("tone", ScoreType::Categorical, 0.0, "polite", 3),
        ];
        let rows = summarize(&scores, Some(10), ScoreGrouping::default());
        let help = &rows[0];
        assert_eq!((help.name.as_str(), help.count), ("helpfulness", 3));
        assert_eq!(
            (help.mean, help.min, help.max),
            (Some(0.5), Some(0.0), Some(1.0))
        );
        assert_eq!(help.latest_operation_id, "op-30");
        let buckets: Vec<(i64, u64, Option<f64>)> = help
            .series
            .iter()
            .map(|p| (p.bucket_ns, p.count, p.mean))
            .collect();
        assert_eq!(
            buckets,
            [(0, 1, Some(0.0)), (20, 1, Some(1.0)), (30, 1, Some(0.5))]
        );
        let thumbs = rows.iter().find(|r| r.name == "thumbs_up").expect("thumbs");
        assert_eq!(thumbs.mean, Some(0.5), "half were true");
        let tone = rows.iter().find(|r| r.name == "tone").expect("tone");
        assert_eq!(tone.mean, None);
        assert_eq!(tone.categories.get("polite"), Some(&1));
        let by_model = summarize(
            &scores[..3],
            None,
            ScoreGrouping {
                model: true,
                prompt_version: false,
            },
        );
        let split: Vec<(Option<&str>, u64)> = by_model
            .iter()
            .map(|r| (r.model.as_deref(), r.count))
            .collect();
        assert_eq!(split, [(Some("gpt-4o"), 2), (Some("o3-mini"), 1)]);
        assert!(by_model[0].series.is_empty());
    }
}
