//! A batch's rollup rows in ClickHouse's wire form: one RowBinary chunk of `span_rollups` per
//! day, spooled and inserted with the batch's other chunks.

use super::encoded::{Chunk, DayChunks, Sharding};
use super::rowbinary::{write_string, write_varint};
use crate::model::Batch;
use crate::reads::binned::Partial;
use crate::store::rollup::{self, RollupKey};

/// Column order of the `span_rollups` insert.
pub const COLUMNS: [&str; 29] = [
    "timestamp_ns",
    "source",
    "appName",
    "cloud_RoleName",
    "name",
    "operation_Name",
    "resultCode",
    "type",
    "target",
    "genai_provider",
    "genai_operation",
    "genai_requestModel",
    "genai_responseModel",
    "success",
    "items",
    "failed",
    "duration_sum_ms",
    "duration_min_ms",
    "duration_max_ms",
    "input_tokens",
    "output_tokens",
    "throttled",
    "throttled_ms",
    "latest_ns",
    "latest_operation_Id",
    "hist_buckets",
    "hist_items",
    "hist_sums",
    "_batch_id",
];

fn put_row(key: &RollupKey<'_>, partial: &Partial, batch_id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&key.minute_ns.to_le_bytes());
    write_string(key.source.table(), out);
    for text in &key.text {
        write_string(text, out);
    }
    out.push(u8::from(key.success));
    for count in [partial.count, partial.failed] {
        out.extend_from_slice(&count.to_le_bytes());
    }
    for value in [
        partial.duration_sum_ms,
        partial.duration_min_ms.unwrap_or(0.0),
        partial.duration_max_ms.unwrap_or(0.0),
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for count in [
        partial.input_tokens,
        partial.output_tokens,
        partial.throttled,
    ] {
        out.extend_from_slice(&count.to_le_bytes());
    }
    out.extend_from_slice(&partial.throttled_ms.to_le_bytes());
    let (latest_ns, latest_operation) = partial.latest.clone().unwrap_or_default();
    out.extend_from_slice(&latest_ns.to_le_bytes());
    write_string(&latest_operation, out);
    let (buckets, items, sums) = partial.bucket_arrays();
    write_varint(buckets.len() as u64, out);
    for bucket in buckets {
        out.extend_from_slice(&bucket.to_le_bytes());
    }
    write_varint(items.len() as u64, out);
    for count in items {
        out.extend_from_slice(&count.to_le_bytes());
    }
    write_varint(sums.len() as u64, out);
    for sum in sums {
        out.extend_from_slice(&sum.to_le_bytes());
    }
    out.extend_from_slice(&batch_id.to_le_bytes());
}

/// The batch's rollup rows, one chunk per day.
pub fn chunks(batch: &Batch, batch_id: u64, sharding: Sharding) -> Vec<Chunk> {
    let mut chunks = DayChunks::new(rollup::TABLE, 4096, sharding);
    for (key, partial) in rollup::rollups_of(batch) {
        // Sharded by name (`cluster::sharding_key`).
        let name = key.text[rollup::NAME_DIMENSION];
        put_row(&key, &partial, batch_id, chunks.row(key.minute_ns, name));
    }
    chunks.finish()
}
