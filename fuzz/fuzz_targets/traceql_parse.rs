//! Any bytes as a TraceQL query: parsing answers a query or an error with a position, never a
//! panic; a query that parses prints to text that parses and prints the same; its regexes
//! compile and it can be evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracehouse::traceql::{eval::Matcher, parse, print};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse(text) else {
        return;
    };
    let printed = print::query(&query);
    let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e:?}"));
    assert_eq!(print::query(&reparsed), printed);
    let matcher = Matcher::new(&query).expect("the parser checked every regex");
    let _ = matcher.matches(&[]);
});
