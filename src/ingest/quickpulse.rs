//! Live Metrics (QuickPulse): the `ping` and `post` endpoints SDKs call at their `LiveEndpoint`.
//! Answering them keeps SDKs from erroring or reporting to Microsoft; the latest posted data
//! points are kept per app, role and instance (bounded) for a live view. The SDKs name their key in
//! the `ikey` query parameter; it is checked like on every ingest path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::auth::presented_key;
use super::encoding::{add_retry_after, close_if_body_unread, http_status};
use super::http::HttpIngest;
use crate::error::HasErrorKind;
use crate::http_server::ClientIp;
use crate::reads::AppScope;

/// Instances remembered per app, and in all; the one heard from longest ago goes first, so one
/// app's instances cannot push another's out.
const MAX_INSTANCES_PER_APP: usize = 1_000;
const MAX_INSTANCES: usize = 10_000;

/// An instance: its key's app, its role and its instance name.
type InstanceKey = (Arc<str>, String, String);
/// When an instance was last heard from, and what it said.
type Heard = (i64, Value);

/// The latest data point of each (app, role, instance).
#[derive(Default)]
pub struct LiveMetrics {
    /// Whether SDKs are told someone is watching, so they post every second.
    subscribed: bool,
    latest: Mutex<HashMap<InstanceKey, Heard>>,
}

impl LiveMetrics {
    pub fn new(subscribed: bool) -> Self {
        LiveMetrics {
            subscribed,
            latest: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceKey, Heard>> {
        match self.latest.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn remember(&self, point: Value, app: Arc<str>, now_ns: i64) {
        let field = |name: &str| {
            point
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let key = (app, field("RoleName"), field("Instance"));
        let mut latest = self.lock();
        if !latest.contains_key(&key) {
            let same_app = latest.keys().filter(|k| k.0 == key.0).count();
            let oldest = |same_app_only: bool| {
                latest
                    .iter()
                    .filter(|(k, _)| !same_app_only || k.0 == key.0)
                    .min_by_key(|(_, (seen, _))| *seen)
                    .map(|(k, _)| k.clone())
            };
            let evict = if same_app >= MAX_INSTANCES_PER_APP {
                oldest(true)
            } else if latest.len() >= MAX_INSTANCES {
                oldest(false)
            } else {
                None
            };
            if let Some(evict) = evict {
                latest.remove(&evict);
            }
        }
        latest.insert(key, (now_ns, point));
    }

    /// The latest data point of every remembered instance of the apps in `scope`, by app,
    /// role and instance.
    pub fn snapshot(&self, scope: &AppScope) -> Vec<Value> {
        let latest = self.lock();
        let mut points: Vec<_> = latest
            .iter()
            .filter(|((app, _, _), _)| scope.allows(app))
            .collect();
        points.sort_by(|a, b| a.0.cmp(b.0));
        points
            .into_iter()
            .map(|((app, role, instance), (seen, point))| {
                json!({
                    "role": role,
                    "instance": instance,
                    "app": app.as_ref(),
                    "received": crate::time::format_instant(*seen),
                    "data_point": point,
                })
            })
            .collect()
    }
}

#[derive(Clone)]
struct LiveState {
    ingest: HttpIngest,
    live: Arc<LiveMetrics>,
}

pub fn router(ingest: HttpIngest, live: Arc<LiveMetrics>) -> Router {
    Router::new()
        .route("/QuickPulseService.svc/ping", post(ping))
        .route("/QuickPulseService.svc/post", post(post_samples))
        .with_state(LiveState { ingest, live })
}

async fn ping(
    State(state): State<LiveState>,
    RawQuery(query): RawQuery,
    client: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(&state, query.as_deref(), client, &headers, body, false).await
}

async fn post_samples(
    State(state): State<LiveState>,
    RawQuery(query): RawQuery,
    client: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(&state, query.as_deref(), client, &headers, body, true).await
}

/// The key in the `ikey` query parameter, as the SDKs send it, or in the usual headers.
fn live_key<'a>(
    query: Option<&'a str>,
    headers: &'a HeaderMap,
) -> Option<std::borrow::Cow<'a, str>> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(name, value)| name.eq_ignore_ascii_case("ikey") && !value.trim().is_empty())
        .map(|(_, value)| value)
        .or_else(|| presented_key(headers).map(std::borrow::Cow::Borrowed))
}

/// Checks the key, reads the data point(s) and answers with the subscription state and an
/// empty collection configuration (no derived metrics or document streams are requested).
async fn answer(
    state: &LiveState,
    query: Option<&str>,
    client: ClientIp,
    headers: &HeaderMap,
    body: Body,
    is_post: bool,
) -> Response {
    let key = live_key(query, headers);
    let identity = match state
        .ingest
        .ingest
        .authenticator()
        .authenticate(key.as_deref().map(str::trim))
        .await
    {
        Ok(identity) => identity,
        Err(error) => {
            let kind = error.kind();
            let mut response = (http_status(kind), error.to_string()).into_response();
            add_retry_after(kind, &mut response);
            return response;
        }
    };
    let body = match state.ingest.read_body(client, headers, body).await {
        Ok((body, _budget)) => body,
        // Too large, too slow or no budget: the status and retry advice of every ingest path.
        Err(error) => {
            let kind = error.kind();
            let mut response = (http_status(kind), error.to_string()).into_response();
            add_retry_after(kind, &mut response);
            close_if_body_unread(&error, &mut response);
            return response;
        }
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("invalid monitoring data point: {error}"),
            )
                .into_response();
        }
    };
    let now = crate::clock::now_ns();
    match parsed {
        Value::Array(points) if is_post => {
            for point in points.into_iter().filter(Value::is_object) {
                state
                    .live
                    .remember(point, Arc::clone(&identity.app_name), now);
            }
        }
        point @ Value::Object(_) => state.live.remember(point, identity.app_name, now),
        _ => {
            return (StatusCode::BAD_REQUEST, "expected a monitoring data point").into_response();
        }
    }
    let etag = headers
        .get("x-ms-qps-configuration-etag")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""));
    let mut response = axum::Json(json!({
        "ETag": etag.to_str().unwrap_or(""),
        "Metrics": [],
        "DocumentStreams": [],
        "QuotaInfo": null,
    }))
    .into_response();
    let out = response.headers_mut();
    out.insert(
        "x-ms-qps-subscribed",
        HeaderValue::from_static(if state.live.subscribed {
            "true"
        } else {
            "false"
        }),
    );
    out.insert("x-ms-qps-configuration-etag", etag);
    out.insert(
        "x-ms-qps-service-polling-interval-hint",
        HeaderValue::from_static("5000"),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
