//! The web UI on the query API's port: pages rendered on the server (maud templates compiled
//! into the binary, escaping every value), one store round trip per page through the same query
//! functions the JSON API uses, every view a URL that holds its state. Today: Performance →
//! Samples → Transaction, the path of "why are some `POST /chat` calls slow"; Failures, the map,
//! GenAI, Logs and Live;
//! and the login page that sets the token cookie when reads need a token.

mod alerts;
mod chart;
mod failures;
mod format;
mod genai;
mod infrastructure;
mod live;
mod login;
mod logs;
mod map;
mod performance;
mod query;
mod samples;
mod transaction;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::header;
use maud::{DOCTYPE, Markup, html};

use crate::api::ApiError;
use crate::api::ApiState;
use crate::error::{ErrorKind, HasErrorKind};

/// The stylesheet, embedded in the binary.
const STYLE: &str = include_str!("style.css");

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/performance") }))
        .route("/performance", get(performance::page))
        .route("/samples", get(samples::page))
        .route("/failures", get(failures::page))
        .route("/infrastructure", get(infrastructure::page))
        .route("/alerts", get(alerts::page))
        .route("/logs", get(logs::page))
        .route("/query", get(query::page))
        .route("/genai", get(genai::page))
        .route("/map", get(map::page))
        .route("/live", get(live::page))
        .route("/live/instances", get(live::instances))
        .route("/ui/live.js", get(live::script))
        .route("/transaction/{operation_id}", get(transaction::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/ui/style.css", get(style))
        .route("/favicon.ico", get(favicon))
        .with_state(state)
}

/// A small mark for the browser tab (browsers ask for it on every site).
async fn favicon() -> Response {
    const ICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>\
        <rect width='16' height='16' rx='3' fill='#24292f'/>\
        <rect x='3' y='4' width='10' height='2' fill='#218bff'/>\
        <rect x='5' y='7' width='6' height='2' fill='#2da44e'/>\
        <rect x='7' y='10' width='4' height='2' fill='#cf222e'/></svg>";
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The views in the navigation bar.
const VIEWS: [(&str, &str); 9] = [
    ("Performance", "/performance"),
    ("Failures", "/failures"),
    ("Map", "/map"),
    ("GenAI", "/genai"),
    ("Infrastructure", "/infrastructure"),
    ("Alerts", "/alerts"),
    ("Logs", "/logs"),
    ("Query", "/query"),
    ("Live", "/live"),
];

/// A whole page: navigation, the time range picker (keeping `query`'s other parameters) and
/// the body.
pub fn layout(title: &str, current: &str, query: &format::Query, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tracehouse" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                header {
                    a.brand href="/" { "tracehouse" }
                    nav {
                        @for (name, path) in VIEWS {
                            a.current[path == current] href=(query.range_link(path, &[])) { (name) }
                        }
                    }
                    div.ranges {
                        @for span in format::RANGES {
                            a.current[query.from() == span]
                                href=(query.link(current, &[("from", Some(span)), ("to", None)])) { (span) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// What every page starts from: the reader's access (a missing token sends the browser to the
/// login page) and the view's query, parsed by the view's parameters.
fn open(
    access: Result<crate::api::access::Access, ApiError>,
    raw: Option<&str>,
    specs: &[crate::api::params::ParamSpec],
) -> Result<(crate::api::access::Access, format::Query), PageError> {
    Ok((access?, format::Query::parse(raw, specs)?))
}

/// A failed page: shown as a page, or the login page when a token is needed.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError(error)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(error: crate::store::StoreError) -> Self {
        PageError(ApiError::Store(error))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

/// An error as a page: a read that needs a token sends the browser to the login page.
pub fn error_page(error: ApiError) -> Response {
    let kind = error.kind();
    if kind == ErrorKind::Unauthenticated {
        return Redirect::to("/login").into_response();
    }
    let status = crate::ingest::encoding::http_status(kind);
    let message = match &error {
        ApiError::Store(store) => store.public_message(),
        other => other.to_string(),
    };
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "tracehouse" } link rel="stylesheet" href="/ui/style.css"; }
            body { main { h1 { "Cannot show this view" } p.error { (message) } p { a href="/" { "Back to Performance" } } } }
        }
    };
    (status, body).into_response()
}
