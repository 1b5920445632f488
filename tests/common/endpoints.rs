//! Every path of the query API a client can ask for the seed scenario: what the conformance
//! tests compare between stores.
#![allow(dead_code)]

use tracehouse::reads::{Column, Source};

use super::TestServer;
use super::scenario::*;

/// Asks `reference` and `other` every path (`label` names `other` in failures): both answer 200
/// with the same body.
pub async fn assert_every_path_alike(
    scenario: &Scenario,
    reference: &TestServer,
    other: &TestServer,
    label: &str,
) {
    let paths = every_path(scenario);
    assert!(paths.len() > 60, "{}", paths.len());
    for path in &paths {
        let (reference_status, on_reference) = get(reference, path).await;
        let (status, on_other) = get(other, path).await;
        assert_eq!(
            (reference_status, status),
            (200, 200),
            "{label} {path}: {on_reference} / {on_other}"
        );
        assert_eq!(on_reference, on_other, "{label} {path}");
    }
}

/// Every path a client can ask, for the scenario's range.
pub fn every_path(scenario: &Scenario) -> Vec<String> {
    let range = scenario.range();
    let mut paths = Vec::new();
    for source in [Source::Requests, Source::Dependencies] {
        let table = source.table();
        for column in Column::ALL.into_iter().filter(|c| source.has(*c)) {
            for interval in ["", "&interval=1m"] {
                paths.push(format!(
                    "/api/v1/performance?table={table}&group_by={}{interval}&{range}",
                    column.api_name()
                ));
            }
        }
        paths.push(format!("/api/v1/performance?table={table}&{range}"));
        paths.push(format!(
            "/api/v1/performance?table={table}&group_by=role,operation_name&interval=5m&{range}"
        ));
        for band in ["p50-p90", "p95-p99", "p99-max"] {
            paths.push(format!("/api/v1/samples?table={table}&band={band}&{range}"));
        }
        paths.push(format!(
            "/api/v1/samples?table={table}&order=newest&min_ms=100&limit=7&{range}"
        ));
        paths.push(format!(
            "/api/v1/performance/histogram?table={table}&{range}"
        ));
    }
    paths.extend([
        format!(
            "/api/v1/performance?group_by=name&filter.role=chat-api&dim.tenant=contoso&{range}"
        ),
        format!("/api/v1/samples?filter.name=POST%20/chat&band=p95-p99&{range}"),
        format!(
            "/api/v1/performance/histogram?filter.name=POST%20/chat&dim.tenant=contoso&{range}"
        ),
        format!("/api/v1/performance/histogram?table=dependencies&filter.result_code=429&{range}"),
        // Read from the per-minute rollups (the UI's default).
        format!("/api/v1/performance?group_by=name&percentiles=binned&{range}"),
        format!("/api/v1/performance?table=dependencies&group_by=target,model&interval=1m&percentiles=binned&{range}"),
        format!("/api/v1/samples?filter.name=POST%20/chat&band=p95-p99&percentiles=binned&{range}"),
        format!("/api/v1/failures?interval=1m&percentiles=binned&{range}"),
        format!("/api/v1/map?percentiles=binned&{range}"),
        format!("/api/v1/genai/usage?interval=1m&percentiles=binned&{range}"),
        format!("/api/v1/genai/sessions?percentiles=binned&{range}"),
        format!("/api/v1/failures?{range}"),
        format!("/api/v1/failures?interval=1m&{range}"),
        format!("/api/v1/map?{range}"),
        format!("/api/v1/genai/usage?{range}"),
        format!("/api/v1/genai/usage?interval=1m&{range}"),
        format!("/api/v1/genai/usage?filter.role=chat-api&dim.tenant=contoso&{range}"),
        format!("/api/v1/genai/usage?filter.model=gpt-4o&{range}"),
        format!("/api/v1/genai/sessions?{range}"),
        format!("/api/v1/genai/sessions?filter.model=gpt-4o&dim.tenant=contoso&limit=3&{range}"),
        format!("/api/v1/genai/users?{range}"),
        format!("/api/v1/map?filter.role=chat-api&dim.tenant=contoso&{range}"),
        format!("/api/v1/failures?dim.tenant=contoso&{range}"),
        format!("/api/v1/search?q=answered&{range}"),
        format!("/api/v1/search?severity=warning&{range}"),
        format!("/api/v1/search?kind=exceptions&{range}"),
        format!("/api/v1/search?role=chat-api&limit=5&{range}"),
        format!(
            "/api/v1/search?filter.problem_id=ValueError%20at%20handler&dim.tenant=contoso&{range}"
        ),
        format!("/api/v1/operations/{}", operation_id(SEED)),
        format!("/api/v1/operations/{}", operation_id(10)),
        "/api/v1/operations/525c5c3e165dd9b6d4c8f046107e8324".to_owned(),
        "/api/v1/operations/233bb220b39d9a063db72d57fde61b76".to_owned(),
    ]);
    paths
}
