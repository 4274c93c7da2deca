//! What the SMS answered to one send, and what it means: delivered, retry later
//! today or tomorrow, failed, or misconfigured.

use super::*;

/// What the SMS (or the network) answered to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    Answered(SmsAnswer),
    /// No answer within the client's timeout.
    TimedOut,
    /// The request could not be sent or the answer not read.
    Unreachable,
}

/// An HTTP answer from the SMS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmsAnswer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The start of the body (at most [`BODY_EXCERPT_CHARS`] characters).
    pub body: String,
}

impl SmsAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How much of an SMS answer's body is kept (as the reason a person reads).
pub const BODY_EXCERPT_CHARS: usize = 300;

/// An excerpt of a body fit for a reason: control characters replaced, cut at
/// [`BODY_EXCERPT_CHARS`] characters.
pub fn body_excerpt(body: &str) -> String {
    body.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_EXCERPT_CHARS)
        .collect()
}

/// The verdict on one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Delivered,
    /// 404 or "not recognised": the SMS does not know the learner or course
    /// yet. Tried again at the next daily run.
    RetryNextDay { reason: String },
    /// 429, 5xx, timeouts, unreachable: tried again the same day after `after`.
    RetrySoon { after: TimeDelta, reason: String },
    /// 400 and other refusals: failed for good, with the SMS's message.
    Failed { reason: String },
    /// 401/403 (and redirects): our credentials or URL are wrong; the
    /// connection's deliveries pause until a person fixes it.
    Misconfigured { reason: String },
}

/// Words in a refusal that mean "I do not know this learner or course (yet)".
const NOT_RECOGNISED: &[&str] = &["not recognised", "not recognized", "niet herkend"];

/// The first same-day retry waits this long; each next one twice as long.
pub const SAME_DAY_FIRST_DELAY: TimeDelta = TimeDelta::minutes(5);
/// No same-day retry waits longer than this.
pub const SAME_DAY_MAX_DELAY: TimeDelta = TimeDelta::hours(2);
/// After this many transient failures in a row, the next try is the daily one.
pub const SAME_DAY_MAX_RETRIES: u32 = 5;
/// A retry is due this long after a "not recognised" refusal: the next daily
/// run (24 hours apart, a few hours late at most) picks it up once, and a
/// delivery first tried mid-day is retried at the very next daily run.
pub const DAILY_RETRY_GAP: TimeDelta = TimeDelta::hours(12);
/// While one worker sends, the delivery is not due for this long, so no other
/// worker sends it; longer than any client timeout plus the write after it.
pub const SEND_LEASE: TimeDelta = TimeDelta::minutes(5);

/// The wait a 429 asks for: `Retry-After` (seconds or an HTTP date), else a
/// rate-limit reset header (`RateLimit-Reset`, `X-RateLimit-Reset`: seconds, or
/// a Unix time when it is that large). Capped at a day.
pub fn requested_wait(answer: &SmsAnswer, now: DateTime<Utc>) -> Option<TimeDelta> {
    let from_seconds_or_epoch = |raw: &str| -> Option<TimeDelta> {
        let n: i64 = raw.trim().parse().ok()?;
        if n > 1_000_000_000 {
            DateTime::<Utc>::from_timestamp(n, 0).map(|at| at - now)
        } else {
            Some(TimeDelta::seconds(n))
        }
    };
    let wait = answer
        .header("retry-after")
        .and_then(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .map(TimeDelta::seconds)
                .or_else(|| {
                    DateTime::parse_from_rfc2822(raw.trim())
                        .ok()
                        .map(|at| at.with_timezone(&Utc) - now)
                })
        })
        .or_else(|| {
            answer
                .header("ratelimit-reset")
                .and_then(from_seconds_or_epoch)
        })
        .or_else(|| {
            answer
                .header("x-ratelimit-reset")
                .and_then(from_seconds_or_epoch)
        })?;
    Some(wait.clamp(TimeDelta::zero(), TimeDelta::days(1)))
}

/// The backoff before the `n`th (0-based) same-day retry: 5, 10, 20, 40, 80 minutes, at most 2 hours.
pub fn same_day_backoff(n: u32) -> TimeDelta {
    let factor = 2i32.saturating_pow(n.min(16));
    (SAME_DAY_FIRST_DELAY * factor).min(SAME_DAY_MAX_DELAY)
}

/// Classifies one send. `same_day_retries` is the count of transient failures
/// in a row before this one.
pub fn classify(result: &SendResult, same_day_retries: u32, now: DateTime<Utc>) -> Verdict {
    let answer = match result {
        SendResult::TimedOut => {
            return Verdict::RetrySoon {
                after: same_day_backoff(same_day_retries),
                reason: "the SMS did not answer in time".to_owned(),
            };
        }
        SendResult::Unreachable => {
            return Verdict::RetrySoon {
                after: same_day_backoff(same_day_retries),
                reason: "the SMS could not be reached".to_owned(),
            };
        }
        SendResult::Answered(answer) => answer,
    };
    let status = answer.status;
    let said = body_excerpt(&answer.body);
    let with_message = |what: String| {
        if said.is_empty() {
            what
        } else {
            format!("{what}: {said}")
        }
    };
    let lower = said.to_lowercase();
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 => Verdict::Misconfigured {
            reason: with_message(format!(
                "the SMS refused our credentials (HTTP {status}); check the connection's signing secret and URL"
            )),
        },
        429 => {
            let backoff = same_day_backoff(same_day_retries);
            let after = requested_wait(answer, now).map_or(backoff, |asked| asked.max(backoff));
            Verdict::RetrySoon {
                after,
                reason: with_message("the SMS asked us to slow down (HTTP 429)".to_owned()),
            }
        }
        404 => Verdict::RetryNextDay {
            reason: with_message(
                "the SMS does not recognise the learner or course yet (HTTP 404)".to_owned(),
            ),
        },
        400..=499 if NOT_RECOGNISED.iter().any(|w| lower.contains(w)) => Verdict::RetryNextDay {
            reason: with_message(format!(
                "the SMS does not recognise the learner or course yet (HTTP {status})"
            )),
        },
        500..=599 => Verdict::RetrySoon {
            after: same_day_backoff(same_day_retries),
            reason: with_message(format!("the SMS failed (HTTP {status})")),
        },
        300..=399 => Verdict::Misconfigured {
            reason: format!(
                "the SMS answered with a redirect (HTTP {status}); check the connection's URL"
            ),
        },
        _ => Verdict::Failed {
            reason: with_message(format!("the SMS refused the delivery (HTTP {status})")),
        },
    }
}
