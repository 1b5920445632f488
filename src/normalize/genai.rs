//! GenAI attributes in four dialects (OTel new and legacy, OpenLLMetry, OpenInference) → one set
//! of columns. The raw attributes stay in `customDimensions`.

use super::attributes::{as_count, as_i64, as_str, first_string};
use super::known::Known;
use super::url;
use crate::model::GenAi;

/// Canonical GenAI columns when the span is an LLM-family call, `None` otherwise.
pub fn detect(known: &Known<'_>, span_name: &str) -> Option<GenAi> {
    let dialect = dialect(known)?;
    let server = known
        .peer_host()
        .or_else(|| known.url().map(|u| url::split(u).host));
    Some(GenAi {
        provider: provider(known, server).unwrap_or_default(),
        operation: operation(known, span_name).unwrap_or_default().to_owned(),
        request_model: request_model(known).unwrap_or_default(),
        response_model: as_str(known.gen_ai_response_model)
            .or_else(|| as_str(known.llm_response_model_name))
            .or_else(|| as_str(known.llm_model_name))
            .unwrap_or_default()
            .to_owned(),
        input_tokens: as_count(known.gen_ai_usage_input_tokens)
            .or_else(|| as_count(known.gen_ai_usage_prompt_tokens))
            .or_else(|| as_count(known.llm_token_count_prompt))
            .or_else(|| as_count(known.ai_usage_prompt_tokens))
            .unwrap_or(0),
        output_tokens: as_count(known.gen_ai_usage_output_tokens)
            .or_else(|| as_count(known.gen_ai_usage_completion_tokens))
            .or_else(|| as_count(known.llm_token_count_completion))
            .or_else(|| as_count(known.ai_usage_completion_tokens))
            .unwrap_or(0),
        cached_input_tokens: as_count(known.gen_ai_usage_cache_read_input_tokens)
            .or_else(|| as_count(known.gen_ai_usage_cache_read_input_tokens_legacy))
            .or_else(|| as_count(known.llm_token_count_cache_read))
            .unwrap_or(0),
        reasoning_tokens: as_count(known.gen_ai_usage_reasoning_output_tokens)
            .or_else(|| as_count(known.gen_ai_usage_reasoning_tokens))
            .or_else(|| as_count(known.llm_token_count_reasoning))
            .unwrap_or(0),
        max_tokens: as_count(known.gen_ai_request_max_tokens).unwrap_or(0),
        finish_reason: first_string(known.gen_ai_response_finish_reasons)
            .or_else(|| first_string(known.gen_ai_completion_0_finish_reason))
            .or_else(|| as_str(known.llm_finish_reason).map(str::to_owned))
            .unwrap_or_default(),
        prompt_name: as_str(known.gen_ai_prompt_name)
            .or_else(|| as_str(known.langfuse_prompt_name))
            .unwrap_or_default()
            .to_owned(),
        // Langfuse sends the version as a number, the conventions as text.
        prompt_version: [
            known.gen_ai_prompt_version,
            known.langfuse_prompt_version,
            known.llm_prompt_template_version,
        ]
        .into_iter()
        .find_map(|value| {
            as_str(value)
                .map(str::to_owned)
                .or_else(|| as_i64(value).map(|n| n.to_string()))
        })
        .unwrap_or_default(),
        dialect,
    })
}

fn dialect(known: &Known<'_>) -> Option<&'static str> {
    if let Some(kind) = as_str(known.openinference_span_kind) {
        return openinference_operation(kind).map(|_| "openinference");
    }
    if known.llm_request_type.is_some() || known.openllmetry_marker {
        return Some("openllmetry");
    }
    if known.gen_ai_provider_name.is_some() {
        return Some("otel");
    }
    if known.gen_ai_system.is_some()
        || known.gen_ai_operation_name.is_some()
        || known.gen_ai_request_model.is_some()
    {
        return Some("otel-legacy");
    }
    if known.llm_token_count_prompt.is_some() || known.llm_model_name.is_some() {
        return Some("openinference");
    }
    None
}

fn provider(known: &Known<'_>, server: Option<&str>) -> Option<String> {
    let inferred = server.and_then(provider_from_host);
    if let Some(provider) = as_str(known.gen_ai_provider_name) {
        return Some(provider.to_ascii_lowercase());
    }
    if let Some(system) = as_str(known.gen_ai_system).or_else(|| as_str(known.llm_provider)) {
        let system = canonical_system(system);
        // openai-v2 reports "openai" for Azure OpenAI too; the endpoint tells them apart.
        if system == "openai"
            && let Some(inferred) = inferred
        {
            return Some(inferred.to_owned());
        }
        return Some(system);
    }
    if let Some(system) = as_str(known.llm_system) {
        return Some(inferred.map_or_else(|| canonical_system(system), str::to_owned));
    }
    inferred.map(str::to_owned)
}

fn canonical_system(system: &str) -> String {
    match system.to_ascii_lowercase().as_str() {
        "az.ai.openai" | "azure" | "azure_openai" | "azure.openai" => "azure.ai.openai".to_owned(),
        "az.ai.inference" => "azure.ai.inference".to_owned(),
        "vertex_ai" => "gcp.vertex_ai".to_owned(),
        other => other.to_owned(),
    }
}

fn provider_from_host(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    if host.ends_with(".openai.azure.com") || host.ends_with(".cognitiveservices.azure.com") {
        Some("azure.ai.openai")
    } else if host.ends_with(".services.ai.azure.com") {
        Some("azure.ai.inference")
    } else if host == "api.openai.com" {
        Some("openai")
    } else if host == "api.anthropic.com" {
        Some("anthropic")
    } else {
        None
    }
}

fn operation<'a>(known: &'a Known<'_>, span_name: &str) -> Option<&'a str> {
    if let Some(op) = as_str(known.gen_ai_operation_name) {
        return Some(op);
    }
    if let Some(request_type) = as_str(known.llm_request_type) {
        return Some(match request_type {
            "completion" => "text_completion",
            "embedding" => "embeddings",
            "chat" => "chat",
            _ => "chat",
        });
    }
    if let Some(kind) = as_str(known.openinference_span_kind) {
        return openinference_operation(kind);
    }
    let lower = span_name.to_ascii_lowercase();
    if lower.contains("embedding") {
        Some("embeddings")
    } else if lower.contains("chat") || lower.contains("completion") {
        Some("chat")
    } else {
        None
    }
}

fn openinference_operation(kind: &str) -> Option<&'static str> {
    match kind.to_ascii_uppercase().as_str() {
        "LLM" => Some("chat"),
        "EMBEDDING" => Some("embeddings"),
        "RETRIEVER" => Some("retrieval"),
        "RERANKER" => Some("rerank"),
        "TOOL" => Some("execute_tool"),
        "AGENT" => Some("invoke_agent"),
        _ => None,
    }
}

/// The model asked for. OpenInference's `llm.model_name` is the model that answered (e.g. a
/// dated version); what was asked is the `model` of `llm.invocation_parameters`.
fn request_model(known: &Known<'_>) -> Option<String> {
    as_str(known.gen_ai_request_model)
        .or_else(|| as_str(known.llm_request_model_name))
        .map(str::to_owned)
        .or_else(|| as_str(known.llm_invocation_parameters).and_then(invoked_model))
        .or_else(|| as_str(known.llm_model_name).map(str::to_owned))
        .or_else(|| known.url().and_then(azure_deployment).map(str::to_owned))
}

/// `model` of a JSON object of invocation parameters.
fn invoked_model(parameters: &str) -> Option<String> {
    let parameters: serde_json::Value = serde_json::from_str(parameters).ok()?;
    parameters
        .get("model")?
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}

/// The deployment name in an Azure OpenAI URL (`/openai/deployments/{deployment}/...`).
pub fn azure_deployment(url: &str) -> Option<&str> {
    let path = url::split(url).path;
    let rest = path.split("/openai/deployments/").nth(1)?;
    rest.split('/').next().filter(|d| !d.is_empty())
}

/// Whether an attribute holds prompt or completion content, which `--genai-capture-content
/// off` drops at ingest. Finish reasons and token counts are not content.
pub fn is_content_attribute(key: &str) -> bool {
    const EXACT: [&str; 5] = [
        "gen_ai.system_instructions",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "input.value",
        "output.value",
    ];
    const PREFIXES: [&str; 4] = [
        "llm.input_messages.",
        "llm.output_messages.",
        "gen_ai.prompt.",
        "gen_ai.completion.",
    ];
    EXACT.contains(&key)
        || (PREFIXES.iter().any(|p| key.starts_with(p)) && !key.ends_with(".finish_reason"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::test_support::{attr, int_attr};
    use crate::normalize::wire::KeyValueRef;

    fn genai(attributes: &[KeyValueRef<'_>], name: &str) -> Option<GenAi> {
        detect(&Known::index(attributes), name)
    }

    #[test]
    fn reads_the_legacy_openai_v2_dialect() {
        let attrs = [
            attr("gen_ai.system", "openai"),
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.request.model", "gpt-4o"),
            attr("gen_ai.response.model", "gpt-4o-2024-08-06"),
            int_attr("gen_ai.usage.input_tokens", 15),
            int_attr("gen_ai.usage.output_tokens", 12),
            attr("server.address", "myres.openai.azure.com"),
        ];
        let g = genai(&attrs, "chat gpt-4o").unwrap_or_default();
        assert_eq!(g.provider, "azure.ai.openai");
        assert_eq!(g.operation, "chat");
        assert_eq!(g.request_model, "gpt-4o");
        assert_eq!(g.response_model, "gpt-4o-2024-08-06");
        assert_eq!((g.input_tokens, g.output_tokens), (15, 12));
        assert_eq!(g.dialect, "otel-legacy");
    }

    #[test]
    fn reasoning_tokens_and_the_prompt_in_every_dialect() {
        let dialects: [(&str, Vec<KeyValueRef<'_>>); 3] = [
            (
                "otel",
                vec![
                    attr("gen_ai.provider.name", "openai"),
                    attr("gen_ai.request.model", "o3-mini"),
                    int_attr("gen_ai.usage.reasoning.output_tokens", 64),
                    attr("gen_ai.prompt.name", "support-answer"),
                    attr("gen_ai.prompt.version", "3"),
                ],
            ),
            (
                "openllmetry",
                vec![
                    attr("gen_ai.system", "openai"),
                    attr("llm.request.type", "chat"),
                    attr("gen_ai.request.model", "o3-mini"),
                    int_attr("gen_ai.usage.reasoning_tokens", 64),
                    // Langfuse's own attributes, the version a number.
                    attr("langfuse.prompt.name", "support-answer"),
                    int_attr("langfuse.prompt.version", 3),
                ],
            ),
            (
                "openinference",
                vec![
                    attr("openinference.span.kind", "LLM"),
                    attr("llm.model_name", "o3-mini"),
                    int_attr("llm.token_count.completion_details.reasoning", 64),
                    attr("langfuse.prompt.name", "support-answer"),
                    attr("llm.prompt_template.version", "3"),
                ],
            ),
        ];
        for (dialect, attrs) in dialects {
            let g = genai(&attrs, "chat o3-mini").unwrap_or_default();
            assert_eq!(g.dialect, dialect);
            assert_eq!(
                (
                    g.reasoning_tokens,
                    g.prompt_name.as_str(),
                    g.prompt_version.as_str()
                ),
                (64, "support-answer", "3"),
                "{dialect}"
            );
        }
    }

    #[test]
    fn reads_the_current_otel_dialect() {
        let attrs = [
            attr("gen_ai.provider.name", "openai"),
            attr("gen_ai.operation.name", "embeddings"),
            attr("gen_ai.request.model", "text-embedding-3-small"),
            int_attr("gen_ai.usage.input_tokens", 25),
            int_attr("gen_ai.usage.cache_read.input_tokens", 5),
        ];
        let g = genai(&attrs, "embeddings text-embedding-3-small").unwrap_or_default();
        assert_eq!(g.provider, "openai");
        assert_eq!(g.operation, "embeddings");
        assert_eq!(g.cached_input_tokens, 5);
        assert_eq!(g.dialect, "otel");
    }

    #[test]
    fn reads_openllmetry() {
        let attrs = [
            attr("gen_ai.system", "OpenAI"),
            attr("llm.request.type", "chat"),
            attr("gen_ai.request.model", "gpt-4o-mini"),
            int_attr("gen_ai.usage.prompt_tokens", 350),
            int_attr("gen_ai.usage.completion_tokens", 40),
            attr("gen_ai.completion.0.finish_reason", "stop"),
        ];
        let g = genai(&attrs, "openai.chat").unwrap_or_default();
        assert_eq!(g.provider, "openai");
        assert_eq!((g.input_tokens, g.output_tokens), (350, 40));
        assert_eq!(g.finish_reason, "stop");
        assert_eq!(g.dialect, "openllmetry");
    }

    #[test]
    fn reads_openinference() {
        let attrs = [
            attr("openinference.span.kind", "LLM"),
            attr("llm.model_name", "gpt-4o"),
            attr("llm.provider", "azure"),
            int_attr("llm.token_count.prompt", 3200),
            int_attr("llm.token_count.completion", 250),
        ];
        let g = genai(&attrs, "ChatCompletion").unwrap_or_default();
        assert_eq!(g.provider, "azure.ai.openai");
        assert_eq!(g.operation, "chat");
        assert_eq!(g.request_model, "gpt-4o");
        assert_eq!((g.input_tokens, g.output_tokens), (3200, 250));
        assert_eq!(g.dialect, "openinference");
    }

    /// As openinference-instrumentation-openai 0.1.66 records a call: the answering model in
    /// `llm.model_name`, the asked one among the invocation parameters.
    #[test]
    fn openinference_asked_and_answering_models_differ() {
        let attrs = [
            attr("openinference.span.kind", "LLM"),
            attr("llm.system", "openai"),
            attr("llm.model_name", "gpt-4o-2024-08-06"),
            attr("llm.invocation_parameters", "{\"model\": \"gpt-4o\"}"),
            attr("llm.finish_reason", "stop"),
        ];
        let g = genai(&attrs, "ChatCompletion").unwrap_or_default();
        assert_eq!(g.request_model, "gpt-4o");
        assert_eq!(g.response_model, "gpt-4o-2024-08-06");
        assert_eq!(g.finish_reason, "stop");
        let unparsable = [
            attr("openinference.span.kind", "LLM"),
            attr("llm.model_name", "gpt-4o-2024-08-06"),
            attr("llm.invocation_parameters", "{not json"),
        ];
        let g = genai(&unparsable, "ChatCompletion").unwrap_or_default();
        assert_eq!(g.request_model, "gpt-4o-2024-08-06");
    }

    #[test]
    fn openinference_chains_are_not_llm_calls() {
        assert!(genai(&[attr("openinference.span.kind", "CHAIN")], "chain").is_none());
        assert!(genai(&[attr("http.method", "GET")], "GET").is_none());
    }

    #[test]
    fn content_attributes_are_told_apart_from_the_rest() {
        for key in [
            "gen_ai.input.messages",
            "input.value",
            "llm.output_messages.0.message.content",
            "gen_ai.prompt.3.content",
        ] {
            assert!(is_content_attribute(key), "{key}");
        }
        for key in [
            "gen_ai.completion.0.finish_reason",
            "gen_ai.usage.input_tokens",
            "llm.model_name",
        ] {
            assert!(!is_content_attribute(key), "{key}");
        }
    }

    #[test]
    fn finds_the_azure_deployment_in_the_url() {
        assert_eq!(
            azure_deployment(
                "https://r.openai.azure.com/openai/deployments/chat-prod/chat/completions?api-version=1"
            ),
            Some("chat-prod")
        );
        assert_eq!(
            azure_deployment("https://api.openai.com/v1/chat/completions"),
            None
        );
    }
}
