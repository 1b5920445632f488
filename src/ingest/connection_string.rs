//! Application Insights connection strings, parsed by the SDKs' rules: `;`-separated
//! `key=value` pairs, keys case-insensitive, empty segments (a trailing `;`) ignored, explicit
//! endpoints winning over `EndpointSuffix` + `Location`, which win over Microsoft's defaults.

const MAX_LENGTH: usize = 4096;
const DEFAULT_INGESTION: &str = "https://dc.services.visualstudio.com/";
const DEFAULT_LIVE: &str = "https://rt.services.visualstudio.com/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionString {
    pub instrumentation_key: String,
    pub ingestion_endpoint: String,
    pub live_endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    #[error("connection string is {0} characters long; the limit is 4096")]
    TooLong(usize),
    #[error("connection string segment {0:?} is not key=value")]
    NotAPair(String),
    #[error("connection string has no InstrumentationKey")]
    MissingKey,
    #[error(
        "instrumentation key {0:?} is not a lower-case UUID (the Python and JavaScript SDKs reject it)"
    )]
    InvalidKey(String),
    #[error("Authorization={0:?} is not supported; only ikey is")]
    UnsupportedAuthorization(String),
    #[error("Location {0:?} must be letters and digits")]
    InvalidLocation(String),
}

/// Whether `key` is a lower-case hyphenated UUID, the form SDKs accept.
pub fn is_lowercase_uuid(key: &str) -> bool {
    key.len() == 36
        && key.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn with_slash(endpoint: &str) -> String {
    if endpoint.ends_with('/') {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/")
    }
}

pub fn parse(text: &str) -> Result<ConnectionString, ConnectionStringError> {
    if text.len() > MAX_LENGTH {
        return Err(ConnectionStringError::TooLong(text.len()));
    }
    let mut key = None;
    let (mut ingestion, mut live, mut suffix, mut location) = (None, None, None, None);
    for segment in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = segment
            .split_once('=')
            .ok_or_else(|| ConnectionStringError::NotAPair(segment.to_owned()))?;
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "instrumentationkey" => key = Some(value),
            "ingestionendpoint" => ingestion = Some(value),
            "liveendpoint" => live = Some(value),
            "endpointsuffix" => suffix = Some(value.trim_matches('.').to_owned()),
            "location" => location = Some(value.trim_matches('.').to_owned()),
            "authorization" if !value.eq_ignore_ascii_case("ikey") => {
                return Err(ConnectionStringError::UnsupportedAuthorization(value));
            }
            // ApplicationId, AADAudience, ProfilerEndpoint and the like do not concern ingest.
            _ => {}
        }
    }
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or(ConnectionStringError::MissingKey)?;
    if !is_lowercase_uuid(&key) {
        return Err(ConnectionStringError::InvalidKey(key));
    }
    if let Some(location) = &location
        && !location.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(ConnectionStringError::InvalidLocation(location.clone()));
    }
    let from_suffix = |service: &str| {
        suffix.as_ref().map(|suffix| match &location {
            Some(location) => format!("https://{location}.{service}.{suffix}/"),
            None => format!("https://{service}.{suffix}/"),
        })
    };
    Ok(ConnectionString {
        instrumentation_key: key,
        ingestion_endpoint: ingestion
            .map(|e| with_slash(&e))
            .or_else(|| from_suffix("dc"))
            .unwrap_or_else(|| DEFAULT_INGESTION.to_owned()),
        live_endpoint: live
            .map(|e| with_slash(&e))
            .or_else(|| from_suffix("live"))
            .unwrap_or_else(|| DEFAULT_LIVE.to_owned()),
    })
}

/// The connection string that points an SDK at tracehouse for both ingestion and Live Metrics.
pub fn for_tracehouse(key: &str, endpoint: &str) -> String {
    let endpoint = with_slash(endpoint);
    format!("InstrumentationKey={key};IngestionEndpoint={endpoint};LiveEndpoint={endpoint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    #[test]
    fn keys_are_case_insensitive_and_trailing_separators_ignored() {
        let parsed = parse(&format!(
            "instrumentationkey={KEY};INGESTIONENDPOINT=http://th:4318;LiveEndpoint=http://th:4318/;"
        ))
        .expect("parses");
        assert_eq!(parsed.instrumentation_key, KEY);
        assert_eq!(parsed.ingestion_endpoint, "http://th:4318/");
        assert_eq!(parsed.live_endpoint, "http://th:4318/");
    }

    #[test]
    fn endpoints_come_from_the_suffix_and_location_or_the_defaults() {
        let parsed = parse(&format!(
            "InstrumentationKey={KEY};EndpointSuffix=applicationinsights.azure.cn;Location=chinaeast2"
        ))
        .expect("parses");
        assert_eq!(
            parsed.ingestion_endpoint,
            "https://chinaeast2.dc.applicationinsights.azure.cn/"
        );
        assert_eq!(
            parsed.live_endpoint,
            "https://chinaeast2.live.applicationinsights.azure.cn/"
        );
        let explicit = parse(&format!(
            "InstrumentationKey={KEY};EndpointSuffix=x.cn;IngestionEndpoint=http://h/"
        ))
        .expect("parses");
        assert_eq!(explicit.ingestion_endpoint, "http://h/");
        assert_eq!(explicit.live_endpoint, "https://live.x.cn/");
        let defaults = parse(&format!("InstrumentationKey={KEY}")).expect("parses");
        assert_eq!(defaults.ingestion_endpoint, DEFAULT_INGESTION);
    }

    #[test]
    fn bad_strings_say_what_is_wrong() {
        assert_eq!(
            parse("IngestionEndpoint=http://h/"),
            Err(ConnectionStringError::MissingKey)
        );
        assert_eq!(
            parse(&format!("InstrumentationKey={}", KEY.to_uppercase())),
            Err(ConnectionStringError::InvalidKey(KEY.to_uppercase()))
        );
        assert_eq!(
            parse(&format!("InstrumentationKey={KEY};garbage")),
            Err(ConnectionStringError::NotAPair("garbage".into()))
        );
        assert_eq!(
            parse(&format!("InstrumentationKey={KEY};Authorization=AAD")),
            Err(ConnectionStringError::UnsupportedAuthorization(
                "AAD".into()
            ))
        );
        assert!(matches!(
            parse(&"x".repeat(5000)),
            Err(ConnectionStringError::TooLong(5000))
        ));
        assert!(
            parse(&format!(
                "InstrumentationKey={KEY};EndpointSuffix=a.b;Location=evil/x"
            ))
            .is_err()
        );
    }

    #[test]
    fn the_printed_string_parses_back() {
        let text = for_tracehouse(KEY, "http://tracehouse:4318");
        let parsed = parse(&text).expect("parses");
        assert_eq!(parsed.ingestion_endpoint, "http://tracehouse:4318/");
        assert_eq!(parsed.live_endpoint, "http://tracehouse:4318/");
    }
}
