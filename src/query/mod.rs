//! The read side's pure logic above the stores: assembling one operation's items into the
//! end-to-end transaction (tree, critical path, retry groups).

pub mod tree;
