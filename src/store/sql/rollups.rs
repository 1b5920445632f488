//! Which rows of `span_rollups` a rolled-up read adds up.

use super::{Condition, Dialect, Param, selection_condition};
use crate::reads::Selection;
use crate::store::rollup::RollupPlan;

/// The rollup rows of the plan's whole minutes, narrowed like the selection (the rollup table
/// has the span tables' column names for every rolled-up column).
pub fn rollup_minutes(selection: &Selection, plan: &RollupPlan, dialect: Dialect) -> Condition {
    let mut condition = Condition::default();
    condition.and("source = ?", [Param::Text(selection.source.table().into())]);
    let within = selection_condition(
        &Selection {
            range: plan.minutes,
            ..selection.clone()
        },
        dialect,
    );
    condition.and(&within.sql, within.params);
    condition
}

/// The fine bucket of a duration column ([`crate::reads::binned::fine_bucket`]) in
/// ClickHouse's SQL, for spans added up on the server: estimated from the logarithm and
/// corrected against the exact bounds (an array constant), so a duration on a bound falls where
/// Rust puts it. (A binary search of nested `CASE`s, as the display histogram uses, costs
/// ClickHouse ~150 ms to analyse at a thousand bounds, and 18.16 evaluates every branch.)
pub fn fine_bucket_clickhouse(column: &str) -> String {
    let bounds = crate::reads::binned::fine_bounds();
    let last = bounds.len();
    let decades_low = -(crate::reads::binned::LOWEST_EXPONENT);
    let per_decade = crate::reads::binned::PER_DECADE;
    let list: Vec<String> = bounds.iter().map(f64::to_string).collect();
    // Counts of bounds at or below the duration, as arrays are 1-based: element `i` is the
    // `i - 1`th bound.
    let estimate = format!(
        "toInt32(greatest(-1., least({over}., floor(log10(greatest({column}, 1e-300)) * {per_decade}) + {first})))",
        over = last + 1,
        first = decades_low + 1,
    );
    format!(
        "toUInt16(least({last}, greatest(0, ({estimate} AS fine_estimate) \
         - ({column} < arrayElement([{list}] AS fine_bounds, greatest(1, least({last}, fine_estimate)))) \
         + ({column} >= arrayElement(fine_bounds, greatest(1, least({last}, fine_estimate + 1)))))))",
        list = list.join(","),
    )
}
