//! Guards on every read, the same on both stores: a deadline and (on ClickHouse) a memory cap,
//! so one expensive question cannot stall the store for everyone. A read past a guard fails with
//! [`LimitExceeded`], which names the limit and the flag that sets it.

use std::fmt;
use std::time::Duration;

/// What a single read may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest a read may run.
    pub timeout: Duration,
    /// Most memory one read may use on the database server (ClickHouse's `max_memory_usage`).
    pub max_memory_bytes: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(30),
            max_memory_bytes: 2 << 30,
        }
    }
}

impl QueryLimits {
    /// ClickHouse's `max_execution_time` in whole seconds (18.16 accepts no fractions), at
    /// least 1; shorter timeouts are enforced by tracehouse's own deadline.
    pub fn execution_time_s(&self) -> u64 {
        self.timeout.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Which guard a read ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitExceeded {
    Time(Duration),
    Memory(u64),
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Time(limit) => write!(
                f,
                "the query ran past the time limit of {} (--query-timeout); narrow the time range or filters",
                human_duration(*limit)
            ),
            LimitExceeded::Memory(limit) => write!(
                f,
                "the query needed more than the memory limit of {} (--query-max-memory); narrow the time range or filters",
                human_bytes(*limit)
            ),
        }
    }
}

fn human_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms > 0 {
        format!("{ms}ms")
    } else {
        format!("{}µs", duration.as_micros())
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_limit_and_its_flag() {
        let time = LimitExceeded::Time(Duration::from_secs(30)).to_string();
        assert!(time.contains("time limit of 30s") && time.contains("--query-timeout"));
        let memory = LimitExceeded::Memory(2 << 30).to_string();
        assert!(memory.contains("memory limit of 2GiB") && memory.contains("--query-max-memory"));
        assert!(
            LimitExceeded::Memory(1000)
                .to_string()
                .contains("1000 bytes")
        );
        assert!(
            LimitExceeded::Time(Duration::from_millis(250))
                .to_string()
                .contains("250ms")
        );
    }

    #[test]
    fn clickhouse_gets_whole_seconds_of_at_least_one() {
        let limits = |ms| QueryLimits {
            timeout: Duration::from_millis(ms),
            max_memory_bytes: 1,
        };
        assert_eq!(limits(1).execution_time_s(), 1);
        assert_eq!(limits(30_000).execution_time_s(), 30);
        assert_eq!(limits(1_500).execution_time_s(), 2);
    }
}
