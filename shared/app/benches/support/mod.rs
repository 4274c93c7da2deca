//! What the benches share: a moto server (the product's AWS, over the wire)
//! and the timing of one stage against the Moodle simulator.
#![allow(dead_code)]

pub mod steps;

use simulators::moodle::BusyInterval;
use std::time::{Duration, Instant};

/// Checks that moto is there (`AWS_ENDPOINT_URL`, set by `scripts/bench`,
/// which starts moto server from the project's virtualenv as `scripts/test` does).
pub fn require_moto() {
    if !std::env::var("AWS_ENDPOINT_URL").is_ok_and(|u| !u.trim().is_empty()) {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the bench with scripts/bench (it starts moto server), or point AWS_ENDPOINT_URL at one"
        );
    }
}

/// One stage's timing: the job's wall time split into Moodle's busy time (the
/// union of the intervals during which the simulator was serving at least one
/// call, latency included) and learnbridge's own time (the rest of the wall
/// time: nothing was waiting on Moodle).
pub struct Timing {
    pub wall: Duration,
    /// Union of the busy intervals within the stage.
    pub moodle_busy: Duration,
    /// Sum of every call's time at Moodle (with calls in parallel, more than the union).
    pub moodle_sum: Duration,
    pub calls: usize,
    /// From the stage's start to the first call's arrival at Moodle.
    pub first_call: Option<Duration>,
    /// From the last Moodle answer to the stage's end.
    pub tail: Option<Duration>,
}

impl Timing {
    pub fn own(&self) -> Duration {
        self.wall.saturating_sub(self.moodle_busy)
    }

    pub fn new(start: Instant, end: Instant, intervals: &[BusyInterval]) -> Timing {
        let mut spans: Vec<(Instant, Instant)> = intervals
            .iter()
            .map(|i| (i.arrived.max(start), i.answered.min(end)))
            .filter(|(a, b)| a < b)
            .collect();
        spans.sort();
        let moodle_sum = spans.iter().map(|(a, b)| *b - *a).sum();
        let mut busy = Duration::ZERO;
        let mut current: Option<(Instant, Instant)> = None;
        for (a, b) in &spans {
            match &mut current {
                Some((_, end)) if *a <= *end => *end = (*end).max(*b),
                _ => {
                    if let Some((s, e)) = current {
                        busy += e - s;
                    }
                    current = Some((*a, *b));
                }
            }
        }
        if let Some((s, e)) = current {
            busy += e - s;
        }
        let first = spans.iter().map(|(a, _)| *a).min();
        let last = spans.iter().map(|(_, b)| *b).max();
        Timing {
            wall: end - start,
            moodle_busy: busy,
            moodle_sum,
            calls: spans.len(),
            first_call: first.map(|f| f - start),
            tail: last.map(|l| end.saturating_duration_since(l)),
        }
    }

    /// One line: own time, Moodle's busy time, their ratio.
    pub fn line(&self, stores: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let s = |d: Duration| d.as_secs_f64();
        format!(
            "[{stores:<9}] wall {:>6.2} s | own {:>6.2} s ({:>4.0}% of wall) | Moodle busy {:>6.2} s (sum of calls {:>6.2} s, {} calls) | own/Moodle {:>5.2} | first call after {:>5.0} ms | tail after last answer {:>5.0} ms",
            s(self.wall),
            s(self.own()),
            100.0 * s(self.own()) / s(self.wall).max(1e-9),
            s(self.moodle_busy),
            s(self.moodle_sum),
            self.calls,
            s(self.own()) / s(self.moodle_busy).max(1e-9),
            self.first_call.map_or(f64::NAN, ms),
            self.tail.map_or(f64::NAN, ms),
        )
    }
}
