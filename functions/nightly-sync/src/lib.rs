//! nightly-sync
