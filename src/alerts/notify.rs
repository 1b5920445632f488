//! Sending notifications: HTTP POSTs (webhooks, Slack, Alertmanager) and SMTP mail, each
//! attempt under a timeout and retried with backoff. The evaluator spawns one delivery per
//! receiver, so a receiver that is down or slow delays neither the others nor the next
//! evaluation.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use super::payload::{self, Notification, Reason};
use super::rules::Receiver;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// Upgrade with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Timeouts and retries of every send.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub timeout: Duration,
    pub attempts: u32,
    /// The wait before the second attempt; doubled before each later one.
    pub backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("cannot reach {url}: {message}")]
    Http { url: String, message: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("email: {0}")]
    Email(String),
    #[error("email receivers need the SMTP server of --smtp-host")]
    NoSmtp,
}

/// The outcome of one delivery, as the history records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub attempts: u32,
    pub error: Option<String>,
}

/// Delivers one notification to one receiver; tests record instead.
#[async_trait::async_trait]
pub trait Deliver: Send + Sync {
    async fn deliver(&self, receiver: &Receiver, n: &Notification) -> Delivery;
}

#[async_trait::async_trait]
impl Deliver for Sender {
    async fn deliver(&self, receiver: &Receiver, n: &Notification) -> Delivery {
        self.deliver_with_retries(receiver, n).await
    }
}

pub struct Sender {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    policy: DeliveryPolicy,
}

impl Sender {
    pub fn new(smtp: Option<&SmtpConfig>, policy: DeliveryPolicy) -> Result<Self, String> {
        let provider = rustls::crypto::ring::default_provider();
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        // Without a CA bundle, https receivers fail their sends (and say why); http ones work.
        let builder = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::warn!(%error, "no CA certificates found: https alert receivers will fail");
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder_with_provider(provider.into())
                        .with_safe_default_protocol_versions()
                        .map_err(|e| e.to_string())?
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let http = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        let smtp = smtp.map(smtp_transport).transpose()?;
        Ok(Sender { http, smtp, policy })
    }

    /// Sends to `receiver`, retrying failed attempts with backoff.
    pub async fn deliver_with_retries(&self, receiver: &Receiver, n: &Notification) -> Delivery {
        let mut wait = self.policy.backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome =
                match tokio::time::timeout(self.policy.timeout, self.send(receiver, n)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(SendError::Timeout(self.policy.timeout)),
                };
            match outcome {
                Ok(()) => {
                    return Delivery {
                        attempts,
                        error: None,
                    };
                }
                Err(error) if attempts >= self.policy.attempts.max(1) => {
                    return Delivery {
                        attempts,
                        error: Some(error.to_string()),
                    };
                }
                Err(error) => {
                    tracing::debug!(receiver = receiver.name(), %error, attempts, "alert send failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
            }
        }
    }

    /// Whether `receiver` hears of this notification at all: only Alertmanager is told
    /// again while an alert keeps firing.
    pub fn wants(receiver: &Receiver, reason: Reason) -> bool {
        reason != Reason::StillFiring || matches!(receiver, Receiver::Alertmanager { .. })
    }

    async fn send(&self, receiver: &Receiver, n: &Notification) -> Result<(), SendError> {
        match receiver {
            Receiver::Webhook { url, .. } => self.post(url, &payload::common_alert_schema(n)).await,
            Receiver::Slack { url, .. } => self.post(url, &payload::slack_message(n)).await,
            Receiver::Alertmanager { url, .. } => {
                let ends_ns = match n.reason {
                    Reason::Resolved => n.state.resolved_ns.unwrap_or(n.state.evaluated_ns),
                    // Expires after three missed evaluations, if tracehouse stops renewing it.
                    Reason::Fired | Reason::StillFiring => {
                        let ahead = i64::try_from(n.rule.frequency.as_nanos())
                            .unwrap_or(i64::MAX)
                            .saturating_mul(3)
                            .max(5 * 60 * 1_000_000_000);
                        n.state.evaluated_ns.saturating_add(ahead)
                    }
                };
                let base = url.trim_end_matches('/');
                self.post(
                    &format!("{base}/api/v2/alerts"),
                    &payload::alertmanager_alerts(n, ends_ns),
                )
                .await
            }
            Receiver::Email { to, .. } => self.mail(to, n).await,
        }
    }

    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), SendError> {
        let failed = |message: String| SendError::Http {
            url: redacted(url),
            message,
        };
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("tracehouse/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| failed(e.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| failed(error_chain(&e)))?;
        let status = response.status();
        // Read the answer so the connection can be reused; its content does not matter.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError::Status {
                url: redacted(url),
                status: status.as_u16(),
            })
        }
    }

    async fn mail(&self, to: &[String], n: &Notification) -> Result<(), SendError> {
        let (transport, from) = self.smtp.as_ref().ok_or(SendError::NoSmtp)?;
        let (subject, body) = payload::email(n);
        let mut message = Message::builder().from(from.clone()).subject(subject);
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|e| SendError::Email(format!("{address:?}: {e}")))?;
            message = message.to(mailbox);
        }
        let message = message
            .body(body)
            .map_err(|e| SendError::Email(e.to_string()))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError::Email(error_chain(&e)))
    }
}

fn smtp_transport(
    config: &SmtpConfig,
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String> {
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| format!("--smtp-from {:?}: {e}", config.from))?;
    let builder = match config.security {
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| format!("--smtp-host {:?}: {e}", config.host))?
        }
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
            .map_err(|e| format!("--smtp-host {:?}: {e}", config.host))?,
    };
    let mut builder = builder.port(config.port);
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok((builder.build(), from))
}

/// A receiver URL as errors show it: scheme, host and port only. Paths and queries carry the
/// secrets (a Slack webhook's path is its credential), and errors reach the history API.
pub fn redacted(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => {
                let host = authority.as_str().rsplit('@').next().unwrap_or_default();
                format!("{scheme}://{host}/…")
            }
            _ => "the receiver".into(),
        },
        Err(_) => "the receiver".into(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
