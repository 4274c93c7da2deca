//! Moodle's REST XML format (the default when `moodlewsrestformat` is not `json`).

use serde_json::Value;

use super::error::MoodleError;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            c => out.push(c),
        }
    }
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<VALUE null=\"null\"/>\n"),
        Value::Bool(b) => {
            out.push_str("<VALUE>");
            out.push_str(if *b { "1" } else { "0" });
            out.push_str("</VALUE>\n");
        }
        Value::Number(n) => {
            out.push_str("<VALUE>");
            out.push_str(&n.to_string());
            out.push_str("</VALUE>\n");
        }
        Value::String(s) => {
            out.push_str("<VALUE>");
            out.push_str(&escape(s));
            out.push_str("</VALUE>\n");
        }
        Value::Array(items) => {
            out.push_str("<MULTIPLE>\n");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</MULTIPLE>\n");
        }
        Value::Object(map) => {
            out.push_str("<SINGLE>\n");
            for (k, v) in map {
                out.push_str(&format!("<KEY name=\"{}\">", escape(k)));
                write_value(out, v);
                out.push_str("</KEY>\n");
            }
            out.push_str("</SINGLE>\n");
        }
    }
}

/// A successful answer as XML.
pub fn response(v: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<RESPONSE>\n");
    if !v.is_null() {
        write_value(&mut out, v);
    }
    out.push_str("</RESPONSE>\n");
    out
}

/// An exception as XML.
pub fn exception(e: &MoodleError, debug: bool) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<EXCEPTION class=\"{}\">\n<ERRORCODE>{}</ERRORCODE>\n<MESSAGE>{}</MESSAGE>\n",
        escape(&e.exception),
        escape(&e.errorcode),
        escape(&e.message)
    );
    if debug && let Some(d) = &e.debuginfo {
        out.push_str(&format!("<DEBUGINFO>{}</DEBUGINFO>\n", escape(d)));
    }
    out.push_str("</EXCEPTION>\n");
    out
}
