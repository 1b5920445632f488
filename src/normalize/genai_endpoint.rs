//! The endpoint of an LLM call that does not name it. OpenInference and the openai-v2
//! instrumentation of an Azure client record no `server.address`, so such a call's target is
//! only its provider — yet the endpoint is what says which deployment, and which quota, was
//! hit. The HTTP attempts beneath the call (recorded by the HTTP client's instrumentation, in
//! the same export batch as their parent) name it: the call takes their target.

use std::collections::HashMap;

use crate::model::{Batch, Dependency, Item};

pub fn endpoints_from_attempts(batch: &mut Batch) {
    let unnamed =
        |d: &Item<Dependency>| d.data.genai.0.is_some() && d.data.target == d.data.genai.provider;
    if !batch.dependencies.iter().any(unnamed) {
        return;
    }
    // (operation, parent span) → the target its HTTP children called.
    let mut attempts: HashMap<(&str, &str), &str> = HashMap::new();
    for dependency in &batch.dependencies {
        if dependency.data.genai.0.is_none()
            && dependency.data.dependency_type == "HTTP"
            && !dependency.data.target.is_empty()
        {
            attempts
                .entry((
                    dependency.common.operation_id.as_str(),
                    dependency.common.operation_parent_id.as_str(),
                ))
                .or_insert(dependency.data.target.as_str());
        }
    }
    let found: Vec<(usize, String)> = batch
        .dependencies
        .iter()
        .enumerate()
        .filter(|(_, d)| unnamed(d))
        .filter_map(|(index, d)| {
            let target =
                attempts.get(&(d.common.operation_id.as_str(), d.common.item_id.as_str()))?;
            Some((index, (*target).to_owned()))
        })
        .collect();
    for (index, target) in found {
        batch.dependencies[index].data.target = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, GenAi};

    fn dependency(id: &str, parent: &str, target: &str, genai: Option<&str>) -> Item<Dependency> {
        Item {
            common: Common {
                operation_id: "op".into(),
                item_id: id.into(),
                operation_parent_id: parent.into(),
                ..Common::default()
            },
            data: Dependency {
                dependency_type: if genai.is_some() {
                    "GenAI | openai"
                } else {
                    "HTTP"
                }
                .into(),
                target: target.into(),
                genai: genai
                    .map(|provider| {
                        GenAi {
                            provider: provider.into(),
                            ..GenAi::default()
                        }
                        .into()
                    })
                    .unwrap_or_default(),
                ..Dependency::default()
            },
        }
    }

    #[test]
    fn a_call_without_an_endpoint_takes_its_attempts_target() {
        let mut batch = Batch {
            dependencies: vec![
                dependency("call", "req", "openai", Some("openai")),
                dependency("a1", "call", "myaoai.openai.azure.com", None),
                dependency("named", "req", "api.openai.com", Some("openai")),
                dependency("a2", "named", "proxy.internal", None),
                dependency("alone", "req", "openai", Some("openai")),
            ],
            ..Batch::default()
        };
        endpoints_from_attempts(&mut batch);
        let targets: Vec<&str> = batch
            .dependencies
            .iter()
            .map(|d| d.data.target.as_str())
            .collect();
        assert_eq!(
            targets,
            [
                "myaoai.openai.azure.com",
                "myaoai.openai.azure.com",
                "api.openai.com",
                "proxy.internal",
                "openai"
            ]
        );
    }
}
