//! The prompt and completion of an LLM call as one message list, whichever instrumentation
//! recorded them: the OpenTelemetry GenAI conventions (`gen_ai.system_instructions`,
//! `gen_ai.input.messages`, `gen_ai.output.messages`, JSON with typed parts, as current
//! OpenLLMetry and openai-v2 write them), OpenInference's flattened
//! `llm.input_messages.N.message.*` / `llm.output_messages.N.message.*`, and OpenLLMetry's
//! older `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`. Read from the stored attributes, which
//! ingest caps per value and drops with `--genai-capture-content off`
//! (`normalize::genai::is_content_attribute`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Most messages returned for one call.
const MAX_MESSAGES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Input,
    Output,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub direction: Direction,
    pub role: String,
    pub content: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    fn new(direction: Direction) -> Self {
        Message {
            direction,
            role: String::new(),
            content: String::new(),
            tool_calls: Vec::new(),
        }
    }
}

/// The call's messages, inputs before outputs; empty when none were recorded.
pub fn messages(attributes: &[(String, String)]) -> Vec<Message> {
    let get = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut found = Vec::new();
    if let Some(system) = get("gen_ai.system_instructions") {
        found.extend(conventions(system, Direction::Input, "system"));
    }
    for (key, direction) in [
        ("gen_ai.input.messages", Direction::Input),
        ("gen_ai.output.messages", Direction::Output),
    ] {
        if let Some(json) = get(key) {
            found.extend(conventions(json, direction, ""));
        }
    }
    if found.is_empty() {
        for (prefix, direction) in [
            ("llm.input_messages.", Direction::Input),
            ("llm.output_messages.", Direction::Output),
        ] {
            found.extend(flattened(
                attributes,
                prefix,
                direction,
                openinference_field,
            ));
        }
    }
    if found.is_empty() {
        for (prefix, direction) in [
            ("gen_ai.prompt.", Direction::Input),
            ("gen_ai.completion.", Direction::Output),
        ] {
            found.extend(flattened(attributes, prefix, direction, openllmetry_field));
        }
    }
    found.truncate(MAX_MESSAGES);
    found
}

/// Messages in the conventions' JSON: `[{"role", "parts": [{"type": "text", "content"} |
/// {"type": "tool_call", "name", "arguments"} | {"type": "tool_call_response", "response"}]}]`;
/// system instructions are a bare list of parts (`default_role` names them).
fn conventions(json: &str, direction: Direction, default_role: &str) -> Vec<Message> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let as_parts = !default_role.is_empty();
    let mut messages = Vec::new();
    let mut system = Message::new(direction);
    system.role = default_role.to_owned();
    for item in &items {
        if as_parts {
            add_part(&mut system, item);
            continue;
        }
        let mut message = Message::new(direction);
        message.role = item["role"].as_str().unwrap_or("").to_owned();
        if let Some(parts) = item["parts"].as_array() {
            for part in parts {
                add_part(&mut message, part);
            }
        } else if let Some(content) = item["content"].as_str() {
            message.content = content.to_owned();
        }
        messages.push(message);
    }
    if as_parts && !system.content.is_empty() {
        messages.push(system);
    }
    messages
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn add_part(message: &mut Message, part: &Value) {
    match part["type"].as_str().unwrap_or("text") {
        "tool_call" => message.tool_calls.push(ToolCall {
            name: text_of(&part["name"]),
            arguments: text_of(&part["arguments"]),
        }),
        kind => {
            let text = match kind {
                "tool_call_response" => text_of(&part["response"]),
                _ => text_of(&part["content"]),
            };
            if !message.content.is_empty() && !text.is_empty() {
                message.content.push('\n');
            }
            message.content.push_str(&text);
        }
    }
}

/// What a flattened attribute (the key past `prefix.N.`) sets on its message.
type Field = fn(&mut Message, &str, &str);

fn openinference_field(message: &mut Message, rest: &str, value: &str) {
    match rest {
        "message.role" => message.role = value.to_owned(),
        "message.content" => message.content = value.to_owned(),
        _ => {
            if let Some(call) = rest.strip_prefix("message.tool_calls.") {
                tool_call_field(message, call, value, "tool_call.function.");
            } else if rest.starts_with("message.contents.") && rest.ends_with(".text") {
                if !message.content.is_empty() {
                    message.content.push('\n');
                }
                message.content.push_str(value);
            }
        }
    }
}

fn openllmetry_field(message: &mut Message, rest: &str, value: &str) {
    match rest {
        "role" => message.role = value.to_owned(),
        "content" => message.content = value.to_owned(),
        _ => {
            if let Some(call) = rest.strip_prefix("tool_calls.") {
                tool_call_field(message, call, value, "");
            }
        }
    }
}

/// `J.<field_prefix>name` / `J.<field_prefix>arguments` of the J-th tool call.
fn tool_call_field(message: &mut Message, call: &str, value: &str, field_prefix: &str) {
    let Some((index, field)) = call.split_once('.') else {
        return;
    };
    let Ok(index) = index.parse::<usize>() else {
        return;
    };
    if index >= MAX_MESSAGES {
        return;
    }
    while message.tool_calls.len() <= index {
        message.tool_calls.push(ToolCall {
            name: String::new(),
            arguments: String::new(),
        });
    }
    match field.strip_prefix(field_prefix) {
        Some("name") => message.tool_calls[index].name = value.to_owned(),
        Some("arguments") => message.tool_calls[index].arguments = value.to_owned(),
        _ => {}
    }
}

/// Messages from `prefix.N.field` attributes, in index order.
fn flattened(
    attributes: &[(String, String)],
    prefix: &str,
    direction: Direction,
    field: Field,
) -> Vec<Message> {
    let mut by_index: BTreeMap<usize, Message> = BTreeMap::new();
    for (key, value) in attributes {
        let Some((index, rest)) = key
            .strip_prefix(prefix)
            .and_then(|tail| tail.split_once('.'))
        else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        if by_index.len() >= MAX_MESSAGES && !by_index.contains_key(&index) {
            continue;
        }
        field(
            by_index
                .entry(index)
                .or_insert_with(|| Message::new(direction)),
            rest,
            value,
        );
    }
    by_index
        .into_values()
        .filter(|m| !m.role.is_empty() || !m.content.is_empty() || !m.tool_calls.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn said(messages: &[Message]) -> Vec<(Direction, &str, &str)> {
        messages
            .iter()
            .map(|m| (m.direction, m.role.as_str(), m.content.as_str()))
            .collect()
    }

    const HI: [(Direction, &str, &str); 2] = [
        (Direction::Input, "user", "Hi"),
        (Direction::Output, "assistant", "Hello!"),
    ];

    /// As OpenLLMetry 0.48 and openai-v2 with the latest conventions write them.
    #[test]
    fn reads_the_conventions_json() {
        let found = messages(&attrs(&[
            (
                "gen_ai.input.messages",
                r#"[{"role": "user", "parts": [{"content": "Hi", "type": "text"}]}]"#,
            ),
            (
                "gen_ai.output.messages",
                r#"[{"role": "assistant", "parts": [{"content": "Hello!", "type": "text"}, {"type": "tool_call", "name": "search", "arguments": {"q": "quota"}}], "finish_reason": "stop"}]"#,
            ),
        ]));
        assert_eq!(said(&found), HI);
        assert_eq!(
            found[1].tool_calls,
            [ToolCall {
                name: "search".into(),
                arguments: r#"{"q":"quota"}"#.into()
            }]
        );
        let system = messages(&attrs(&[(
            "gen_ai.system_instructions",
            r#"[{"type": "text", "content": "Be brief."}]"#,
        )]));
        assert_eq!(said(&system), [(Direction::Input, "system", "Be brief.")]);
    }

    /// As openinference-instrumentation-openai records a call.
    #[test]
    fn reads_openinference() {
        let found = messages(&attrs(&[
            ("input.value", "{\"messages\": []}"),
            ("llm.input_messages.0.message.role", "user"),
            ("llm.input_messages.0.message.content", "Hi"),
            ("llm.output_messages.0.message.role", "assistant"),
            ("llm.output_messages.0.message.content", "Hello!"),
            (
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                "search",
            ),
            (
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
                "{}",
            ),
        ]));
        assert_eq!(said(&found), HI);
        assert_eq!(found[1].tool_calls[0].name, "search");
    }

    #[test]
    fn reads_openllmetry_legacy_attributes_in_index_order() {
        let found = messages(&attrs(&[
            ("gen_ai.prompt.1.content", "Hi"),
            ("gen_ai.prompt.1.role", "user"),
            ("gen_ai.prompt.0.role", "system"),
            ("gen_ai.prompt.0.content", "Be brief."),
            ("gen_ai.completion.0.role", "assistant"),
            ("gen_ai.completion.0.content", "Hello!"),
            ("gen_ai.completion.0.finish_reason", "stop"),
        ]));
        assert_eq!(
            said(&found),
            [(Direction::Input, "system", "Be brief."), HI[0], HI[1]]
        );
    }

    proptest! {
        #[test]
        fn any_attributes_give_a_bounded_list_without_panicking(
            pairs in proptest::collection::vec(("(gen_ai\\.(prompt|completion)|llm\\.(input|output)_messages)\\.[0-9]{1,20}\\.[a-z_.0-9]{0,40}", ".{0,20}"), 0..60),
            json in ".{0,80}",
        ) {
            let mut attributes: Vec<(String, String)> = pairs;
            attributes.push(("gen_ai.input.messages".into(), json));
            prop_assert!(messages(&attributes).len() <= MAX_MESSAGES);
        }
    }
}
