//! The read side's pure logic above the stores: assembling one operation's items into the
//! end-to-end transaction (tree, critical path, retry groups), what throttling means, and the
//! findings that diagnose a transaction.

pub mod causes;
pub mod findings;
#[cfg(test)]
mod test_trees;
pub mod throttling;
pub mod tree;
