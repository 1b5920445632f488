//! Wall-clock time for the edges; pure code takes `now_ns` as an argument instead.

/// Nanoseconds since the Unix epoch, UTC.
pub fn now_ns() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
}
