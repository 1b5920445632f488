use super::*;
use crate::model::{Batch, Item, Request};
use crate::store::clickhouse::encoded::{Sharding, decode, encode};
use crate::store::clickhouse::schema::{self, Features, MIGRATIONS, RenderContext, Version};

/// `system.clusters` rows from `(shard_num, shard_weight, replica_num)`, host `h{shard}{replica}`.
fn hosts(rows: &[(u32, u32, u32)]) -> Vec<ClusterHost> {
    rows.iter()
        .map(|&(shard_num, shard_weight, replica_num)| ClusterHost {
            shard_num,
            shard_weight,
            replica_num,
            host_name: format!("h{shard_num}{replica_num}"),
            port: 9000,
        })
        .collect()
}

fn two_by_two() -> Topology {
    Topology::of(
        "tracehouse",
        &hosts(&[(1, 1, 1), (1, 1, 2), (2, 1, 1), (2, 1, 2)]),
    )
    .expect("topology")
}

#[test]
fn topology_maps_weight_slots_to_shards_in_shard_order() {
    let weighted = Topology::of("c", &hosts(&[(2, 1, 1), (1, 2, 1)])).expect("topology");
    assert_eq!(weighted.shards(), 2);
    assert!(!weighted.replicated);
    // Slots 0 and 1 are shard 1's (weight 2), slot 2 shard 2's.
    assert_eq!(
        (0..6).map(|h| weighted.shard_of(h)).collect::<Vec<_>>(),
        [0, 0, 1, 0, 0, 1]
    );
    assert_eq!(
        weighted.on_shard("operations", 0).expect("predicate"),
        "sipHash64(operation_Id) % 3 IN (0, 1)"
    );
    assert_eq!(weighted.replicas_of(0), "h11:9000");
    let two_by_two = two_by_two();
    assert!(two_by_two.replicated);
    // Replicas in replica_num order, whatever order system.clusters lists them in.
    let shuffled = hosts(&[(2, 1, 2), (1, 1, 1), (2, 1, 1), (1, 1, 2)]);
    assert_eq!(
        Topology::of("tracehouse", &shuffled).expect("topology"),
        two_by_two
    );
    assert_eq!(two_by_two.replicas_of(1), "h21:9000|h22:9000");
    let mut v6 = hosts(&[(1, 1, 1)]);
    v6[0].host_name = "::1".into();
    assert_eq!(
        Topology::of("c", &v6).expect("topology").replicas_of(0),
        "[::1]:9000"
    );
    assert!(Topology::of("absent", &[]).is_err());
    assert!(Topology::of("unweighted", &hosts(&[(1, 0, 1)])).is_err());
}

#[test]
fn row_hash_is_clickhouse_sip_hash64() {
    // `SELECT sipHash64(''), sipHash64('abc'), sipHash64('0123456789abcdef0123')` on 18.16.
    assert_eq!(row_hash(""), 2202906307356721367);
    assert_eq!(row_hash("abc"), 4596069200710135518);
    assert_eq!(row_hash("0123456789abcdef0123"), 12235290827116729568);
}

fn ctx(major: u32, minor: u32) -> RenderContext<'static> {
    RenderContext {
        database: "db",
        features: Features::of(Version { major, minor }),
        retention_days: 30,
    }
}

fn run(step: &Step) -> &str {
    match step {
        Step::Run(statement) => statement,
        other => panic!("not a statement: {other:?}"),
    }
}

#[test]
fn every_table_of_every_migration_has_a_sharding_key_and_a_distributed_table() {
    let topology = two_by_two();
    let mut created = 0;
    for (_, _, template) in MIGRATIONS {
        for statement in schema::render(template, &ctx(25, 8)) {
            let steps = steps(&statement, "db", &topology).expect(&statement);
            if statement.starts_with("CREATE TABLE") {
                created += 1;
                assert!(
                    matches!(&steps[1], Step::Distribute { replace: false, .. }),
                    "{statement}"
                );
            }
        }
    }
    assert!(created >= 16, "{created}");
}

#[test]
fn a_table_becomes_a_replicated_local_table_and_a_distributed_one() {
    let requests = &schema::render(MIGRATIONS[0].2, &ctx(25, 8))[0];
    let steps = steps(requests, "db", &two_by_two()).expect("steps");
    let local = run(&steps[0]);
    assert!(
        local.starts_with(
            "CREATE TABLE IF NOT EXISTS `db`.`requests_local` ON CLUSTER `tracehouse` (\n"
        ),
        "{local}"
    );
    assert!(local.contains(
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/requests', '{replica}')\nPARTITION BY"
    ));
    assert!(local.contains("CODEC(Delta, ZSTD(1))") && local.contains("INDEX idx_name"));
    assert_eq!(
        steps[1],
        Step::Distribute {
            table: "requests".into(),
            replace: false
        }
    );
    let column = |name: &str, type_name: &str, kind: &str, expression: &str| LocalColumn {
        name: name.into(),
        type_name: type_name.into(),
        default_kind: kind.into(),
        default_expression: expression.into(),
    };
    let columns = [
        column("timestamp_ns", "Int64", "", ""),
        column(
            "timestamp",
            "DateTime('UTC')",
            "MATERIALIZED",
            "toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC')",
        ),
        column("operation_Id", "String", "", ""),
    ];
    let statements =
        distributed_table("db", "requests", &columns, true, &two_by_two()).expect("statements");
    assert_eq!(
        statements,
        [
            "DROP TABLE IF EXISTS `db`.`requests` ON CLUSTER `tracehouse`",
            "CREATE TABLE IF NOT EXISTS `db`.`requests` ON CLUSTER `tracehouse` (`timestamp_ns` Int64, \
             `timestamp` DateTime('UTC') ALIAS toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'), \
             `operation_Id` String) ENGINE = Distributed(`tracehouse`, `db`, `requests_local`, \
             sipHash64(if(operation_Id = '', itemId, operation_Id)))"
        ]
    );
}

#[test]
fn versioned_tables_keep_their_version_column_and_unreplicated_clusters_plain_engines() {
    let keys = &schema::render(MIGRATIONS[2].2, &ctx(18, 16))[0];
    let steps_2x2 = steps(keys, "db", &two_by_two()).expect("steps");
    assert!(run(&steps_2x2[0]).contains(
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/instrumentation_keys', '{replica}', version)\nORDER BY"
    ));
    let single_replicas = Topology::of("c", &hosts(&[(1, 1, 1), (2, 1, 1)])).expect("topology");
    let steps_2x1 = steps(keys, "db", &single_replicas).expect("steps");
    assert!(run(&steps_2x1[0]).contains("ENGINE = ReplacingMergeTree(version)\nORDER BY"));
    let migrations = schema::bootstrap("db")[1].clone();
    let bootstrap = steps(&migrations, "db", &two_by_two()).expect("steps");
    assert!(run(&bootstrap[0]).ends_with(
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/schema_migrations', '{replica}') \
         ORDER BY version SETTINGS replicated_deduplication_window = 1000"
    ));
    assert!(
        run(&steps_2x2[0])
            .ends_with("SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000")
    );
    assert!(!run(&steps_2x1[0]).contains("replicated_deduplication_window"));
}

#[test]
fn alters_change_the_local_table_and_recreate_the_distributed_one() {
    let alter = &schema::render(MIGRATIONS[5].2, &ctx(18, 16))[0];
    let steps_of_alter = steps(alter, "db", &two_by_two()).expect("steps");
    let local = run(&steps_of_alter[0]);
    assert!(local.starts_with("ALTER TABLE `db`.`dependencies_local` ON CLUSTER `tracehouse`\n"));
    assert!(local.contains("ADD COLUMN `genai_reasoningTokens` UInt64"));
    assert_eq!(
        steps_of_alter[1],
        Step::Distribute {
            table: "dependencies".into(),
            replace: true
        }
    );
    let insert = "INSERT INTO `db`.`span_rollups` SELECT 1";
    assert_eq!(
        steps(insert, "db", &two_by_two()).expect("steps"),
        [Step::Run(insert.into())]
    );
}

#[test]
fn items_without_an_operation_shard_by_their_own_id() {
    assert_eq!(item_key("op", "item"), "op");
    assert_eq!(item_key("", "item"), "item");
}

fn request(operation_id: &str, item_id: &str, at_ns: i64) -> Item<Request> {
    let mut item = Item::<Request>::default();
    item.common.operation_id = operation_id.into();
    item.common.item_id = item_id.into();
    item.common.timestamp_ns = at_ns;
    item
}

#[test]
fn chunks_split_into_each_shards_rows_by_their_index() {
    let operations: Vec<String> = (0..40).map(|n| format!("op{n}")).collect();
    let batch = Batch {
        requests: operations
            .iter()
            .map(|op| request(op, "item", 5))
            .chain([request("", "item-a", 6), request("", "item-b", 7)])
            .collect(),
        ..Batch::default()
    };
    let sharded =
        decode(encode(&batch, 9, Sharding::ByRow).expect("encodes").into()).expect("decodes");
    let unsharded =
        decode(encode(&batch, 9, Sharding::None).expect("encodes").into()).expect("decodes");
    let topology = two_by_two();
    for (chunk, whole) in sharded.chunks.iter().zip(&unsharded.chunks) {
        assert_eq!(
            chunk.data, whole.data,
            "{}: the rows are the same bytes",
            chunk.table
        );
        assert_eq!(chunk.index.len() as u64, chunk.rows);
        assert!(whole.index.is_empty());
        let parts = split(chunk, &topology);
        // Requests and operations spread by operation; the rollups (all one name) do not.
        let shards: Vec<usize> = parts.iter().map(|(s, _)| *s).collect();
        let expected: &[usize] = if chunk.table == "span_rollups" {
            &[1]
        } else {
            &[0, 1]
        };
        assert_eq!(shards, expected, "{}", chunk.table);
        assert_eq!(parts.iter().map(|(_, p)| p.rows).sum::<u64>(), chunk.rows);
        assert_eq!(
            parts.iter().map(|(_, p)| p.data.len()).sum::<usize>(),
            chunk.data.len()
        );
        // Without an index a chunk stays whole.
        assert_eq!(split(whole, &topology), [(0, whole.clone())]);
    }
    // The operation rows go where the operation's requests go.
    let requests = &sharded.chunks[0];
    let operations_chunk = sharded
        .chunks
        .iter()
        .find(|c| c.table == "operations")
        .expect("operations");
    let shard_of_op = |chunk: &Chunk, at: usize| topology.shard_of(chunk.index[at].hash);
    assert_eq!(shard_of_op(requests, 3), shard_of_op(operations_chunk, 3));
    assert_eq!(requests.index[40].hash, row_hash("item-a"));
    assert_eq!(requests.index[0].hash, row_hash("op0"));
}

#[test]
fn corrupt_row_indexes_are_refused() {
    let batch = Batch {
        requests: vec![request("a", "i", 5), request("b", "j", 5)],
        ..Batch::default()
    };
    let payload = encode(&batch, 1, Sharding::ByRow).expect("encodes");
    let good = decode(payload.clone().into()).expect("decodes");
    // The second row's offset (the chunk's index ends the requests' chunk) made 0: not
    // ascending.
    let chunk = &good.chunks[0];
    let at = payload
        .windows(8)
        .position(|w| w == chunk.index[1].hash.to_le_bytes())
        .expect("the second row's hash is in the payload")
        - 4;
    let mut bad = payload.clone();
    bad[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(decode(bad.into()).is_err());
}

#[test]
fn an_operation_is_read_from_its_shard_and_an_empty_one_from_every_shard() {
    let topology = two_by_two();
    let login = Login {
        user: "reader".into(),
        password: r"it's a \ secret".into(),
    };
    let operation = "0123456789abcdef0123";
    let shard = topology.shard_of(row_hash(operation));
    assert_eq!(
        operation_source(Some(&topology), "db", "requests", operation, &login),
        format!(
            r"remote('{}', `db`, `requests_local`, 'reader', 'it\'s a \\ secret')",
            topology.replicas_of(shard)
        )
    );
    for (topology, operation) in [(Some(&topology), ""), (None, operation)] {
        assert_eq!(
            operation_source(topology, "db", "requests", operation, &login),
            "`db`.`requests`"
        );
    }
}
