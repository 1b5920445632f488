//! A deployment's usage against its quota, minute by minute: the peak, the minutes past 80 %
//! of a limit, and the throttled calls in those minutes — the figures that say "raise the
//! quota" rather than "add pods".

use std::collections::HashSet;

use serde::Serialize;

use crate::genai::Quota;
use crate::reads::StatsRow;

/// A minute is busy past this share of a limit.
const BUSY_SHARE: f64 = 0.8;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaReport {
    pub tokens_per_minute: Option<u64>,
    pub requests_per_minute: Option<u64>,
    pub peak_tokens_per_minute: u64,
    pub peak_requests_per_minute: u64,
    /// The peak's share of the tighter limit (1.0 = at the quota).
    pub peak_share: f64,
    pub minutes_over_80_percent: u64,
    pub throttled_calls_in_those_minutes: u64,
}

/// `minutes`: the group's per-minute rows; `throttled_minutes`: the minute (bucket start) of
/// each of its throttled calls.
pub fn report(quota: &Quota, minutes: &[StatsRow], throttled_minutes: &[i64]) -> QuotaReport {
    let share = |used: u64, limit: Option<u64>| {
        limit.map_or(0.0, |limit| used as f64 / limit.max(1) as f64)
    };
    let minute_share = |row: &StatsRow| {
        let tokens = row.input_tokens.saturating_add(row.output_tokens);
        share(tokens, quota.tokens_per_minute).max(share(row.count, quota.requests_per_minute))
    };
    let busy: HashSet<i64> = minutes
        .iter()
        .filter(|row| minute_share(row) > BUSY_SHARE)
        .filter_map(|row| row.bucket_ns)
        .collect();
    let peak_tokens = minutes
        .iter()
        .map(|r| r.input_tokens.saturating_add(r.output_tokens))
        .max()
        .unwrap_or(0);
    let peak_requests = minutes.iter().map(|r| r.count).max().unwrap_or(0);
    QuotaReport {
        tokens_per_minute: quota.tokens_per_minute,
        requests_per_minute: quota.requests_per_minute,
        peak_tokens_per_minute: peak_tokens,
        peak_requests_per_minute: peak_requests,
        peak_share: share(peak_tokens, quota.tokens_per_minute)
            .max(share(peak_requests, quota.requests_per_minute)),
        minutes_over_80_percent: busy.len() as u64,
        throttled_calls_in_those_minutes: throttled_minutes
            .iter()
            .filter(|minute| busy.contains(*minute))
            .count() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(at: i64, calls: u64, tokens: u64) -> StatsRow {
        StatsRow {
            group: Vec::new(),
            bucket_ns: Some(at),
            count: calls,
            failed: 0,
            duration_sum_ms: 0.0,
            duration_max_ms: 0.0,
            percentiles_ms: [0.0; 4],
            input_tokens: tokens,
            output_tokens: 0,
            throttled: 0,
            throttled_ms: 0.0,
            latest_operation_id: String::new(),
            latest_timestamp_ns: 0,
        }
    }

    #[test]
    fn minutes_past_eighty_percent_of_either_limit_are_busy() {
        let quota = Quota {
            target: "aoai".into(),
            model: "gpt-4o".into(),
            tokens_per_minute: Some(150_000),
            requests_per_minute: Some(100),
        };
        let minutes = [
            minute(0, 10, 148_000),
            minute(60, 90, 1_000),
            minute(120, 10, 10_000),
        ];
        let report = report(&quota, &minutes, &[0, 0, 120]);
        assert_eq!(report.peak_tokens_per_minute, 148_000);
        assert_eq!(report.peak_requests_per_minute, 90);
        assert!((report.peak_share - 148_000.0 / 150_000.0).abs() < 1e-12);
        assert_eq!(report.minutes_over_80_percent, 2);
        assert_eq!(report.throttled_calls_in_those_minutes, 2);
    }
}
