//! How a function is bounded, read from `infra/template.yaml`.

use std::time::Duration;

/// How a function is bounded in `infra/template.yaml`: its SQS event source
/// mapping's `ScalingConfig.MaximumConcurrency` and `BatchSize`, and its `Timeout`.
#[derive(Debug, Clone, Copy)]
pub struct LambdaModel {
    pub instances: usize,
    pub batch_size: usize,
    pub timeout: Duration,
}

const TEMPLATE: &str = include_str!("../../../../infra/template.yaml");

/// Reads a function's bounds from the template (so the model follows it).
pub fn lambda_model(resource: &str) -> LambdaModel {
    let header = format!("  {resource}:");
    let start = TEMPLATE
        .lines()
        .position(|l| l == header)
        .unwrap_or_else(|| panic!("{resource} is not in infra/template.yaml"));
    let section: Vec<&str> = TEMPLATE
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("  ") || l.starts_with("   "))
        .collect();
    let value = |key: &str| -> usize {
        section
            .iter()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .next()
            .unwrap_or_else(|| panic!("{resource} has no {key} in infra/template.yaml"))
    };
    LambdaModel {
        instances: value("MaximumConcurrency:"),
        batch_size: value("BatchSize:"),
        timeout: Duration::from_secs(value("Timeout:") as u64),
    }
}
