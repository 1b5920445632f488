//! OTLP resource → the role columns shared by every row of that resource.

use std::sync::Arc;

use super::Limits;
use super::attributes::{DimensionsBuilder, as_str};
use super::wire::{self, KeyValueRef, WireError};
use crate::model::Resource;

/// The service name the OpenTelemetry spec prescribes when `service.name` is missing.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Kubernetes workload names the Azure Monitor exporters fall back to, in order, when the
/// service name is missing or the SDK default.
const K8S_ROLE_FALLBACKS: [&str; 6] = [
    "k8s.deployment.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
];

/// Builds the role context of one encoded resource.
pub fn from_wire(resource: Option<&[u8]>, limits: &Limits) -> Result<Arc<Resource>, WireError> {
    let attributes = match resource {
        Some(bytes) => wire::resource_attributes(bytes)?,
        None => Vec::new(),
    };
    Ok(from_attributes(&attributes, limits))
}

/// Builds the role context of one resource; the consumed attributes become columns and the rest
/// stay as dimensions.
pub fn from_attributes(attributes: &[KeyValueRef<'_>], limits: &Limits) -> Arc<Resource> {
    let lookup = |key: &str| {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| as_str(Some(kv.value)))
            .filter(|s| !s.is_empty())
    };

    let service_name = lookup("service.name")
        .filter(|name| !name.starts_with(UNKNOWN_SERVICE))
        .or_else(|| K8S_ROLE_FALLBACKS.iter().find_map(|key| lookup(key)))
        .or_else(|| lookup("service.name"))
        .unwrap_or(UNKNOWN_SERVICE);
    let cloud_role_name = match lookup("service.namespace") {
        Some(namespace) => format!("{namespace}.{service_name}"),
        None => service_name.to_owned(),
    };
    let cloud_role_instance = lookup("service.instance.id")
        .or_else(|| lookup("k8s.pod.name"))
        .or_else(|| lookup("host.name"))
        .unwrap_or_default()
        .to_owned();
    let sdk_version = match (
        lookup("telemetry.sdk.language"),
        lookup("telemetry.sdk.version"),
    ) {
        (Some(language), Some(version)) => format!("otel-{language}:{version}"),
        (None, Some(version)) => format!("otel:{version}"),
        _ => String::new(),
    };
    let application_version = lookup("service.version").unwrap_or_default().to_owned();

    let mut dimensions = DimensionsBuilder::new(limits, attributes.len());
    // The service's own name and namespace stay where the role does not hold the name as
    // sent (a namespace, or a Kubernetes fallback), so the trace APIs can give them back.
    let role_is_service_name = lookup("service.name") == Some(cloud_role_name.as_str());
    for kv in attributes.iter().filter(|kv| {
        !is_column(kv.key)
            || (!role_is_service_name && matches!(kv.key, "service.name" | "service.namespace"))
    }) {
        dimensions.push_ref(kv);
    }
    let (dimensions, _) = dimensions.finish();
    Arc::new(Resource {
        cloud_role_name,
        cloud_role_instance,
        sdk_version,
        application_version,
        dimensions,
    })
}

fn is_column(key: &str) -> bool {
    matches!(
        key,
        "service.name"
            | "service.namespace"
            | "service.instance.id"
            | "service.version"
            | "telemetry.sdk.language"
            | "telemetry.sdk.version"
            | "telemetry.sdk.name"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::test_support::{attr, kv, resource};
    use prost::Message;

    #[test]
    fn role_name_joins_namespace_and_name() {
        let encoded = resource(vec![
            kv("service.name", "rag-api"),
            kv("service.namespace", "genai"),
            kv("service.instance.id", "pod-1"),
            kv("telemetry.sdk.language", "python"),
            kv("telemetry.sdk.version", "1.45.2"),
            kv("deployment.environment", "prod"),
        ])
        .encode_to_vec();
        let res = from_wire(Some(&encoded), &Limits::default()).expect("parses");
        assert_eq!(res.cloud_role_name, "genai.rag-api");
        assert_eq!(res.cloud_role_instance, "pod-1");
        assert_eq!(res.sdk_version, "otel-python:1.45.2");
        assert_eq!(res.dimensions.get("deployment.environment"), Some("prod"));
        // The role joins namespace and name: both are kept as sent.
        assert_eq!(res.dimensions.get("service.name"), Some("rag-api"));
        assert_eq!(res.dimensions.get("service.namespace"), Some("genai"));
        assert_eq!(res.dimensions.get("service.instance.id"), None);
        let plain = resource(vec![kv("service.name", "rag-api")]).encode_to_vec();
        let res = from_wire(Some(&plain), &Limits::default()).expect("parses");
        assert_eq!(res.cloud_role_name, "rag-api");
        assert_eq!(res.dimensions.get("service.name"), None);
    }

    #[test]
    fn falls_back_to_unknown_service() {
        let res = from_attributes(&[attr("host.name", "vm")], &Limits::default());
        assert_eq!(res.cloud_role_name, "unknown_service");
        assert_eq!(res.cloud_role_instance, "vm");
        let empty = from_wire(None, &Limits::default()).expect("no resource");
        assert_eq!(empty.cloud_role_name, "unknown_service");
    }

    #[test]
    fn prefers_kubernetes_workload_over_sdk_default_name() {
        let res = from_attributes(
            &[
                attr("service.name", "unknown_service:python"),
                attr("k8s.deployment.name", "chat"),
            ],
            &Limits::default(),
        );
        assert_eq!(res.cloud_role_name, "chat");
    }
}
