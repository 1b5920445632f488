//! `tracehouse tokens`: issue, list and revoke query API tokens.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::{Grant, ID_DIGITS, hash, is_well_formed, issue};
use crate::reads::records::TokenRole;
use crate::store::Store;

#[derive(Debug, Clone, Subcommand)]
pub enum TokensCommand {
    /// Issue a token and print it (only this once: the store keeps its hash).
    Create {
        /// The apps it reads, comma-separated (as named by `keys create --app`).
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "all_apps",
            conflicts_with = "all_apps"
        )]
        app: Vec<String>,
        /// Read every app, and the server's own `/metrics`.
        #[arg(long)]
        all_apps: bool,
        /// `reader` reads telemetry; `admin` may also change server state where the API offers it.
        #[arg(long, default_value = "reader", value_parser = ["reader", "admin"])]
        role: String,
        /// What the token is for, shown by `tokens list`.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List issued tokens (their ids, never the tokens).
    List,
    /// Revoke a token by its id (from `tokens list`) or the token itself.
    Revoke { token: String },
}

pub async fn run(command: TokensCommand, store: Arc<dyn Store>) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create {
            app,
            all_apps,
            role,
            name,
        } => {
            let role = TokenRole::parse(&role).context("--role must be reader or admin")?;
            create(grant(app, all_apps, role, name)?, &*store).await
        }
        TokensCommand::List => list(&*store).await,
        TokensCommand::Revoke { token } => revoke(&token, &*store).await,
    }
}

fn grant(
    apps: Vec<String>,
    all_apps: bool,
    role: TokenRole,
    name: String,
) -> anyhow::Result<Grant> {
    let mut names: Vec<String> = Vec::new();
    for app in apps {
        let app = app.trim();
        if app.is_empty() || app.len() > 256 {
            bail!("--app takes names of 1 to 256 characters");
        }
        if !names.iter().any(|n| n == app) {
            names.push(app.to_owned());
        }
    }
    if names.is_empty() && !all_apps {
        bail!("name the apps the token reads with --app, or give --all-apps");
    }
    if name.len() > 256 {
        bail!("--name is longer than 256 characters");
    }
    Ok(Grant {
        name,
        apps: names,
        all_apps,
        role,
    })
}

async fn create(grant: Grant, store: &dyn Store) -> anyhow::Result<()> {
    let (token, record) = issue(grant, crate::clock::now_ns())
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    store.save_token(&record).await?;
    println!(
        "token {} ({}): {token}",
        record.id,
        scope_text(&record.apps, record.all_apps)
    );
    println!();
    println!("Send it as `Authorization: Bearer {token}`; it is not shown again.");
    Ok(())
}

fn scope_text(apps: &[String], all_apps: bool) -> String {
    if all_apps {
        "all apps".to_owned()
    } else {
        format!("apps {}", apps.join(","))
    }
}

async fn list(store: &dyn Store) -> anyhow::Result<()> {
    for token in store.tokens().await? {
        let state = match token.revoked_ns {
            Some(at) => format!("revoked {}", crate::time::format_instant(at)),
            None => "active".to_owned(),
        };
        println!(
            "{}  {:<6}  {:<32}  created {}  {state}  {}",
            token.id,
            token.role.as_str(),
            scope_text(&token.apps, token.all_apps),
            crate::time::format_instant(token.created_ns),
            token.name,
        );
    }
    Ok(())
}

async fn revoke(given: &str, store: &dyn Store) -> anyhow::Result<()> {
    let given = given.trim();
    let id = if is_well_formed(given) {
        hash(given)[..ID_DIGITS].to_owned()
    } else {
        given.to_ascii_lowercase()
    };
    let mut record = store
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .with_context(|| format!("no token {id:?} was issued"))?;
    if record.revoked_ns.is_some() {
        bail!("token {id:?} is already revoked");
    }
    record.revoked_ns = Some(crate::clock::now_ns());
    store.save_token(&record).await?;
    println!("revoked token {id}");
    Ok(())
}
