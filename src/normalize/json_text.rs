//! Reading a JSON text's structure without parsing it: the bytes outside its strings.

/// The bytes of `body` outside JSON strings, with their offsets. A string's opening quote is
/// yielded (it tells where a value starts); its content and closing quote are not.
pub fn outside_strings(body: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut in_string, mut escaped) = (false, false);
    body.iter().enumerate().filter_map(move |(at, &byte)| {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            return None;
        }
        in_string = byte == b'"';
        Some((at, byte))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_string_contents_and_escapes() {
        let text = br#"{"a":"[\"]{",b:[]}"#;
        let structure: String = outside_strings(text).map(|(_, b)| char::from(b)).collect();
        assert_eq!(structure, r#"{":",b:[]}"#);
    }
}
