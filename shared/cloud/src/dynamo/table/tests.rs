use super::batch::{BACKOFF_CAP, backoff};
use super::options::QueryOptions;

#[test]
fn backoff_stays_under_its_cap() {
    for retry in 0..40 {
        assert!(backoff(retry) <= BACKOFF_CAP);
    }
}

#[test]
fn query_options_build_up() {
    let options = QueryOptions::default().newest_first().limit(3).page_size(2);
    assert_eq!(
        options,
        QueryOptions {
            newest_first: true,
            limit: Some(3),
            page_size: Some(2)
        }
    );
}
