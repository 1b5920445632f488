//! Applying the numbered migrations at start-up, and deriving from the rows stored before a
//! migration what it adds (rollups, 429 attempts).

use super::schema::{self, Features, MIGRATIONS, RenderContext};
use super::{ClickHouseStore, ch_error};
use crate::store::StoreError;

impl ClickHouseStore {
    /// Creates the database and applies every migration not yet recorded. Safe to run from
    /// several instances at once: every statement is idempotent.
    pub(super) async fn migrate(&self, features: Features) -> Result<(), StoreError> {
        let db = &self.database;
        for statement in schema::bootstrap(db) {
            self.execute(&statement).await?;
        }
        let applied: Vec<u32> = self
            .client
            .query(&format!(
                "SELECT DISTINCT version FROM `{db}`.`schema_migrations`"
            ))
            .fetch_all()
            .await
            .map_err(ch_error)?;
        let ctx = RenderContext {
            database: db,
            features,
            retention_days: self.retention_days,
        };
        for (version, name, template) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            for statement in schema::render(template, &ctx) {
                match self.execute(&statement).await {
                    Ok(()) => {}
                    // `ADD COLUMN IF NOT EXISTS` is newer than 18.16: a column another
                    // instance added in the meantime (one ALTER adds all its columns) is the
                    // migration applied.
                    Err(e)
                        if statement.trim_start().starts_with("ALTER TABLE")
                            && e.to_string()
                                .contains("column with this name already exists") => {}
                    Err(e) => {
                        return Err(StoreError::Schema(format!(
                            "migration {version} ({name}): {e}"
                        )));
                    }
                }
            }
            for (_, statement) in schema::derived_rows(name, db) {
                self.execute(&statement).await.map_err(|e| {
                    StoreError::Schema(format!("migration {version} ({name}): {e}"))
                })?;
            }
            self.client
                .query(&format!(
                    "INSERT INTO `{db}`.`schema_migrations` (version, name, applied_at) VALUES (?, ?, now())"
                ))
                .bind(*version)
                .bind(*name)
                .execute()
                .await
                .map_err(ch_error)?;
            tracing::info!(version, name, "applied clickhouse migration");
        }
        Ok(())
    }
}
