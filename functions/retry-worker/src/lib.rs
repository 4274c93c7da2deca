//! retry-worker
