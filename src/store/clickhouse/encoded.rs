//! A batch in ClickHouse's wire form: one RowBinary chunk per table and day, plus the rows of
//! the `operations` lookup table. This is what the spool keeps and what is sent, unchanged, on
//! every attempt. Each chunk holds one day, so its INSERT creates one part and lands whole or
//! not at all — what makes "did this batch already land?" answerable after a crash.

use bytes::{Buf, BufMut, Bytes};

use super::cluster::{item_key, row_hash};
use super::rowbinary::{encode_row, write_string};
use crate::model::{Batch, Item, TableRow, TableVisitor};
use crate::store::StoreError;

const MAGIC: &[u8; 4] = b"THB1";
/// The same, with each chunk's row index (written for clusters).
const MAGIC_INDEXED: &[u8; 4] = b"THB2";
const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;
/// Table of the operation lookup rows.
pub const OPERATIONS_TABLE: &str = "operations";

/// Rows of one table and one day, RowBinary-encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub table: String,
    /// Days since the Unix epoch (UTC), the partition the rows fall in.
    pub day: i64,
    pub rows: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    pub data: Bytes,
    /// Where each row starts in `data` and its sharding hash ([`super::cluster::row_hash`]),
    /// written when the store runs on a cluster, so the rows can go to their shards; empty
    /// otherwise.
    pub index: Vec<RowStart>,
}

/// A row's offset in its chunk and its sharding hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowStart {
    pub offset: u32,
    pub hash: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBatch {
    pub batch_id: u64,
    pub chunks: Vec<Chunk>,
}

/// Whether chunks carry their rows' sharding hashes (for a cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharding {
    None,
    ByRow,
}

/// Encodes a batch for ClickHouse.
pub fn encode(batch: &Batch, batch_id: u64, sharding: Sharding) -> Result<Vec<u8>, StoreError> {
    let mut encoder = ChunkEncoder {
        batch_id,
        sharding,
        chunks: Vec::new(),
        operations: Vec::new(),
    };
    batch.visit(&mut encoder)?;
    let mut chunks = encoder.chunks;
    if !encoder.operations.is_empty() {
        chunks.push(operations_chunk(&encoder.operations, batch_id, sharding));
    }
    chunks.extend(super::rollup_rows::chunks(batch, batch_id, sharding));
    chunks.extend(super::throttled_rows::chunks(batch, batch_id, sharding));
    Ok(frame(batch_id, &chunks))
}

/// The spooled form of a batch's chunks.
pub fn frame(batch_id: u64, chunks: &[Chunk]) -> Vec<u8> {
    let indexed = chunks.iter().any(|chunk| !chunk.index.is_empty());
    let mut out = Vec::with_capacity(
        16 + chunks
            .iter()
            .map(|c| c.data.len() + 64 + c.index.len() * 12)
            .sum::<usize>(),
    );
    out.put_slice(if indexed { MAGIC_INDEXED } else { MAGIC });
    out.put_u64_le(batch_id);
    out.put_u32_le(chunks.len() as u32);
    for chunk in chunks {
        out.put_u8(chunk.table.len() as u8);
        out.put_slice(chunk.table.as_bytes());
        out.put_i64_le(chunk.day);
        out.put_u64_le(chunk.rows);
        out.put_i64_le(chunk.first_ns);
        out.put_i64_le(chunk.last_ns);
        out.put_u64_le(chunk.data.len() as u64);
        out.put_slice(&chunk.data);
        if indexed {
            out.put_u32_le(chunk.index.len() as u32);
            for row in &chunk.index {
                out.put_u32_le(row.offset);
                out.put_u64_le(row.hash);
            }
        }
    }
    out
}

/// Reads an encoded batch back; chunks share the payload's memory.
pub fn decode(payload: Bytes) -> Result<EncodedBatch, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("spooled batch: {what}"));
    let mut buf = payload.clone();
    if buf.remaining() < 16 || (&buf[..4] != MAGIC && &buf[..4] != MAGIC_INDEXED) {
        return Err(corrupt("bad header"));
    }
    let indexed = &buf[..4] == MAGIC_INDEXED;
    buf.advance(4);
    let batch_id = buf.get_u64_le();
    let count = buf.get_u32_le();
    let mut chunks = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        if buf.remaining() < 1 {
            return Err(corrupt("truncated chunk header"));
        }
        let table_len = usize::from(buf.get_u8());
        if buf.remaining() < table_len + 40 {
            return Err(corrupt("truncated chunk header"));
        }
        let table = String::from_utf8(buf.copy_to_bytes(table_len).to_vec())
            .map_err(|_| corrupt("table name"))?;
        let day = buf.get_i64_le();
        let rows = buf.get_u64_le();
        let first_ns = buf.get_i64_le();
        let last_ns = buf.get_i64_le();
        let len = usize::try_from(buf.get_u64_le()).map_err(|_| corrupt("chunk length"))?;
        if buf.remaining() < len {
            return Err(corrupt("truncated chunk"));
        }
        let data = buf.copy_to_bytes(len);
        let index = if indexed {
            read_index(&mut buf, rows, data.len()).ok_or_else(|| corrupt("row index"))?
        } else {
            Vec::new()
        };
        chunks.push(Chunk {
            table,
            day,
            rows,
            first_ns,
            last_ns,
            data,
            index,
        });
    }
    if buf.has_remaining() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(EncodedBatch { batch_id, chunks })
}

/// A chunk's row index: one entry per row, offsets ascending from 0 within the data (or none
/// at all, for a chunk of no rows).
fn read_index(buf: &mut Bytes, rows: u64, data_len: usize) -> Option<Vec<RowStart>> {
    if buf.remaining() < 4 {
        return None;
    }
    let count = buf.get_u32_le();
    if u64::from(count) != rows || buf.remaining() < count as usize * 12 {
        return None;
    }
    let mut index = Vec::with_capacity(count as usize);
    for at in 0..count {
        let row = RowStart {
            offset: buf.get_u32_le(),
            hash: buf.get_u64_le(),
        };
        let ascending = index
            .last()
            .is_none_or(|last: &RowStart| last.offset < row.offset);
        if (at == 0 && row.offset != 0) || !ascending || row.offset as usize >= data_len {
            return None;
        }
        index.push(row);
    }
    Some(index)
}

fn day_of(timestamp_ns: i64) -> i64 {
    timestamp_ns.div_euclid(NS_PER_DAY)
}

struct ChunkEncoder {
    batch_id: u64,
    sharding: Sharding,
    chunks: Vec<Chunk>,
    /// `(operation id, app, first, last)` of every operation in the batch.
    operations: Vec<(String, String, i64, i64)>,
}

impl ChunkEncoder {
    fn note_operation(&mut self, id: &str, app: &str, timestamp_ns: i64) {
        // Rows of one operation are adjacent in most batches; look back a little first.
        let found = self
            .operations
            .iter_mut()
            .rev()
            .take(8)
            .find(|(o, a, _, _)| o == id && a == app);
        match found {
            Some((_, _, first, last)) => {
                *first = (*first).min(timestamp_ns);
                *last = (*last).max(timestamp_ns);
            }
            None => {
                self.operations
                    .push((id.to_owned(), app.to_owned(), timestamp_ns, timestamp_ns))
            }
        }
    }
}

impl TableVisitor for ChunkEncoder {
    type Error = StoreError;
    fn visit<T: TableRow>(&mut self, rows: &[Item<T>]) -> Result<(), StoreError> {
        let mut chunks = DayChunks::new(T::TABLE, rows.len() * 1024, self.sharding);
        for row in rows {
            let ts = row.common.timestamp_ns;
            let key = item_key(&row.common.operation_id, &row.common.item_id);
            encode_row(row, self.batch_id, chunks.row(ts, key))
                .map_err(|e| StoreError::Internal(format!("encoding {}: {e}", T::TABLE)))?;
            if !row.common.operation_id.is_empty() {
                self.note_operation(&row.common.operation_id, &row.common.app_name, ts);
            }
        }
        self.chunks.extend(chunks.finish());
        Ok(())
    }
}

/// One table's chunks, one a day, written row by row.
pub struct DayChunks {
    table: &'static str,
    capacity: usize,
    sharding: Sharding,
    days: Vec<(Chunk, Vec<u8>)>,
}

impl DayChunks {
    /// `capacity`: bytes to reserve for a day's rows.
    pub fn new(table: &'static str, capacity: usize, sharding: Sharding) -> Self {
        DayChunks {
            table,
            capacity,
            sharding,
            days: Vec::new(),
        }
    }

    /// Where the row at `timestamp_ns` with sharding key `key` ([`super::cluster::sharding_key`]
    /// of the table) is written: its day's chunk, which counts it.
    pub fn row(&mut self, timestamp_ns: i64, key: &str) -> &mut Vec<u8> {
        let day = day_of(timestamp_ns);
        let index = match self.days.iter().position(|(chunk, _)| chunk.day == day) {
            Some(index) => index,
            None => {
                self.days.push((
                    empty_chunk(self.table, timestamp_ns),
                    Vec::with_capacity(self.capacity),
                ));
                self.days.len() - 1
            }
        };
        let (chunk, data) = &mut self.days[index];
        if self.sharding == Sharding::ByRow {
            chunk.index.push(RowStart {
                // Batches are limited to far less than 4 GiB; a wrapped offset would fail the
                // index's check when the payload is read back.
                offset: u32::try_from(data.len()).unwrap_or(u32::MAX),
                hash: row_hash(key),
            });
        }
        chunk.rows += 1;
        chunk.first_ns = chunk.first_ns.min(timestamp_ns);
        chunk.last_ns = chunk.last_ns.max(timestamp_ns);
        data
    }

    pub fn finish(self) -> Vec<Chunk> {
        self.days
            .into_iter()
            .map(|(mut chunk, data)| {
                chunk.data = Bytes::from(data);
                chunk
            })
            .collect()
    }
}

/// A chunk of no rows, of the day of `timestamp_ns`.
pub fn empty_chunk(table: &str, timestamp_ns: i64) -> Chunk {
    Chunk {
        table: table.to_owned(),
        day: day_of(timestamp_ns),
        rows: 0,
        first_ns: timestamp_ns,
        last_ns: timestamp_ns,
        data: Bytes::new(),
        index: Vec::new(),
    }
}

/// Column order of the `operations` table's insert.
pub const OPERATIONS_COLUMNS: [&str; 6] = [
    "operation_Id",
    "appName",
    "first_ns",
    "last_ns",
    "day",
    "_batch_id",
];

fn operations_chunk(
    operations: &[(String, String, i64, i64)],
    batch_id: u64,
    sharding: Sharding,
) -> Chunk {
    let mut data = Vec::with_capacity(operations.len() * 64);
    let mut index = Vec::new();
    let (mut first_all, mut last_all) = (i64::MAX, i64::MIN);
    for (id, app, first, last) in operations {
        if sharding == Sharding::ByRow {
            index.push(RowStart {
                offset: u32::try_from(data.len()).unwrap_or(u32::MAX),
                hash: row_hash(id),
            });
        }
        write_string(id, &mut data);
        write_string(app, &mut data);
        data.extend_from_slice(&first.to_le_bytes());
        data.extend_from_slice(&last.to_le_bytes());
        // `Date` is days since the epoch as UInt16; item timestamps are within the accepted
        // window, far inside its range.
        let day = u16::try_from(day_of(*first)).unwrap_or(0);
        data.extend_from_slice(&day.to_le_bytes());
        data.extend_from_slice(&batch_id.to_le_bytes());
        first_all = first_all.min(*first);
        last_all = last_all.max(*last);
    }
    Chunk {
        table: OPERATIONS_TABLE.to_owned(),
        day: day_of(first_all),
        rows: operations.len() as u64,
        first_ns: first_all,
        last_ns: last_all,
        data: Bytes::from(data),
        index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, Request, Trace};

    fn item<T: Default>(ts: i64, op: &str) -> Item<T> {
        Item {
            common: Common {
                timestamp_ns: ts,
                operation_id: op.into(),
                app_name: "app".into(),
                ..Common::default()
            },
            data: T::default(),
        }
    }

    #[test]
    fn one_chunk_per_table_and_day_and_the_operation_range() {
        let day = NS_PER_DAY;
        let batch = Batch {
            requests: vec![
                item::<Request>(10 * day + 5, "a"),
                item::<Request>(11 * day + 1, "b"),
            ],
            traces: vec![
                item::<Trace>(10 * day + 7, "a"),
                item::<Trace>(10 * day + 2, ""),
            ],
            ..Batch::default()
        };
        let encoded = decode(Bytes::from(
            encode(&batch, 42, Sharding::None).expect("encodes"),
        ))
        .expect("decodes");
        assert_eq!(encoded.batch_id, 42);
        let summary: Vec<(&str, i64, u64)> = encoded
            .chunks
            .iter()
            .map(|c| (c.table.as_str(), c.day, c.rows))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("requests", 10, 1),
                ("requests", 11, 1),
                ("traces", 10, 2),
                ("operations", 10, 2),
                ("span_rollups", 10, 1),
                ("span_rollups", 11, 1)
            ]
        );
        let traces = &encoded.chunks[2];
        assert_eq!(
            (traces.first_ns, traces.last_ns),
            (10 * day + 2, 10 * day + 7)
        );
        let operations = &encoded.chunks[3];
        assert_eq!(
            (operations.first_ns, operations.last_ns),
            (10 * day + 5, 11 * day + 1)
        );
    }

    #[test]
    fn truncated_payloads_are_refused() {
        let batch = Batch {
            requests: vec![item::<Request>(5, "a")],
            ..Batch::default()
        };
        let payload = encode(&batch, 1, Sharding::None).expect("encodes");
        for cut in [0, 3, 10, payload.len() - 1] {
            assert!(
                decode(Bytes::copy_from_slice(&payload[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = payload.clone();
        extra.push(0);
        assert!(decode(Bytes::from(extra)).is_err());
    }
}
