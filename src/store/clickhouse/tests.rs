//! Unit tests of the store's error mapping, identifiers and partition names.

use super::retention::days_from_date_text;
use super::*;

#[test]
fn partition_dates_become_days() {
    assert_eq!(days_from_date_text("1970-01-01"), Some(0));
    assert_eq!(days_from_date_text("2026-11-22"), Some(20_779));
    assert_eq!(days_from_date_text("2000-03-01"), Some(11_017));
    assert_eq!(days_from_date_text("tuple()"), None);
    assert_eq!(days_from_date_text("2026-13-01"), None);
}

#[test]
fn classifies_server_errors() {
    use clickhouse::error::Error;
    let too_many_parts =
        Error::BadResponse("Code: 252, e.displayText() = DB::Exception: Too many parts".into());
    assert!(matches!(
        ch_error(too_many_parts),
        StoreError::Unavailable(_)
    ));
    let unknown_column =
        Error::BadResponse("Code: 16, e.displayText() = DB::Exception: No such column".into());
    assert!(matches!(ch_error(unknown_column), StoreError::Internal(_)));
    assert!(matches!(
        ch_error(Error::TimedOut),
        StoreError::Unavailable(_)
    ));
    // A shard with every replica down (18.16's text).
    let shard_down = Error::BadResponse(
        "Code: 279, e.displayText() = DB::NetException: All connection tries failed".into(),
    );
    assert!(matches!(ch_error(shard_down), StoreError::Unavailable(_)));
}

#[test]
fn reads_stopped_at_a_limit_name_it() {
    use clickhouse::error::Error;
    let mut config = ClickHouseConfig::new("http://127.0.0.1:1", "db");
    config.query_limits.max_memory_bytes = 1 << 20;
    let store = ClickHouseStore::new(&config).expect("store");
    let memory = Error::BadResponse(
        "Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.50 GiB".into(),
    );
    assert_eq!(
        store.read_error(memory).to_string(),
        LimitExceeded::Memory(1 << 20).to_string()
    );
    for code in [159, 160] {
        let timeout = Error::BadResponse(format!("Code: {code}. DB::Exception: Timeout exceeded"));
        assert!(matches!(
            store.read_error(timeout),
            StoreError::LimitExceeded(LimitExceeded::Time(_))
        ));
    }
    let other = Error::BadResponse("Code: 47. DB::Exception: Missing columns".into());
    assert!(matches!(store.read_error(other), StoreError::Internal(_)));
    // Writes stay retryable when the server is short of memory.
    let memory = Error::BadResponse("Code: 241. DB::Exception: Memory limit".into());
    assert!(matches!(ch_error(memory), StoreError::Unavailable(_)));
}

#[test]
fn database_names_are_plain_identifiers() {
    assert!(valid_identifier("tracehouse"));
    assert!(valid_identifier("test_db_1"));
    assert!(!valid_identifier("x`; DROP"));
    assert!(!valid_identifier("1abc"));
    assert!(!valid_identifier(""));
}
