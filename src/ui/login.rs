//! `/login`: where the browser gives its API token when reads need one. The token is checked
//! like any bearer token and kept in an HTTP-only, SameSite=Strict cookie for a day.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, header};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::api::ApiState;
use crate::api::access::TOKEN_COOKIE;

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

fn form_page(message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Sign in · tracehouse" } link rel="stylesheet" href="/ui/style.css"; }
            body { main.login {
                h1 { "tracehouse" }
                @if let Some(message) = message { p.error { (message) } }
                form method="post" action="/login" {
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" required;
                    button type="submit" { "Sign in" }
                }
                p.note { "Issue one with " code { "tracehouse tokens create --app <app>" } "." }
            }}
        }
    }
}

pub async fn form() -> Markup {
    form_page(None)
}

pub async fn submit(State(state): State<ApiState>, Form(login): Form<Login>) -> Response {
    let token = login.token.trim();
    match state.access.check_token(Some(token)).await {
        Ok(_) => {
            // Over TLS the browser must never send it back in the clear.
            let secure = if state.secure_cookies { "; Secure" } else { "" };
            let cookie = format!(
                "{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=86400{secure}"
            );
            let mut response = Redirect::to("/performance").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => (
            http::StatusCode::UNAUTHORIZED,
            form_page(Some(&error.to_string())),
        )
            .into_response(),
    }
}
