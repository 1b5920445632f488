//! The read side's pure logic above the stores: assembling one operation's items into the
//! end-to-end transaction (tree, critical path, retry groups), what throttling means, and the
//! findings that diagnose a transaction, and usage against a deployment's quota.

pub mod causes;
pub mod findings;
pub mod k8s;
pub mod messages;
pub mod otlp_encode;
pub mod otlp_trace;
pub mod otlp_value;
pub mod quota;
pub mod scores;
#[cfg(test)]
mod test_trees;
pub use crate::reads::throttling;
pub mod tree;
