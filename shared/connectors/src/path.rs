//! One URL path segment from a value: an id or an external code placed in a path.
//!
//! Every character outside RFC 3986's unreserved set is percent-encoded, so `/`, `?`,
//! `#` and `%` cannot end the segment or start another. Dot-only values (`.`, `..`)
//! are refused rather than encoded: URL parsers treat `%2e%2e` as `..` too, so no
//! encoding keeps them from naming the parent path. Ids are already refused such values
//! in `domain::ids`; this is the connectors' own guard, whatever a caller passes.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a value cannot be a path segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("an empty value cannot name a resource in a URL path")]
    Empty,
    #[error("a dot-only value ({0:?}) would name another path, not a resource")]
    DotsOnly(String),
}

/// `value` as one percent-encoded path segment.
pub fn segment(value: &str) -> Result<String, SegmentError> {
    if value.is_empty() {
        return Err(SegmentError::Empty);
    }
    if value.bytes().all(|b| b == b'.') {
        return Err(SegmentError::DotsOnly(value.to_owned()));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The path segments `url` (what reqwest sends) reads from base + `/courses/{value}/classes/C1`.
    fn segments_after(value: &str) -> Option<Vec<String>> {
        let seg = segment(value).ok()?;
        let url = url::Url::parse(&format!(
            "https://ck.example/api/v1/courses/{seg}/classes/C1"
        ))
        .unwrap();
        Some(
            url.path_segments()
                .unwrap()
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                })
                .collect(),
        )
    }

    #[test]
    fn dot_only_and_empty_values_are_refused() {
        assert_eq!(segment(""), Err(SegmentError::Empty));
        for v in [".", "..", "..."] {
            assert_eq!(segment(v), Err(SegmentError::DotsOnly(v.into())));
        }
    }

    #[test]
    fn hostile_values_stay_one_segment() {
        for v in [
            "../..",
            "a/b",
            "%2e%2e",
            "%2E.",
            ".%2e",
            "?x=1",
            "#frag",
            "a b",
            "..;",
            "\\..",
            "C1/../../admin",
            "é",
            "\u{202E}x",
        ] {
            assert_eq!(
                segments_after(v).unwrap(),
                ["api", "v1", "courses", v, "classes", "C1"],
                "{v:?}"
            );
        }
        assert_eq!(segment("OCC-1001.a_b~").unwrap(), "OCC-1001.a_b~");
        assert_eq!(segment("a b/c").unwrap(), "a%20b%2Fc");
    }

    proptest! {
        #[test]
        fn no_value_yields_another_path(value in "\\PC{0,24}") {
            match segments_after(&value) {
                Some(segments) => prop_assert_eq!(
                    segments,
                    vec!["api".to_owned(), "v1".into(), "courses".into(), value.clone(), "classes".into(), "C1".into()]
                ),
                None => prop_assert!(value.is_empty() || value.bytes().all(|b| b == b'.')),
            }
        }
    }
}
