//! Exception rows from OpenTelemetry `exception.*` attributes, with a `problemId` that groups the
//! same failure: the exception type and the innermost frame of its stack.

use super::attributes::truncate_in_place;
use crate::model::Exception;

/// Application Insights severity for exceptions recorded on spans (they carry none).
pub const ERROR_SEVERITY: u8 = 3;

/// Builds an exception row from the OpenTelemetry fields of one exception.
pub fn from_otel(
    exception_type: Option<&str>,
    message: Option<&str>,
    stack: Option<&str>,
    severity_level: u8,
    max_text_bytes: usize,
) -> Exception {
    let exception_type = exception_type
        .filter(|t| !t.is_empty())
        .unwrap_or("Exception")
        .to_owned();
    let mut message = message
        .filter(|m| !m.is_empty())
        .unwrap_or("Exception")
        .to_owned();
    truncate_in_place(&mut message, max_text_bytes);
    let mut stack = stack.unwrap_or_default().to_owned();
    truncate_in_place(&mut stack, max_text_bytes);
    let method = top_frame(&stack).unwrap_or_default();
    let details = serde_json::json!([{
        "id": 0,
        "outerId": 0,
        "type": exception_type,
        "message": message,
        "hasFullStack": !stack.is_empty(),
    }])
    .to_string();
    Exception {
        problem_id: problem_id(&exception_type, &method),
        outer_type: exception_type.clone(),
        outer_message: message.clone(),
        innermost_type: exception_type.clone(),
        innermost_message: message.clone(),
        exception_type,
        message,
        method,
        assembly: String::new(),
        severity_level,
        handled_at: String::new(),
        stack,
        details,
    }
}

/// `"{type} at {method}"`, or the type alone when the stack names no frame.
pub fn problem_id(exception_type: &str, method: &str) -> String {
    if method.is_empty() {
        exception_type.to_owned()
    } else {
        format!("{exception_type} at {method}")
    }
}

/// The function where the exception was raised: the last `File ..., in NAME` line of a Python
/// traceback, or the first `at NAME(` line of a .NET, Java or JavaScript stack. Never a line
/// number: a JavaScript frame with no function name (`at /app/app.js:24:9`) gives its file, so
/// the same failure keeps its problem id when code above it moves.
pub fn top_frame(stack: &str) -> Option<String> {
    let python = stack
        .lines()
        .filter(|line| line.trim_start().starts_with("File \""))
        .filter_map(|line| line.rsplit_once(", in ").map(|(_, name)| name.trim()))
        .next_back();
    if let Some(name) = python {
        return Some(name.to_owned());
    }
    stack.lines().find_map(|line| {
        let frame = line.trim_start().strip_prefix("at ")?;
        let frame = frame.strip_prefix("async ").unwrap_or(frame);
        let frame = frame.strip_prefix("new ").unwrap_or(frame);
        let name = frame
            .split(|c: char| c == '(' || c.is_whitespace())
            .next()
            .unwrap_or(frame);
        let name = without_line_and_column(name);
        (!name.is_empty()).then(|| name.to_owned())
    })
}

/// `/app/app.js:24:9` → `/app/app.js`: up to two trailing `:<digits>` removed.
fn without_line_and_column(location: &str) -> &str {
    let mut rest = location;
    for _ in 0..2 {
        match rest.rsplit_once(':') {
            Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
                rest = head;
            }
            _ => break,
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON: &str = "Traceback (most recent call last):\n  File \"/app/a.py\", line 3, in handler\n    run()\n  File \"/app/b.py\", line 9, in search\n    raise RuntimeError(\"x\")\nRuntimeError: x\n";

    #[test]
    fn python_problem_id_uses_the_innermost_frame() {
        assert_eq!(top_frame(PYTHON).as_deref(), Some("search"));
        let row = from_otel(Some("RuntimeError"), Some("x"), Some(PYTHON), 3, 1024);
        assert_eq!(row.problem_id, "RuntimeError at search");
        assert_eq!(row.innermost_type, "RuntimeError");
        assert!(row.details.contains("\"hasFullStack\":true"));
    }

    #[test]
    fn dotnet_java_and_js_frames() {
        let dotnet = "System.InvalidOperationException: boom\n   at Shop.Api.Cart.Add(Int32 id) in Cart.cs:line 10\n   at Shop.Api.Run()";
        assert_eq!(top_frame(dotnet).as_deref(), Some("Shop.Api.Cart.Add"));
        let js = "Error: boom\n    at handler (/app/index.js:10:5)\n    at next (/app/x.js:1:1)";
        assert_eq!(top_frame(js).as_deref(), Some("handler"));
        assert_eq!(top_frame("no frames here"), None);
    }

    #[test]
    fn javascript_frames_never_give_line_numbers() {
        let anonymous = "TypeError: x is undefined\n    at /app/app.js:24:9\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)";
        assert_eq!(top_frame(anonymous).as_deref(), Some("/app/app.js"));
        let moved = anonymous.replace("24:9", "31:13");
        assert_eq!(
            problem_id("TypeError", &top_frame(&moved).unwrap_or_default()),
            "TypeError at /app/app.js"
        );
        let shapes = [
            (
                "Error\n    at async loadCart (/app/cart.js:3:1)",
                "loadCart",
            ),
            ("Error\n    at new Cart (/app/cart.js:3:1)", "Cart"),
            (
                "Error\n    at file:///app/index.mjs:7:15",
                "file:///app/index.mjs",
            ),
            (
                "Error\n    at Object.<anonymous> (/app/a.js:1:1)",
                "Object.<anonymous>",
            ),
        ];
        for (stack, frame) in shapes {
            assert_eq!(top_frame(stack).as_deref(), Some(frame), "{stack}");
        }
    }

    #[test]
    fn defaults_missing_type_and_message() {
        let row = from_otel(None, Some(""), None, 3, 1024);
        assert_eq!(row.exception_type, "Exception");
        assert_eq!(row.message, "Exception");
        assert_eq!(row.problem_id, "Exception");
    }
}
