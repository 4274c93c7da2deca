//! results-fetch
