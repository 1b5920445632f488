//! CLIENT/PRODUCER/INTERNAL spans → the `type`, `target`, `data`, `name` and `resultCode` of a
//! dependency, following the Azure Monitor exporters' evaluation order.

use super::attributes::{as_i64, as_str};
use super::known::Known;
use super::url::{self, host_with_port, is_default_http_port, join, method_and_target};
use crate::model::GenAi;

/// The span kinds that become dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    Producer,
    Internal,
}

/// The classified, table-specific text columns of a dependency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classified {
    pub dependency_type: String,
    pub target: String,
    pub data: String,
    pub name: String,
    pub result_code: String,
}

pub fn classify(
    kind: Kind,
    known: &Known<'_>,
    span_name: &str,
    genai: Option<&GenAi>,
) -> Classified {
    let mut out = classify_by_conventions(kind, known, genai);
    if out.name.is_empty() {
        out.name = span_name.to_owned();
    }
    out
}

/// Everything but the name, which is the span name unless a convention derives a better one.
fn classify_by_conventions(kind: Kind, known: &Known<'_>, genai: Option<&GenAi>) -> Classified {
    let http_method = known.http_method();
    let result_code = url::result_code(
        known
            .http_status()
            .or_else(|| as_i64(known.rpc_grpc_status_code)),
    );
    let mut out = Classified {
        result_code,
        ..Classified::default()
    };

    if let Some(genai) = genai {
        out.dependency_type = if genai.provider.is_empty() {
            "GenAI".to_owned()
        } else {
            join(&["GenAI | ", &genai.provider])
        };
        // The endpoint names the deployment (and its quota): the peer, else the API base URL
        // OpenLLMetry records, else only the provider is known.
        out.target = peer_target(known, |p| is_default_http_port("https", p))
            .or_else(|| {
                let parts = url::split(as_str(known.gen_ai_openai_api_base)?);
                let scheme = if parts.scheme.is_empty() {
                    "https"
                } else {
                    parts.scheme
                };
                (!parts.host.is_empty()).then(|| {
                    host_with_port(parts.host, parts.port.map(i64::from), |p| {
                        is_default_http_port(scheme, p)
                    })
                })
            })
            .unwrap_or_else(|| genai.provider.clone());
        return out;
    }

    let az_namespace = as_str(known.az_namespace);
    if kind == Kind::Internal {
        out.dependency_type = match az_namespace {
            Some(ns) => join(&["InProc | ", ns]),
            None => "InProc".to_owned(),
        };
        return out;
    }

    if let Some(method) = http_method {
        let full_url = known.url().unwrap_or_default();
        let parts = url::split(full_url);
        let scheme = known.scheme().unwrap_or(parts.scheme);
        out.dependency_type = az_namespace.map_or_else(|| "HTTP".to_owned(), str::to_owned);
        out.target = peer_target(known, |p| is_default_http_port(scheme, p))
            .or_else(|| as_str(known.http_host).map(|h| strip_default_port(h, scheme)))
            .or_else(|| {
                (!parts.host.is_empty()).then(|| {
                    host_with_port(parts.host, parts.port.map(i64::from), |p| {
                        is_default_http_port(scheme, p)
                    })
                })
            })
            .unwrap_or_default();
        out.data = full_url.to_owned();
        let path =
            as_str(known.url_path).unwrap_or(if full_url.is_empty() { "" } else { parts.path });
        if !path.is_empty() {
            out.name = method_and_target(method, path);
        }
        return out;
    }

    if let Some(system) = known.db_system() {
        out.dependency_type = db_type(system);
        let peer = peer_target(known, |p| is_default_db_port(system, p));
        let db_name = known.db_name();
        out.target = match (peer, db_name) {
            (Some(peer), Some(db)) => join(&[&peer, "|", db]),
            (Some(peer), None) => peer,
            (None, Some(db)) => db.to_owned(),
            (None, None) => system.to_owned(),
        };
        out.data = known.db_statement().unwrap_or_default().to_owned();
        return out;
    }

    if let Some(system) = as_str(known.messaging_system) {
        out.dependency_type = if kind == Kind::Producer {
            join(&["Queue Message | ", system])
        } else {
            system.to_owned()
        };
        out.target = peer_target(known, |_| false)
            .or_else(|| known.messaging_destination().map(str::to_owned))
            .unwrap_or_else(|| system.to_owned());
        return out;
    }

    if let Some(system) = as_str(known.rpc_system) {
        out.dependency_type = if system.eq_ignore_ascii_case("grpc") {
            "GRPC".to_owned()
        } else {
            system.to_owned()
        };
        out.target = peer_target(known, |_| false).unwrap_or_else(|| system.to_owned());
        return out;
    }

    out.dependency_type = match (kind, az_namespace) {
        (Kind::Producer, Some(ns)) => join(&["Queue Message | ", ns]),
        (Kind::Producer, None) => "Queue Message".to_owned(),
        (_, Some(ns)) => ns.to_owned(),
        _ => "Dependency".to_owned(),
    };
    out.target = peer_target(known, |_| false).unwrap_or_default();
    out
}

/// `peer.service`, else the peer host with its port unless that port is the default.
fn peer_target(known: &Known<'_>, is_default: impl Fn(i64) -> bool) -> Option<String> {
    if let Some(service) = as_str(known.peer_service) {
        return Some(service.to_owned());
    }
    let host = known.peer_host().filter(|h| !h.is_empty())?;
    Some(host_with_port(host, known.peer_port(), is_default))
}

fn strip_default_port(host: &str, scheme: &str) -> String {
    let (name, port) = url::split_host_port(host);
    host_with_port(name, port.map(i64::from), |p| {
        is_default_http_port(scheme, p)
    })
}

/// Application Insights dependency types for `db.system` values.
fn db_type(system: &str) -> String {
    match system {
        "db2"
        | "derby"
        | "mariadb"
        | "mssql"
        | "microsoft.sql_server"
        | "oracle"
        | "sqlite"
        | "other_sql"
        | "hsqldb"
        | "h2" => "SQL".to_owned(),
        other => other.to_owned(),
    }
}

fn is_default_db_port(system: &str, port: i64) -> bool {
    let default = match system {
        "postgresql" => 5432,
        "cassandra" => 9042,
        "mysql" | "mariadb" => 3306,
        "mssql" | "microsoft.sql_server" => 1433,
        "memcached" => 11211,
        "db2" => 50000,
        "oracle" => 1521,
        "h2" => 8082,
        "derby" => 1527,
        "redis" => 6379,
        _ => return false,
    };
    port == default
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::test_support::{attr, int_attr};
    use crate::normalize::wire::KeyValueRef;

    fn classify_attrs(kind: Kind, attributes: &[KeyValueRef<'_>], name: &str) -> Classified {
        classify(kind, &Known::index(attributes), name, None)
    }

    #[test]
    fn old_http_client_conventions() {
        let c = classify_attrs(
            Kind::Client,
            &[
                attr("http.method", "GET"),
                attr(
                    "http.url",
                    "http://127.0.0.1:19001/indexes/docs/docs?search=why",
                ),
                int_attr("http.status_code", 200),
            ],
            "GET",
        );
        assert_eq!(c.dependency_type, "HTTP");
        assert_eq!(c.target, "127.0.0.1:19001");
        assert_eq!(c.name, "GET /indexes/docs/docs");
        assert_eq!(
            c.data,
            "http://127.0.0.1:19001/indexes/docs/docs?search=why"
        );
        assert_eq!(c.result_code, "200");
    }

    #[test]
    fn new_http_client_conventions_map_the_same_way() {
        let c = classify_attrs(
            Kind::Client,
            &[
                attr("http.request.method", "POST"),
                attr(
                    "url.full",
                    "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                ),
                attr("server.address", "res.openai.azure.com"),
                int_attr("server.port", 443),
                int_attr("http.response.status_code", 429),
            ],
            "POST",
        );
        assert_eq!(c.dependency_type, "HTTP");
        assert_eq!(c.target, "res.openai.azure.com");
        assert_eq!(c.name, "POST /openai/deployments/gpt-4o/chat/completions");
        assert_eq!(c.result_code, "429");
    }

    #[test]
    fn database_spans_in_both_generations() {
        let old = classify_attrs(
            Kind::Client,
            &[
                attr("db.system", "postgresql"),
                attr("db.name", "orders"),
                attr("db.statement", "SELECT 1"),
                attr("net.peer.name", "pg.internal"),
                int_attr("net.peer.port", 5432),
            ],
            "SELECT orders",
        );
        let new = classify_attrs(
            Kind::Client,
            &[
                attr("db.system.name", "postgresql"),
                attr("db.namespace", "orders"),
                attr("db.query.text", "SELECT 1"),
                attr("server.address", "pg.internal"),
                int_attr("server.port", 5432),
            ],
            "SELECT orders",
        );
        assert_eq!(old, new);
        assert_eq!(old.dependency_type, "postgresql");
        assert_eq!(old.target, "pg.internal|orders");
        assert_eq!(old.data, "SELECT 1");
        let mssql = classify_attrs(Kind::Client, &[attr("db.system", "mssql")], "q");
        assert_eq!(mssql.dependency_type, "SQL");
    }

    #[test]
    fn messaging_rpc_internal_and_fallbacks() {
        let producer = classify_attrs(
            Kind::Producer,
            &[
                attr("messaging.system", "kafka"),
                attr("messaging.destination.name", "jobs"),
            ],
            "jobs publish",
        );
        assert_eq!(producer.dependency_type, "Queue Message | kafka");
        assert_eq!(producer.target, "jobs");
        let rpc = classify_attrs(
            Kind::Client,
            &[
                attr("rpc.system", "grpc"),
                attr("server.address", "svc"),
                int_attr("rpc.grpc.status_code", 14),
            ],
            "Svc/Call",
        );
        assert_eq!(
            (
                rpc.dependency_type.as_str(),
                rpc.target.as_str(),
                rpc.result_code.as_str()
            ),
            ("GRPC", "svc", "14")
        );
        let internal = classify_attrs(
            Kind::Internal,
            &[attr("asgi.event.type", "http.request")],
            "POST /chat http receive",
        );
        assert_eq!(internal.dependency_type, "InProc");
        let plain = classify_attrs(Kind::Client, &[], "call");
        assert_eq!(
            (plain.dependency_type.as_str(), plain.result_code.as_str()),
            ("Dependency", "0")
        );
    }

    #[test]
    fn genai_spans_are_typed_by_provider() {
        let genai = GenAi {
            provider: "openai".into(),
            ..GenAi::default()
        };
        let c = classify(
            Kind::Client,
            &Known::index(&[attr("server.address", "api.openai.com")]),
            "chat gpt-4o",
            Some(&genai),
        );
        assert_eq!(c.dependency_type, "GenAI | openai");
        assert_eq!(c.target, "api.openai.com");
        let base = [
            attr("gen_ai.provider.name", "openai"),
            attr("gen_ai.request.model", "gpt-4o"),
            attr(
                "gen_ai.openai.api_base",
                "https://myaoai.openai.azure.com/openai/",
            ),
        ];
        let known = Known::index(&base);
        let genai = crate::normalize::genai::detect(&known, "chat gpt-4o");
        let from_base = classify(Kind::Client, &known, "chat gpt-4o", genai.as_ref());
        assert_eq!(
            from_base.target, "myaoai.openai.azure.com",
            "OpenLLMetry's API base"
        );
        let local = [
            attr("gen_ai.provider.name", "openai"),
            attr("gen_ai.openai.api_base", "http://127.0.0.1:19400/openai/"),
        ];
        let known = Known::index(&local);
        let genai = crate::normalize::genai::detect(&known, "chat");
        let local = classify(Kind::Client, &known, "chat", genai.as_ref());
        assert_eq!(local.target, "127.0.0.1:19400");
        assert_eq!(c.name, "chat gpt-4o");
    }
}
