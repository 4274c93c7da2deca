use super::*;

#[test]
fn read_reason_table() {
    let since = Some(at(10));
    let base = ReadInputs {
        since,
        now: at(11),
        ..ReadInputs::default()
    };
    let hour = TimeDelta::hours(1);
    let cases: Vec<(&str, ReadInputs, Option<ReadReason>)> = vec![
        ("nothing changed", base, None),
        (
            "first run",
            ReadInputs {
                since: None,
                ..base
            },
            Some(ReadReason::FirstRun),
        ),
        (
            "in the retry set, nothing changed",
            ReadInputs {
                retry: true,
                ..base
            },
            Some(ReadReason::Retry),
        ),
        (
            "graded since",
            ReadInputs {
                last_change: Some(at(10) + hour),
                ..base
            },
            Some(ReadReason::Graded),
        ),
        (
            "graded exactly at the watermark",
            ReadInputs {
                last_change: since,
                ..base
            },
            Some(ReadReason::Graded),
        ),
        (
            "graded before",
            ReadInputs {
                last_change: Some(at(9)),
                ..base
            },
            None,
        ),
        (
            "accessed the course since (completed an activity without a grade)",
            ReadInputs {
                last_access: Some(at(10) + hour),
                ..base
            },
            Some(ReadReason::Accessed),
        ),
        (
            "accessed before, completion not read",
            ReadInputs {
                last_access: Some(at(10) - hour),
                ..base
            },
            None,
        ),
        (
            "accessed just before, completion read: the cron may have marked it since",
            ReadInputs {
                last_access: Some(at(10) - hour),
                completion_read: true,
                ..base
            },
            Some(ReadReason::Accessed),
        ),
        (
            "accessed long before, completion read",
            ReadInputs {
                last_access: Some(at(10) - COMPLETION_LAG - hour),
                completion_read: true,
                ..base
            },
            None,
        ),
        (
            "passed everything, awaiting the cron",
            ReadInputs {
                last_change: Some(at(3)),
                completion_read: true,
                passed_all: true,
                ..base
            },
            Some(ReadReason::AwaitingCompletion),
        ),
        (
            "passed everything long ago: no longer awaited",
            ReadInputs {
                last_change: Some(at(11) - COMPLETION_WAIT - hour),
                completion_read: true,
                passed_all: true,
                ..base
            },
            None,
        ),
        (
            "passed everything but completion not read (completed, or off)",
            ReadInputs {
                last_change: Some(at(3)),
                passed_all: true,
                ..base
            },
            None,
        ),
        (
            "linked or enrolled since the watermark, graded before it",
            ReadInputs {
                last_change: Some(at(3)),
                new_to_us: true,
                ..base
            },
            Some(ReadReason::New),
        ),
        (
            "approved completion waiting for the unenrolment",
            ReadInputs {
                unenrol_pending: true,
                since: None,
                ..base
            },
            Some(ReadReason::Unenrol),
        ),
    ];
    for (name, inputs, want) in cases {
        assert_eq!(read_reason(&inputs), want, "{name}");
    }
}
