//! Just enough URL splitting for dependency targets and names, without allocating.

/// The parts of an absolute or path-only URL that the mapping needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    /// Path without query or fragment; `/` when the URL has none.
    pub path: &'a str,
}

pub fn split(url: &str) -> UrlParts<'_> {
    let bytes = url.as_bytes();
    let (scheme, rest) = match memchr::memchr(b':', bytes) {
        Some(colon) if bytes[colon..].starts_with(b"://") => (&url[..colon], &url[colon + 3..]),
        _ => ("", url),
    };
    let (authority, path_and_more) = if scheme.is_empty() {
        ("", rest)
    } else {
        let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
        rest.split_at(end)
    };
    let host_port = match memchr::memrchr(b'@', authority.as_bytes()) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (host, port) = split_host_port(host_port);
    let path_end =
        memchr::memchr2(b'?', b'#', path_and_more.as_bytes()).unwrap_or(path_and_more.len());
    let path = &path_and_more[..path_end];
    UrlParts {
        scheme,
        host,
        port,
        path: if path.is_empty() { "/" } else { path },
    }
}

/// Splits `host:port`, keeping IPv6 literals (`[::1]:8080`) intact.
pub fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(close) => {
                let port = authority[close + 1..]
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok());
                (&authority[..=close], port)
            }
            None => (authority, None),
        };
    }
    match memchr::memrchr(b':', authority.as_bytes()) {
        Some(colon) if !authority.as_bytes()[..colon].contains(&b':') => {
            match authority[colon + 1..].parse() {
                Ok(port) => (&authority[..colon], Some(port)),
                Err(_) => (authority, None),
            }
        }
        _ => (authority, None),
    }
}

/// Whether `port` is the scheme's default (80 for http, 443 for https), so targets omit it.
pub fn is_default_http_port(scheme: &str, port: i64) -> bool {
    match port {
        80 => scheme.is_empty() || scheme.eq_ignore_ascii_case("http"),
        443 => scheme.is_empty() || scheme.eq_ignore_ascii_case("https"),
        _ => false,
    }
}

/// `host` or `host:port` unless the port is the default one.
pub fn host_with_port(host: &str, port: Option<i64>, is_default: impl Fn(i64) -> bool) -> String {
    match port {
        Some(port) if port > 0 && !is_default(port) => {
            join(&[host, ":", itoa::Buffer::new().format(port)])
        }
        _ => host.to_owned(),
    }
}

/// Concatenates `parts` with a single allocation (cheaper than `format!` on hot paths).
pub fn join(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `"{METHOD} {target}"` with the method upper-cased, as Application Insights names HTTP calls.
pub fn method_and_target(method: &str, target: &str) -> String {
    let mut out = String::with_capacity(method.len() + 1 + target.len());
    out.extend(method.chars().map(|c| c.to_ascii_uppercase()));
    out.push(' ');
    out.push_str(target);
    out
}

/// A status code as the text stored in `resultCode`; `"0"` when there is none.
pub fn result_code(code: Option<i64>) -> String {
    code.map_or_else(
        || "0".to_owned(),
        |code| itoa::Buffer::new().format(code).to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_absolute_urls() {
        let parts =
            split("https://user:pw@res.openai.azure.com:8443/openai/deployments/gpt-4o/chat?x=1");
        assert_eq!(parts.scheme, "https");
        assert_eq!(parts.host, "res.openai.azure.com");
        assert_eq!(parts.port, Some(8443));
        assert_eq!(parts.path, "/openai/deployments/gpt-4o/chat");
    }

    #[test]
    fn splits_urls_without_path_and_path_only_targets() {
        assert_eq!(split("http://h?x").path, "/");
        assert_eq!(split("http://h").host, "h");
        let target = split("/chat?q=1");
        assert_eq!(target.host, "");
        assert_eq!(target.path, "/chat");
    }

    #[test]
    fn keeps_ipv6_literals() {
        assert_eq!(split_host_port("[::1]:8080"), ("[::1]", Some(8080)));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert_eq!(split_host_port("host:notaport"), ("host:notaport", None));
    }

    #[test]
    fn omits_default_ports() {
        assert_eq!(
            host_with_port("h", Some(443), |p| is_default_http_port("https", p)),
            "h"
        );
        assert_eq!(
            host_with_port("h", Some(8080), |p| is_default_http_port("https", p)),
            "h:8080"
        );
        assert_eq!(host_with_port("h", None, |_| false), "h");
    }
}
