//! The synthetic workload as Application Insights track envelopes (what the Python distro would
//! send for the same spans), for the track ingestion benchmark.

use serde_json::{Value, json};

use crate::model::{Batch, Common};
use crate::time::format_instant;

/// `d.hh:mm:ss.fff`, as the Python exporter writes durations.
fn duration(ms: f64) -> String {
    let total_ms = ms.max(0.0).round() as u64;
    let (seconds, millis) = (total_ms / 1_000, total_ms % 1_000);
    format!(
        "{}.{:02}:{:02}:{:02}.{millis:03}",
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn envelope(common: &Common, kind: &str, base_type: &str, base_data: Value) -> Value {
    let properties: serde_json::Map<String, Value> = common
        .dimensions
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    let mut base_data = base_data;
    base_data["ver"] = json!(2);
    base_data["properties"] = Value::Object(properties);
    json!({
        "name": format!("Microsoft.ApplicationInsights.{kind}"),
        "time": format_instant(common.timestamp_ns),
        "iKey": "00000000-0000-0000-0000-000000000001",
        "tags": {
            "ai.cloud.role": common.resource.cloud_role_name,
            "ai.cloud.roleInstance": common.resource.cloud_role_instance,
            "ai.internal.sdkVersion": common.resource.sdk_version,
            "ai.operation.id": common.operation_id,
            "ai.operation.parentId": common.operation_parent_id,
            "ai.operation.name": common.operation_name,
        },
        "data": { "baseType": base_type, "baseData": base_data },
    })
}

/// A JSON array body of the batch's requests and dependencies.
pub fn track_body(batch: &Batch) -> Vec<u8> {
    let mut envelopes = Vec::with_capacity(batch.requests.len() + batch.dependencies.len());
    for request in &batch.requests {
        let r = &request.data;
        envelopes.push(envelope(
            &request.common,
            "Request",
            "RequestData",
            json!({
                "id": r.id, "name": r.name, "duration": duration(r.duration_ms),
                "responseCode": r.result_code, "success": r.success, "url": r.url,
            }),
        ));
    }
    for dependency in &batch.dependencies {
        let d = &dependency.data;
        envelopes.push(envelope(
            &dependency.common,
            "RemoteDependency",
            "RemoteDependencyData",
            json!({
                "id": d.id, "name": d.name, "duration": duration(d.duration_ms),
                "resultCode": d.result_code, "success": d.success, "type": d.dependency_type,
                "target": d.target, "data": d.data,
            }),
        ));
    }
    serde_json::to_vec(&envelopes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_python_format() {
        assert_eq!(duration(1_234.4), "0.00:00:01.234");
        assert_eq!(duration(90_061_001.0), "1.01:01:01.001");
    }
}
