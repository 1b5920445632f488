//! Applying the numbered migrations at start-up, and deriving from the rows stored before a
//! migration what it adds (rollups, 429 attempts); on a cluster, the cluster's shards first.

use super::cluster;
use super::schema::{self, Features, MIGRATIONS, RenderContext};
use super::{ClickHouseStore, ch_error};
use crate::store::StoreError;

impl ClickHouseStore {
    /// Creates the database and applies every migration not yet recorded. Safe to run from
    /// several instances at once: every statement is idempotent.
    pub(super) async fn migrate(&self, features: Features) -> Result<(), StoreError> {
        let db = &self.database;
        let [create_database, create_migrations] = schema::bootstrap(db);
        match self.topology() {
            Some(topology) => {
                self.execute_ddl(&cluster::create_database(db, topology))
                    .await?;
                for step in cluster::steps(&create_migrations, db, topology)? {
                    self.run_step(step).await?;
                }
            }
            None => {
                self.execute(&create_database).await?;
                self.execute(&create_migrations).await?;
            }
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
            let steps = match self.topology() {
                Some(topology) => schema::render(template, &ctx)
                    .iter()
                    .map(|statement| cluster::steps(statement, db, topology))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
                None => schema::render(template, &ctx)
                    .into_iter()
                    .map(cluster::Step::Run)
                    .collect(),
            };
            for step in steps {
                match self.run_step(step).await {
                    Ok(()) => {}
                    // `ADD COLUMN IF NOT EXISTS` is newer than 18.16: a column another
                    // instance added in the meantime (one ALTER adds all its columns) is the
                    // migration applied.
                    Err(e)
                        if e.to_string()
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

    /// The cluster's shards and replicas as the server's `system.clusters` has them.
    pub(super) async fn describe_cluster(
        &self,
        name: &str,
    ) -> Result<cluster::Topology, StoreError> {
        let hosts: Vec<cluster::ClusterHost> = self
            .client
            .query(
                "SELECT toUInt32(shard_num), toUInt32(shard_weight), toUInt32(replica_num), \
                 host_name, toUInt16(port) FROM system.clusters WHERE cluster = ?",
            )
            .bind(name)
            .fetch_all()
            .await
            .map_err(ch_error)?;
        cluster::Topology::of(name, &hosts)
    }

    /// Runs one step of a migration.
    async fn run_step(&self, step: cluster::Step) -> Result<(), StoreError> {
        match (step, self.topology()) {
            (cluster::Step::Run(statement), _) => self.execute_ddl(&statement).await,
            (cluster::Step::Distribute { .. }, None) => Ok(()),
            (cluster::Step::Distribute { table, replace }, Some(topology)) => {
                let columns: Vec<cluster::LocalColumn> = self
                    .client
                    .query(
                        "SELECT name, type, default_kind, default_expression FROM system.columns \
                         WHERE database = ? AND table = ?",
                    )
                    .bind(self.database.as_str())
                    .bind(format!("{table}{}", cluster::LOCAL_SUFFIX))
                    .fetch_all()
                    .await
                    .map_err(ch_error)?;
                if columns.is_empty() {
                    return Err(StoreError::Schema(format!(
                        "the local table of {table} is not on this node yet"
                    )));
                }
                for statement in
                    cluster::distributed_table(&self.database, &table, &columns, replace, topology)?
                {
                    self.execute_ddl(&statement).await?;
                }
                Ok(())
            }
        }
    }

    /// Runs a DDL statement; on a cluster, one that the hosts that are down will run from the
    /// DDL queue when they return counts as applied.
    pub(super) async fn execute_ddl(&self, statement: &str) -> Result<(), StoreError> {
        if self.topology().is_none() {
            return self.execute(statement).await;
        }
        let result = self
            .client
            .query(statement)
            .with_setting("wait_end_of_query", "1")
            .with_setting(
                "distributed_ddl_task_timeout",
                cluster::DDL_TIMEOUT_S.to_string(),
            )
            .execute()
            .await
            .map_err(ch_error);
        match result {
            Err(error) if cluster::is_queued_for_absent_hosts(&error) => {
                tracing::warn!(%error, "some clickhouse hosts will apply this schema change when they return");
                Ok(())
            }
            other => other,
        }
    }
}
