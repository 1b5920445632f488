//! One pass over a span's attributes that picks out every semantic-convention key the mapping
//! reads, in both generations of names, so later lookups cost nothing.

use super::attributes::{as_f64, as_i64, as_str};
use super::wire::{KeyValueRef, ValueRef};

macro_rules! known_attributes {
    ($($field:ident => $key:literal,)*) => {
        /// References to the recognised attributes of one item.
        #[derive(Default)]
        pub struct Known<'a> {
            $(pub $field: Option<ValueRef<'a>>,)*
            /// Any `gen_ai.prompt.*`, `gen_ai.completion.*` or `traceloop.*` key (OpenLLMetry).
            pub openllmetry_marker: bool,
        }

        impl<'a> Known<'a> {
            pub fn index(attributes: &[KeyValueRef<'a>]) -> Self {
                let mut known = Known::default();
                for kv in attributes {
                    let value = Some(kv.value);
                    match kv.key {
                        $($key => known.$field = value,)*
                        key => {
                            if key.starts_with("gen_ai.prompt.")
                                || key.starts_with("gen_ai.completion.")
                                || key.starts_with("traceloop.")
                            {
                                known.openllmetry_marker = true;
                            }
                        }
                    }
                }
                known
            }
        }
    };
}

known_attributes! {
    http_request_method => "http.request.method",
    http_method => "http.method",
    http_response_status_code => "http.response.status_code",
    http_status_code => "http.status_code",
    url_full => "url.full",
    http_url => "http.url",
    url_scheme => "url.scheme",
    http_scheme => "http.scheme",
    url_path => "url.path",
    url_query => "url.query",
    http_target => "http.target",
    http_route => "http.route",
    server_address => "server.address",
    server_port => "server.port",
    net_peer_name => "net.peer.name",
    net_peer_port => "net.peer.port",
    net_peer_ip => "net.peer.ip",
    net_sock_peer_addr => "net.sock.peer.addr",
    http_host => "http.host",
    net_host_name => "net.host.name",
    net_host_port => "net.host.port",
    http_server_name => "http.server_name",
    client_address => "client.address",
    http_client_ip => "http.client_ip",
    network_peer_address => "network.peer.address",
    microsoft_client_ip => "microsoft.client.ip",
    peer_service => "peer.service",
    db_system => "db.system",
    db_system_name => "db.system.name",
    db_name => "db.name",
    db_namespace => "db.namespace",
    db_statement => "db.statement",
    db_query_text => "db.query.text",
    db_operation => "db.operation",
    db_operation_name => "db.operation.name",
    messaging_system => "messaging.system",
    messaging_destination_name => "messaging.destination.name",
    messaging_destination => "messaging.destination",
    rpc_system => "rpc.system",
    rpc_grpc_status_code => "rpc.grpc.status_code",
    az_namespace => "az.namespace",
    enduser_id => "enduser.id",
    enduser_pseudo_id => "enduser.pseudo.id",
    user_id => "user.id",
    session_id => "session.id",
    langfuse_session_id => "langfuse.session.id",
    langfuse_user_id => "langfuse.user.id",
    gen_ai_conversation_id => "gen_ai.conversation.id",
    ms_sample_rate => "_MS.sampleRate",
    microsoft_sample_rate => "microsoft.sample_rate",
    error_type => "error.type",
    exception_type => "exception.type",
    exception_message => "exception.message",
    exception_stacktrace => "exception.stacktrace",
    custom_event_name => "microsoft.custom_event.name",
    ai_operation_name => "ai.operation.name",
    gen_ai_provider_name => "gen_ai.provider.name",
    gen_ai_system => "gen_ai.system",
    gen_ai_operation_name => "gen_ai.operation.name",
    gen_ai_request_model => "gen_ai.request.model",
    gen_ai_openai_api_base => "gen_ai.openai.api_base",
    gen_ai_response_model => "gen_ai.response.model",
    gen_ai_usage_input_tokens => "gen_ai.usage.input_tokens",
    gen_ai_usage_prompt_tokens => "gen_ai.usage.prompt_tokens",
    gen_ai_usage_output_tokens => "gen_ai.usage.output_tokens",
    gen_ai_usage_completion_tokens => "gen_ai.usage.completion_tokens",
    gen_ai_usage_cache_read_input_tokens => "gen_ai.usage.cache_read.input_tokens",
    gen_ai_usage_cache_read_input_tokens_legacy => "gen_ai.usage.cache_read_input_tokens",
    gen_ai_request_max_tokens => "gen_ai.request.max_tokens",
    gen_ai_response_finish_reasons => "gen_ai.response.finish_reasons",
    gen_ai_completion_0_finish_reason => "gen_ai.completion.0.finish_reason",
    llm_provider => "llm.provider",
    llm_system => "llm.system",
    llm_request_type => "llm.request.type",
    llm_model_name => "llm.model_name",
    llm_invocation_parameters => "llm.invocation_parameters",
    llm_finish_reason => "llm.finish_reason",
    llm_request_model_name => "llm.request.model_name",
    llm_response_model_name => "llm.response.model_name",
    llm_token_count_prompt => "llm.token_count.prompt",
    llm_token_count_completion => "llm.token_count.completion",
    llm_token_count_cache_read => "llm.token_count.prompt_details.cache_read",
    gen_ai_usage_reasoning_output_tokens => "gen_ai.usage.reasoning.output_tokens",
    gen_ai_usage_reasoning_tokens => "gen_ai.usage.reasoning_tokens",
    llm_token_count_reasoning => "llm.token_count.completion_details.reasoning",
    gen_ai_prompt_name => "gen_ai.prompt.name",
    gen_ai_prompt_version => "gen_ai.prompt.version",
    langfuse_prompt_name => "langfuse.prompt.name",
    langfuse_prompt_version => "langfuse.prompt.version",
    llm_prompt_template_version => "llm.prompt_template.version",
    openinference_span_kind => "openinference.span.kind",
    ai_usage_prompt_tokens => "ai.usage.promptTokens",
    ai_usage_completion_tokens => "ai.usage.completionTokens",
}

impl Known<'_> {
    pub fn http_method(&self) -> Option<&str> {
        as_str(self.http_request_method).or_else(|| as_str(self.http_method))
    }

    pub fn http_status(&self) -> Option<i64> {
        as_i64(self.http_response_status_code).or_else(|| as_i64(self.http_status_code))
    }

    pub fn url(&self) -> Option<&str> {
        as_str(self.url_full).or_else(|| as_str(self.http_url))
    }

    pub fn scheme(&self) -> Option<&str> {
        as_str(self.url_scheme).or_else(|| as_str(self.http_scheme))
    }

    /// The client-side peer: `server.address` or the old `net.peer.name`/`net.peer.ip`.
    pub fn peer_host(&self) -> Option<&str> {
        as_str(self.server_address)
            .or_else(|| as_str(self.net_peer_name))
            .or_else(|| as_str(self.net_peer_ip))
    }

    pub fn peer_port(&self) -> Option<i64> {
        as_i64(self.server_port).or_else(|| as_i64(self.net_peer_port))
    }

    pub fn db_system(&self) -> Option<&str> {
        as_str(self.db_system_name).or_else(|| as_str(self.db_system))
    }

    pub fn db_name(&self) -> Option<&str> {
        as_str(self.db_namespace).or_else(|| as_str(self.db_name))
    }

    pub fn db_statement(&self) -> Option<&str> {
        as_str(self.db_query_text)
            .or_else(|| as_str(self.db_statement))
            .or_else(|| as_str(self.db_operation_name))
            .or_else(|| as_str(self.db_operation))
    }

    pub fn messaging_destination(&self) -> Option<&str> {
        as_str(self.messaging_destination_name).or_else(|| as_str(self.messaging_destination))
    }

    /// Sampling percentage as Azure Monitor exporters attach it (`_MS.sampleRate`, JS
    /// `microsoft.sample_rate`).
    pub fn sample_rate(&self) -> Option<f64> {
        as_f64(self.ms_sample_rate).or_else(|| as_f64(self.microsoft_sample_rate))
    }

    /// The calling client's address, in the order Application Insights reads it.
    pub fn client_ip(&self) -> Option<&str> {
        as_str(self.microsoft_client_ip)
            .or_else(|| as_str(self.client_address))
            .or_else(|| as_str(self.http_client_ip))
            .or_else(|| as_str(self.net_peer_ip))
            .or_else(|| as_str(self.net_sock_peer_addr))
            .or_else(|| as_str(self.network_peer_address))
    }

    pub fn user_id(&self) -> Option<&str> {
        as_str(self.enduser_pseudo_id)
            .or_else(|| as_str(self.user_id))
            .or_else(|| as_str(self.langfuse_user_id))
    }

    pub fn authenticated_user_id(&self) -> Option<&str> {
        as_str(self.enduser_id)
    }

    /// The semantic conventions' `session.id` (OpenInference's too), Langfuse's, or the GenAI
    /// conversation an LLM call belongs to.
    pub fn session_id(&self) -> Option<&str> {
        as_str(self.session_id)
            .or_else(|| as_str(self.langfuse_session_id))
            .or_else(|| as_str(self.gen_ai_conversation_id))
    }
}
