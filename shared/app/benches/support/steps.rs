//! Where a job's own time goes: every store call (the AWS SDK's operation
//! spans, `DynamoDB.BatchGetItem` ...) and every span of `app` (the use
//! cases and their steps), with its start and end, recorded by a tracing
//! layer the bench installs (`PUSH_BENCH_STEPS=1`); the product only opens
//! the spans (at debug level: nothing is logged by them).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// One span: its name, the names of the spans it ran within (nearest
/// first), and when it opened and closed.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub within: Vec<String>,
    pub start: Instant,
    pub end: Instant,
}

/// The steps recorded so far.
#[derive(Clone, Default)]
pub struct Steps(Arc<Mutex<Vec<Step>>>);

struct Open {
    name: String,
    within: Vec<String>,
    start: Instant,
}

impl Steps {
    /// Installs the recording layer as the global subscriber.
    pub fn install() -> Steps {
        let steps = Steps::default();
        let only = tracing_subscriber::filter::filter_fn(|m| {
            m.is_span() && (m.target().starts_with("aws_sdk_") || m.target().starts_with("app"))
        });
        tracing_subscriber::registry()
            .with(steps.clone().with_filter(only))
            .init();
        steps
    }

    pub fn take(&self) -> Vec<Step> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl<S> Layer<S> for Steps
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let within = span.scope().skip(1).map(|s| s.name().to_owned()).collect();
        span.extensions_mut().insert(Open {
            name: attrs.metadata().name().to_owned(),
            within,
            start: Instant::now(),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Step {
                name: open.name,
                within: open.within,
                start: open.start,
                end: Instant::now(),
            });
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A step's label: its name and the nearest `app` steps it ran within.
fn label(step: &Step) -> String {
    let within: Vec<&str> = step
        .within
        .iter()
        .map(String::as_str)
        .filter(|n| !n.contains('.'))
        .take(2)
        .collect();
    if within.is_empty() {
        step.name.clone()
    } else {
        format!("{} (in {})", step.name, within.join(" < "))
    }
}

/// Prints the steps before the first Moodle call (each, from the job's
/// start), and, of the time Moodle was idle after it, how much each kind of
/// step overlapped; `busy` are Moodle's busy intervals.
pub fn print(steps: &[Step], start: Instant, end: Instant, busy: &[(Instant, Instant)]) {
    let first = busy.iter().map(|(a, _)| *a).min().unwrap_or(end);
    let last = busy.iter().map(|(_, b)| *b).max().unwrap_or(end);
    let mut steps: Vec<&Step> = steps
        .iter()
        .filter(|s| s.end >= start && s.start <= end)
        .collect();
    steps.sort_by_key(|s| s.start);
    println!(
        "    steps before the first Moodle call (+{:.0} ms), from the job's start:",
        ms(first - start)
    );
    for s in steps.iter().filter(|s| s.start < first) {
        println!(
            "      {:>7.1} .. {:>7.1} ms  {:>7.1} ms  {}",
            ms(s.start.saturating_duration_since(start)),
            ms(s.end.saturating_duration_since(start)),
            ms(s.end - s.start),
            label(s)
        );
    }
    // Moodle's idle gaps between its first call and its last answer.
    let mut spans: Vec<(Instant, Instant)> = busy.to_vec();
    spans.sort();
    let mut gaps = Vec::new();
    let mut reach = first;
    for (a, b) in spans {
        if a > reach {
            gaps.push((reach, a));
        }
        reach = reach.max(b);
    }
    gaps.push((last, end));
    let idle: Duration = gaps[..gaps.len() - 1].iter().map(|(a, b)| *b - *a).sum();
    println!(
        "    Moodle idle between its first call and its last answer: {:.0} ms in {} gaps; then the tail {:.0} ms",
        ms(idle),
        gaps.len() - 1,
        ms(end.saturating_duration_since(last))
    );
    let mut by_kind: std::collections::BTreeMap<String, (usize, Duration, Duration)> =
        Default::default();
    for s in &steps {
        let entry = by_kind.entry(label(s)).or_default();
        entry.0 += 1;
        entry.1 += s.end - s.start;
        for (a, b) in &gaps[..gaps.len() - 1] {
            let (from, to) = (s.start.max(*a), s.end.min(*b));
            if from < to {
                entry.2 += to - from;
            }
        }
    }
    let mut kinds: Vec<(String, (usize, Duration, Duration))> = by_kind.into_iter().collect();
    kinds.sort_by_key(|(_, (_, _, idle))| std::cmp::Reverse(*idle));
    println!("    steps overlapping Moodle's idle gaps (calls, total time, time within the gaps):");
    for (kind, (n, total, idle)) in kinds.iter().filter(|(_, (_, _, i))| !i.is_zero()).take(12) {
        println!(
            "      {:>5} x {:>8.1} ms  {:>7.1} ms in gaps  {kind}",
            n,
            ms(*total),
            ms(*idle)
        );
    }
    println!("    steps in the tail, after Moodle's last answer:");
    for s in steps
        .iter()
        .filter(|s| s.end > last && !s.within.is_empty())
    {
        if s.name.contains('.') || s.within.len() <= 3 {
            println!(
                "      {:>7.1} .. {:>7.1} ms after  {}",
                ms(s.start.saturating_duration_since(last)),
                ms(s.end.saturating_duration_since(last)),
                label(s)
            );
        }
    }
}

/// CPU time (user + system) of a process so far, from `/proc/<pid>/stat`
/// (in the kernel's 100 Hz ticks): `self` or a pid.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis: state is field 3;
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
