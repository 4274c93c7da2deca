//! The local runner: the whole system on one machine, over moto server and the
//! simulators. Tests, benchmarks and the demo use it.

pub mod demo;
pub mod runner;
pub mod samples;
pub mod stack;
pub mod template;

/// A new tenant API key: `lb_` and 244 random bits. Shown once; only its hash is stored.
pub fn new_api_key() -> String {
    format!(
        "lb_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
