//! SERVER/CONSUMER spans (and local roots) → the `name`, `url`, `source` and `resultCode` of a
//! request.

use super::attributes::{as_i64, as_str};
use super::known::Known;
use super::url::{host_with_port, is_default_http_port, join, method_and_target, result_code};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classified {
    pub name: String,
    pub url: String,
    pub source: String,
    pub result_code: String,
}

pub fn classify(known: &Known<'_>, span_name: &str) -> Classified {
    let method = known.http_method();
    let route = as_str(known.http_route);
    let name = match (method, route) {
        (Some(method), Some(route)) if !route.is_empty() => method_and_target(method, route),
        _ => span_name.to_owned(),
    };
    let result_code = result_code(
        known
            .http_status()
            .or_else(|| as_i64(known.rpc_grpc_status_code)),
    );
    let source = known
        .messaging_destination()
        .map(|destination| match known.peer_host() {
            Some(peer) => join(&[peer, "/", destination]),
            None => destination.to_owned(),
        })
        .unwrap_or_default();
    Classified {
        name,
        url: server_url(known).unwrap_or_default(),
        source,
        result_code,
    }
}

/// The full request URL, rebuilt from its parts when the SDK did not send one.
fn server_url(known: &Known<'_>) -> Option<String> {
    if let Some(url) = known.url() {
        return Some(url.to_owned());
    }
    let target = match (as_str(known.url_path), as_str(known.url_query)) {
        (Some(path), Some(query)) if !query.is_empty() => join(&[path, "?", query]),
        (Some(path), _) => path.to_owned(),
        (None, _) => as_str(known.http_target)?.to_owned(),
    };
    let scheme = known.scheme().unwrap_or("http");
    let host = as_str(known.server_address)
        .map(|host| {
            host_with_port(host, as_i64(known.server_port), |p| {
                is_default_http_port(scheme, p)
            })
        })
        .or_else(|| as_str(known.http_host).map(str::to_owned))
        .or_else(|| {
            as_str(known.http_server_name)
                .or_else(|| as_str(known.net_host_name))
                .map(|host| {
                    host_with_port(host, as_i64(known.net_host_port), |p| {
                        is_default_http_port(scheme, p)
                    })
                })
        })?;
    Some(join(&[scheme, "://", &host, &target]))
}

/// Application Insights request success: an error status fails; otherwise an HTTP status
/// decides (below 400 succeeds); otherwise it succeeded.
pub fn success(status_is_error: bool, http_status: Option<i64>) -> bool {
    if status_is_error {
        return false;
    }
    match http_status {
        Some(code) => code < 400,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::test_support::{attr, int_attr};

    #[test]
    fn names_http_requests_by_method_and_route() {
        let attrs = [
            attr("http.method", "post"),
            attr("http.route", "/items/{id}"),
            attr("http.target", "/items/7"),
            attr("http.scheme", "http"),
            attr("http.host", "127.0.0.1:19002"),
            int_attr("http.status_code", 200),
        ];
        let c = classify(&Known::index(&attrs), "POST /items/{id}");
        assert_eq!(c.name, "POST /items/{id}");
        assert_eq!(c.url, "http://127.0.0.1:19002/items/7");
        assert_eq!(c.result_code, "200");
    }

    #[test]
    fn rebuilds_urls_from_new_conventions() {
        let attrs = [
            attr("http.request.method", "GET"),
            attr("url.scheme", "https"),
            attr("server.address", "api.example.com"),
            int_attr("server.port", 443),
            attr("url.path", "/v1/x"),
            attr("url.query", "q=1"),
        ];
        let c = classify(&Known::index(&attrs), "GET");
        assert_eq!(c.url, "https://api.example.com/v1/x?q=1");
        assert_eq!(c.name, "GET");
        assert_eq!(c.result_code, "0");
    }

    #[test]
    fn success_follows_status_then_http_code() {
        assert!(success(false, Some(200)));
        assert!(!success(false, Some(404)));
        assert!(!success(false, Some(500)));
        assert!(!success(true, Some(200)));
        assert!(success(false, None));
    }
}
