//! Where notifications go: the receivers of an action group, as the rules file names them.

use serde::{Deserialize, Serialize};

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Receiver {
    /// POSTs the Azure Monitor common alert schema.
    Webhook { name: String, url: String },
    /// A Slack incoming webhook.
    Slack { name: String, url: String },
    /// Mail over the SMTP server of the `--smtp-*` flags.
    Email { name: String, to: Vec<String> },
    /// A Prometheus Alertmanager (its base URL; alerts go to `/api/v2/alerts`).
    Alertmanager { name: String, url: String },
}

impl Receiver {
    pub fn name(&self) -> &str {
        match self {
            Receiver::Webhook { name, .. }
            | Receiver::Slack { name, .. }
            | Receiver::Email { name, .. }
            | Receiver::Alertmanager { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Receiver::Webhook { .. } => "webhook",
            Receiver::Slack { .. } => "slack",
            Receiver::Email { .. } => "email",
            Receiver::Alertmanager { .. } => "alertmanager",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionGroup {
    pub name: String,
    pub receivers: Vec<Receiver>,
}

/// Whether a receiver can be sent to: an http(s) URL, or email addresses.
pub fn check_receiver(receiver: &Receiver) -> Result<(), String> {
    match receiver {
        Receiver::Webhook { name, url }
        | Receiver::Slack { name, url }
        | Receiver::Alertmanager { name, url } => {
            // The URL is not repeated: a Slack webhook's path is its credential.
            let uri: http::Uri = url
                .parse()
                .map_err(|_| format!("receiver {name:?}: the url is not a URL"))?;
            match uri.scheme_str() {
                Some("http" | "https") if uri.host().is_some() => Ok(()),
                _ => Err(format!(
                    "receiver {name:?}: the url must be an http:// or https:// URL"
                )),
            }
        }
        Receiver::Email { name, to } => {
            if to.is_empty() {
                return Err(format!("receiver {name:?}: `to` names no address"));
            }
            match to
                .iter()
                .find(|a| a.parse::<lettre::message::Mailbox>().is_err())
            {
                Some(bad) => Err(format!(
                    "receiver {name:?}: {bad:?} is not an email address"
                )),
                None => Ok(()),
            }
        }
    }
}
