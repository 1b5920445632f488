//! The `serve` flags of alerting: the rules file, the address links point at, and the SMTP
//! server of email receivers.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::AlertsConfig;
use super::notify::{SmtpConfig, SmtpSecurity};

/// Alert rules and where notifications go.
#[derive(Debug, Clone, Args)]
pub struct AlertArgs {
    /// YAML file of alert rules and action groups (see deploy/alerts/recommended.yaml);
    /// re-read when it changes or on SIGHUP.
    #[arg(long, env = "TRACEHOUSE_ALERT_RULES")]
    pub alert_rules: Option<PathBuf>,
    /// The address people open tracehouse at, for links in notifications (default: the
    /// query API's listen address).
    #[arg(long, env = "TRACEHOUSE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SMTP server for email receivers.
    #[arg(long, env = "TRACEHOUSE_SMTP_HOST")]
    pub smtp_host: Option<String>,
    #[arg(long, env = "TRACEHOUSE_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,
    #[arg(
        long,
        env = "TRACEHOUSE_SMTP_SECURITY",
        value_enum,
        default_value = "starttls"
    )]
    pub smtp_security: SmtpSecurity,
    /// The sender of alert emails, e.g. `tracehouse <alerts@example.com>`.
    #[arg(long, env = "TRACEHOUSE_SMTP_FROM")]
    pub smtp_from: Option<String>,
    #[arg(long, env = "TRACEHOUSE_SMTP_USER")]
    pub smtp_user: Option<String>,
    #[arg(long, env = "TRACEHOUSE_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
}

impl AlertArgs {
    pub fn config(&self, api_listen: SocketAddr) -> Result<Option<AlertsConfig>, String> {
        let Some(rules_file) = &self.alert_rules else {
            return Ok(None);
        };
        let public_url = self.public_url.clone().unwrap_or_else(|| {
            let host = match api_listen.ip() {
                ip if ip.is_unspecified() => "localhost".to_owned(),
                ip => ip.to_string(),
            };
            format!("http://{host}:{}", api_listen.port())
        });
        let mut config = AlertsConfig::new(rules_file.clone(), public_url);
        config.smtp = match (&self.smtp_host, &self.smtp_from) {
            (Some(host), Some(from)) => Some(SmtpConfig {
                host: host.clone(),
                port: self.smtp_port,
                security: self.smtp_security,
                from: from.clone(),
                user: self.smtp_user.clone(),
                password: self.smtp_password.clone(),
            }),
            (None, None) => None,
            _ => return Err("--smtp-host and --smtp-from go together".into()),
        };
        Ok(Some(config))
    }
}
