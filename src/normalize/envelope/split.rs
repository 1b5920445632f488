//! Splitting a track body into its envelopes before anything is parsed or decoded, so each
//! envelope is judged alone: invalid UTF-8 or nesting too deep for the JSON parser inside one
//! envelope costs only that envelope. A body is a JSON array of envelopes or newline-delimited
//! envelopes; the array is split by a byte scanner that follows strings and brackets (it needs
//! no recursion, however deep the nesting).

use serde_json::value::RawValue;

use super::BodyError;
use crate::normalize::json_text::outside_strings;

/// The envelopes of a body, in order, as raw JSON; an envelope that is not valid JSON (or not
/// UTF-8) is an error in its place.
pub fn split_body(body: &[u8]) -> Result<Vec<Result<&RawValue, String>>, BodyError> {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let pieces = match body.get(start) {
        None => Vec::new(),
        Some(b'[') => array_elements(body, start)?,
        Some(b'{') => body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .collect(),
        Some(_) => return Err(BodyError::NotJson("expected `[` or `{`".into())),
    };
    Ok(pieces.into_iter().map(envelope).collect())
}

fn envelope(piece: &[u8]) -> Result<&RawValue, String> {
    let text = std::str::from_utf8(piece).map_err(|e| format!("envelope is not UTF-8: {e}"))?;
    serde_json::from_str::<&RawValue>(text).map_err(|e| format!("invalid JSON: {e}"))
}

/// The elements of the top-level array opening at `open`, untrimmed; `]` must close it with
/// nothing but whitespace after.
fn array_elements(body: &[u8], open: usize) -> Result<Vec<&[u8]>, BodyError> {
    let mut elements = Vec::new();
    let mut depth = 0usize;
    let mut element_start = open + 1;
    let mut close = None;
    for (offset, byte) in outside_strings(&body[open + 1..]) {
        let at = open + 1 + offset;
        match byte {
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b']' => {
                close = Some(at);
                break;
            }
            b',' if depth == 0 => {
                elements.push(&body[element_start..at]);
                element_start = at + 1;
            }
            _ => {}
        }
    }
    let close = close.ok_or_else(|| BodyError::NotJson("the array is never closed".into()))?;
    let last = &body[element_start..close];
    if !elements.is_empty() || !last.iter().all(u8::is_ascii_whitespace) {
        elements.push(last);
    }
    if !body[close + 1..].iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::NotJson(
            "trailing characters after the array".into(),
        ));
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &[u8]) -> Vec<Result<String, String>> {
        split_body(body)
            .expect("split")
            .into_iter()
            .map(|item| item.map(|raw| raw.get().to_owned()))
            .collect()
    }

    #[test]
    fn arrays_and_lines_give_their_envelopes_in_order() {
        let array = br#" [ {"a": "x,]}"}, {"b": [1, {"c": "\"]"}]} ] "#;
        assert_eq!(
            texts(array),
            [
                Ok(r#"{"a": "x,]}"}"#.to_owned()),
                Ok(r#"{"b": [1, {"c": "\"]"}]}"#.to_owned())
            ]
        );
        assert_eq!(texts(b"[]"), Vec::<Result<String, String>>::new());
        assert_eq!(texts(b"  "), Vec::<Result<String, String>>::new());
        assert_eq!(
            texts(b"{\"a\":1}\n\n{\"b\":2}\r\n"),
            [Ok("{\"a\":1}".to_owned()), Ok("{\"b\":2}".to_owned())]
        );
    }

    #[test]
    fn a_bad_envelope_costs_only_itself() {
        let mut body = b"[{\"ok\": 1}, {\"bad\": \"".to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(b"\"}, ");
        body.extend_from_slice(&"[".repeat(500).into_bytes());
        body.extend_from_slice(&"]".repeat(500).into_bytes());
        body.extend_from_slice(b", {\"ok\": 2}, ]");
        let items = texts(&body);
        assert_eq!(items.len(), 5, "{items:?}");
        assert_eq!(items[0], Ok("{\"ok\": 1}".to_owned()));
        assert!(
            items[1].as_ref().is_err_and(|e| e.contains("UTF-8")),
            "{items:?}"
        );
        // Captured whole (serde_json skips raw values without recursing); reading it as an
        // envelope then fails for it alone.
        assert!(items[2].as_ref().is_ok_and(|raw| raw.len() == 1000));
        assert_eq!(items[3], Ok("{\"ok\": 2}".to_owned()));
        assert!(
            items[4].is_err(),
            "an empty element is an error in its place"
        );
        let mut lines = b"{\"ok\": 1}\n{\"bad\": \"".to_vec();
        lines.extend_from_slice(&[0xc3]);
        lines.extend_from_slice(b"\"}\n{\"ok\": 2}");
        let items = texts(&lines);
        assert!(
            items[0].is_ok() && items[1].is_err() && items[2].is_ok(),
            "{items:?}"
        );
    }

    #[test]
    fn bodies_that_are_no_envelopes_are_refused_whole() {
        for body in [
            &b"[{\"a\": 1}"[..],
            b"[{}] x",
            b"nonsense",
            b"[\"unterminated]",
        ] {
            assert!(
                split_body(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    proptest::proptest! {
        /// On any JSON array, the split gives exactly the elements serde_json finds.
        #[test]
        fn splits_arrays_as_serde_json_reads_them(
            values in proptest::collection::vec(
                proptest::arbitrary::any::<(String, i64, bool)>(), 0..8
            )
        ) {
            let array: Vec<serde_json::Value> = values
                .iter()
                .map(|(s, n, b)| serde_json::json!({"s": s, "n": n, "nested": [[b, {"s": s}]]}))
                .collect();
            let body = serde_json::to_vec_pretty(&array).expect("json");
            let split: Vec<serde_json::Value> = split_body(&body)
                .expect("split")
                .into_iter()
                .map(|item| serde_json::from_str(item.expect("element").get()).expect("value"))
                .collect();
            proptest::prop_assert_eq!(split, array);
        }

        /// Arbitrary bytes never panic the splitter.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..200)) {
            let _ = split_body(&body);
        }
    }
}
