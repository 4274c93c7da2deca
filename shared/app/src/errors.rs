//! How an error or a panic reads in a run log or a person's view: a leaf
//! every use case may use (it imports no use case).

/// An error and its sources, joined, for the run log (adapters' errors never
/// carry secrets, names or emails).
pub fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A panic's message, for the log and the caller.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("it panicked ({what})")
}
