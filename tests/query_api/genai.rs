//! The GenAI answers of the conformance suite: usage with throttling, cost and quota, prompt
//! versions, the seed call's tokens and prompt, sessions and users.

use serde_json::Value;

use super::QUOTA_TPM;
use crate::common::TestServer;
use crate::common::scenario::*;

pub async fn answers(server: &TestServer, scenario: &Scenario) -> Vec<(String, Value)> {
    let range = scenario.range();
    let mut all = Vec::new();
    let mut record = |path: String, value: Value| all.push((path, value));

    // GenAI usage: tokens, throttling inside the calls, latency per output token.
    let path = format!("/api/v1/genai/usage?{range}");
    let usage = ok(server, &path).await;
    let gpt = usage["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["model"] == "gpt-4o" && r["target"] == AOAI)
        .unwrap_or_else(|| panic!("{usage}"));
    assert_eq!(
        (
            gpt["calls"].as_u64(),
            gpt["input_tokens"].as_u64(),
            gpt["output_tokens"].as_u64()
        ),
        (Some(CALLS), Some(100 * CALLS), Some(50 * CALLS))
    );
    // One call throttled three times; the wait is the transaction's, defined once.
    assert_eq!(gpt["throttled_calls"], 1, "{gpt}");
    assert_eq!(gpt["throttled_attempts"], 3);
    assert_eq!(gpt["throttled_time_ms"], 5_670.0);
    // Cost by the built-in gpt-4o price ($2.50 in, $10 out per million), and the quota.
    let cost = (100.0 * CALLS as f64 * 2.50 + 50.0 * CALLS as f64 * 10.0) / 1e6;
    assert!(
        (gpt["cost_usd"].as_f64().unwrap_or(0.0) - cost).abs() < 1e-12,
        "{gpt}"
    );
    assert_eq!(
        gpt["quota"],
        serde_json::json!({
            "tokens_per_minute": QUOTA_TPM, "requests_per_minute": null,
            "peak_tokens_per_minute": 150 * CALLS, "peak_requests_per_minute": CALLS,
            "peak_share": (150 * CALLS) as f64 / QUOTA_TPM as f64,
            "minutes_over_80_percent": 1, "throttled_calls_in_those_minutes": 1,
        }),
        "{gpt}"
    );
    // Calls start a second apart from a minute's start: all fall in one minute.
    assert_eq!(gpt["peak_tokens_per_minute"], 150 * CALLS);
    record(path, usage);

    // Prompt versions are a group-by like any column.
    let path = format!(
        "/api/v1/performance?table=dependencies&group_by=prompt,prompt_version&filter.model=gpt-4o&{range}"
    );
    let prompts = ok(server, &path).await;
    let versions: Vec<(String, u64)> = prompts["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                format!(
                    "{} v{}",
                    r["group"]["prompt"].as_str().unwrap_or(""),
                    r["group"]["prompt_version"].as_str().unwrap_or("")
                ),
                r["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("chat-answer v2".to_owned(), 40),
            ("chat-answer v3".to_owned(), 10)
        ],
        "{prompts}"
    );
    record(path, prompts);
    let path = format!("/api/v1/operations/{}", operation_id(SEED));
    let tx = ok(server, &path).await;
    let call = tx["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["genai"].is_object())
        .unwrap_or_else(|| panic!("{tx}"));
    assert_eq!(
        (
            &call["genai"]["reasoning_tokens"],
            &call["genai"]["prompt_name"],
            &call["genai"]["prompt_version"]
        ),
        (
            &serde_json::json!(20),
            &serde_json::json!("chat-answer"),
            &serde_json::json!("3")
        ),
        "{call}"
    );

    // Sessions: the request names them; the GenAI call beneath inherits them.
    let path = format!("/api/v1/genai/sessions?{range}");
    let sessions = ok(server, &path).await;
    let rows = sessions["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 7, "{sessions}");
    for row in rows {
        let session = row["session_id"].as_str().unwrap_or("");
        let calls: Vec<u64> = (1..=CALLS)
            .filter(|call| format!("session-{}", call % 7) == session)
            .collect();
        let users: std::collections::BTreeSet<String> = calls
            .iter()
            .map(|call| format!("user-{}", call % 3))
            .collect();
        let n = calls.len() as u64;
        assert_eq!(
            (row["calls"].as_u64(), row["input_tokens"].as_u64()),
            (Some(n), Some(100 * n)),
            "{row}"
        );
        assert_eq!(row["users"], serde_json::json!(users), "{row}");
        assert!(row["requests"].as_u64().unwrap_or(0) >= n, "{row}");
        let cost = (100.0 * n as f64 * 2.50 + 50.0 * n as f64 * 10.0) / 1e6;
        assert!(
            (row["cost_usd"].as_f64().unwrap_or(0.0) - cost).abs() < 1e-12,
            "{row}"
        );
    }
    // A page of them is the sessions with the newest calls (calls a second apart: call 50 is
    // session 1's, 49 session 0's, 48 session 6's), with all their figures, and says more.
    let page_path = format!("/api/v1/genai/sessions?limit=3&{range}");
    let page = ok(server, &page_path).await;
    let keys: Vec<&str> = page["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["session_id"].as_str())
        .collect();
    assert_eq!(keys, ["session-1", "session-0", "session-6"], "{page}");
    assert_eq!(page["truncated"], true, "{page}");
    for row in page["rows"].as_array().expect("rows") {
        let full = rows.iter().find(|r| r["session_id"] == row["session_id"]);
        assert_eq!(Some(row), full, "{page}");
    }
    assert_eq!(sessions["truncated"], false, "{sessions}");
    record(path, sessions);
    record(page_path, page);
    let path = format!("/api/v1/genai/users?{range}");
    let users = ok(server, &path).await;
    let sessions_of: Vec<usize> = users["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["sessions"].as_array().map(Vec::len))
        .collect();
    // Each user (call % 3) meets every session (call % 7) within 50 calls.
    assert_eq!(sessions_of, [7, 7, 7], "{users}");
    record(path, users);
    for (role, rows) in [("chat-api", 1), ("search-svc", 0)] {
        let path = format!("/api/v1/genai/usage?filter.role={role}&{range}");
        let usage = ok(server, &path).await;
        let found = usage["rows"].as_array().expect("rows");
        assert_eq!(found.len(), rows, "{path}: {usage}");
        if let Some(row) = found.first() {
            assert_eq!(row["throttled_attempts"], 3, "{usage}");
        }
        record(path, usage);
    }
    all
}
