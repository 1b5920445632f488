//! ClickHouse errors as store errors: what is transient, what the data itself caused.

use crate::store::StoreError;

/// ClickHouse server error codes that are worth retrying (overload, limits, timeouts, and on
/// a cluster a shard or the replication coordinator out of reach: `ALL_CONNECTION_TRIES_FAILED`,
/// `NO_ZOOKEEPER`, `UNKNOWN_STATUS_OF_INSERT`, `KEEPER_EXCEPTION`).
const TRANSIENT_CODES: [u32; 13] = [
    3, 159, 164, 202, 209, 210, 225, 241, 242, 252, 279, 319, 999,
];
/// `TIMEOUT_EXCEEDED` and `TOO_SLOW` (the estimate says it will not finish in time).
pub(super) const TIME_LIMIT_CODES: [u32; 2] = [159, 160];
/// `MEMORY_LIMIT_EXCEEDED`.
pub(super) const MEMORY_LIMIT_CODE: u32 = 241;
/// Errors about the inserted data itself (parsing, types, sizes): the same bytes can never
/// land, so the shipper sets such a batch aside instead of retrying it forever.
const DATA_REJECTED_CODES: [u32; 13] = [6, 26, 27, 33, 38, 41, 53, 69, 70, 72, 117, 131, 321];

/// The `Code: N` a server error starts with.
pub(super) fn server_code(error: &clickhouse::error::Error) -> Option<u32> {
    match error {
        clickhouse::error::Error::BadResponse(message) => message
            .strip_prefix("Code: ")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse::<u32>().ok()),
        _ => None,
    }
}

/// Maps a client error to a store error: network trouble and overload are transient.
pub(crate) fn ch_error(error: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error;
    match &error {
        Error::Network(_) | Error::TimedOut => StoreError::Unavailable(error.to_string()),
        Error::BadResponse(message) => {
            match server_code(&error) {
                Some(code) if TRANSIENT_CODES.contains(&code) => {
                    StoreError::Unavailable(message.clone())
                }
                Some(code) if DATA_REJECTED_CODES.contains(&code) => {
                    StoreError::Rejected(message.clone())
                }
                Some(_) => StoreError::Internal(message.clone()),
                // No server code: a proxy or a dropped connection answered.
                None => StoreError::Unavailable(message.clone()),
            }
        }
        _ => StoreError::Internal(error.to_string()),
    }
}
