//! Jobs: the messages the functions pass each other through SQS.
//!
//! A job names its tenant and connection and carries ids only, never personal
//! data: the handler loads what it needs, so a message that is delivered twice
//! or late acts on the current state (at-least-once in, exactly-once effect).
//!
//! Every id is typed ([`crate::ids`], [`DeliveryId`]) and parsed once, when the
//! message is read: a bad one is refused by field there, and no handler parses
//! it again. On the wire an id is its plain string, as it always was.

use crate::delivery::DeliveryId;
use crate::ids::{ConnectionId, LearnerCode, OfferingId, RunId, TenantId};
use serde::{Deserialize, Serialize};

/// Which queue carries a job (see docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueRole {
    /// Consumed by `enrolment-push`: everything that goes out to a learning system.
    EnrolmentPush,
    /// Consumed by `results-fetch`: everything that comes back.
    ResultsFetch,
    /// Consumed by `retry-worker`: one delivery to the SMS, sent now.
    Deliveries,
}

impl QueueRole {
    pub const ALL: [QueueRole; 3] = [
        QueueRole::EnrolmentPush,
        QueueRole::ResultsFetch,
        QueueRole::Deliveries,
    ];

    /// The queue's logical name, as in the SAM template and the local stack.
    pub fn name(self) -> &'static str {
        match self {
            QueueRole::EnrolmentPush => "enrolment-push",
            QueueRole::ResultsFetch => "results-fetch",
            QueueRole::Deliveries => "deliveries",
        }
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The nightly schedule.
    Nightly,
    /// A person, from the API.
    Manual,
    /// A new enrolment on an auto-push offering.
    AutoPush,
    /// A change in the SMS sent on its own (a learner's details, an offering's
    /// dates, a removal): its failures are recorded as a run of their own.
    Change,
}

/// One unit of work on a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Job {
    /// Export for one connection (learners, courses, enrolments out), then
    /// queue the import. `offering` narrows the run to one offering.
    SyncConnection {
        tenant: TenantId,
        connection: ConnectionId,
        run: RunId,
        trigger: Trigger,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offering: Option<OfferingId>,
    },
    /// Push one offering's ready enrolments to one connection: on demand
    /// ("transfer enrolments") or, for an auto-push offering, as each arrives.
    PushOffering {
        tenant: TenantId,
        connection: ConnectionId,
        offering: OfferingId,
        run: RunId,
        trigger: Trigger,
    },
    /// A learner changed in the SMS: bring their accounts in every connection in step.
    SyncLearner {
        tenant: TenantId,
        learner: LearnerCode,
    },
    /// An offering's dates or status changed: update its linked courses.
    SyncOffering {
        tenant: TenantId,
        offering: OfferingId,
    },
    /// Remove an enrolment from a connection's course, after its results were read.
    RemoveEnrolment {
        tenant: TenantId,
        connection: ConnectionId,
        offering: OfferingId,
        learner: LearnerCode,
    },
    /// Import for one connection: grades, completions, assessments back.
    FetchResults {
        tenant: TenantId,
        connection: ConnectionId,
        run: RunId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offering: Option<OfferingId>,
    },
    /// Convert stored CourseKey attendance records into P/L/A and deliveries.
    ProcessAttendance {
        tenant: TenantId,
        connection: ConnectionId,
        record_ids: Vec<String>,
    },
    /// Send one delivery to the SMS now.
    Deliver {
        tenant: TenantId,
        delivery: DeliveryId,
    },
    /// Push one offering's roster to CourseKey (course, instructors, students, classes).
    #[serde(rename = "push_coursekey_roster")]
    PushCourseKeyRoster {
        tenant: TenantId,
        connection: ConnectionId,
        offering: OfferingId,
    },
}

impl Job {
    pub fn tenant(&self) -> &TenantId {
        match self {
            Job::SyncConnection { tenant, .. }
            | Job::PushOffering { tenant, .. }
            | Job::SyncLearner { tenant, .. }
            | Job::SyncOffering { tenant, .. }
            | Job::RemoveEnrolment { tenant, .. }
            | Job::FetchResults { tenant, .. }
            | Job::ProcessAttendance { tenant, .. }
            | Job::Deliver { tenant, .. }
            | Job::PushCourseKeyRoster { tenant, .. } => tenant,
        }
    }

    /// The job's type name, as on the wire (`"type"`), for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Job::SyncConnection { .. } => "sync_connection",
            Job::PushOffering { .. } => "push_offering",
            Job::SyncLearner { .. } => "sync_learner",
            Job::SyncOffering { .. } => "sync_offering",
            Job::RemoveEnrolment { .. } => "remove_enrolment",
            Job::FetchResults { .. } => "fetch_results",
            Job::ProcessAttendance { .. } => "process_attendance",
            Job::Deliver { .. } => "deliver",
            Job::PushCourseKeyRoster { .. } => "push_coursekey_roster",
        }
    }

    /// The queue this job travels on.
    pub fn queue(&self) -> QueueRole {
        match self {
            Job::SyncConnection { .. }
            | Job::PushOffering { .. }
            | Job::SyncLearner { .. }
            | Job::SyncOffering { .. }
            | Job::RemoveEnrolment { .. }
            | Job::PushCourseKeyRoster { .. } => QueueRole::EnrolmentPush,
            Job::FetchResults { .. } | Job::ProcessAttendance { .. } => QueueRole::ResultsFetch,
            Job::Deliver { .. } => QueueRole::Deliveries,
        }
    }

    /// A key that is the same for the same piece of work, used as the SQS
    /// message deduplication id and as the idempotency key of its effects.
    pub fn dedup_key(&self) -> String {
        match self {
            Job::SyncConnection {
                tenant,
                connection,
                run,
                ..
            } => format!("sync#{tenant}#{connection}#{run}"),
            Job::PushOffering {
                tenant,
                connection,
                offering,
                run,
                ..
            } => {
                format!("push#{tenant}#{connection}#{offering}#{run}")
            }
            Job::SyncLearner { tenant, learner } => format!("learner#{tenant}#{learner}"),
            Job::SyncOffering { tenant, offering } => format!("offering#{tenant}#{offering}"),
            Job::RemoveEnrolment {
                tenant,
                connection,
                offering,
                learner,
            } => {
                format!("remove#{tenant}#{connection}#{offering}#{learner}")
            }
            Job::FetchResults {
                tenant,
                connection,
                run,
                ..
            } => format!("fetch#{tenant}#{connection}#{run}"),
            Job::ProcessAttendance {
                tenant,
                connection,
                record_ids,
            } => {
                format!("attendance#{tenant}#{connection}#{}", record_ids.join(","))
            }
            Job::Deliver { tenant, delivery } => format!("deliver#{tenant}#{delivery}"),
            Job::PushCourseKeyRoster {
                tenant,
                connection,
                offering,
            } => format!("ckroster#{tenant}#{connection}#{offering}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync() -> Job {
        Job::SyncConnection {
            tenant: TenantId::parse("acme").unwrap(),
            connection: ConnectionId::parse("moodle-main").unwrap(),
            run: RunId::parse("r1").unwrap(),
            trigger: Trigger::Nightly,
            offering: None,
        }
    }

    #[test]
    fn wire_shape_is_stable() {
        let json = serde_json::to_string(&sync()).unwrap();
        assert_eq!(
            json,
            r#"{"type":"sync_connection","tenant":"acme","connection":"moodle-main","run":"r1","trigger":"nightly"}"#
        );
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), sync());
    }

    #[test]
    fn a_bad_tenant_in_a_message_is_refused_by_field() {
        let err =
            serde_json::from_str::<Job>(r#"{"type":"deliver","tenant":"a#b","delivery":"d1"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("tenant may contain only"), "{err}");
    }

    #[test]
    fn names_are_the_wire_tags() {
        let job = sync();
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["type"], job.name());
    }

    #[test]
    fn jobs_travel_on_their_queue() {
        assert_eq!(sync().queue(), QueueRole::EnrolmentPush);
        let deliver = Job::Deliver {
            tenant: TenantId::parse("acme").unwrap(),
            delivery: DeliveryId::parse("d").unwrap(),
        };
        assert_eq!(deliver.queue(), QueueRole::Deliveries);
        assert_eq!(deliver.tenant().as_str(), "acme");
    }

    #[test]
    fn a_coursekey_roster_push_travels_on_the_enrolment_push_queue_under_its_wire_name() {
        let job = Job::PushCourseKeyRoster {
            tenant: TenantId::parse("acme").unwrap(),
            connection: ConnectionId::parse("ck").unwrap(),
            offering: OfferingId::parse("OFF-1").unwrap(),
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["type"], job.name());
        assert_eq!(job.queue(), QueueRole::EnrolmentPush);
        assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
    }

    /// Messages written before the ids in jobs were typed (queued, in a DLQ,
    /// or samples in events/): each still reads, and writes back unchanged.
    #[test]
    fn jobs_stored_before_typed_ids_read_and_write_the_same() {
        for json in [
            r#"{"type":"sync_connection","tenant":"acme","connection":"moodle-main","run":"r1","trigger":"manual","offering":"OPL-7"}"#,
            r#"{"type":"fetch_results","tenant":"acme","connection":"moodle-main","run":"0195a1b2-0000-7000-8000-000000000001","offering":"OCC-1001"}"#,
            r#"{"type":"fetch_results","tenant":"acme","connection":"moodle-main","run":"r1"}"#,
            r#"{"type":"deliver","tenant":"acme","delivery":"dlv-c5ae5f6c5f902317d659049cc6e87c64"}"#,
            r#"{"type":"push_offering","tenant":"acme","connection":"moodle-main","offering":"OCC-1001","run":"r2","trigger":"auto_push"}"#,
            r#"{"type":"remove_enrolment","tenant":"acme","connection":"moodle-main","offering":"OCC-1001","learner":"X1234567"}"#,
            r#"{"type":"process_attendance","tenant":"acme","connection":"ck","record_ids":["rec-1","rec-2"]}"#,
        ] {
            let job: Job = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&job).unwrap(), json);
        }
        let Job::SyncConnection { offering, .. } = serde_json::from_str(
            r#"{"type":"sync_connection","tenant":"acme","connection":"c","run":"r","trigger":"nightly","offering":"OPL-7"}"#,
        )
        .unwrap() else {
            panic!("a sync_connection job")
        };
        assert_eq!(offering, Some(OfferingId::parse("OPL-7").unwrap()));
    }

    /// The sample SQS events' jobs read as jobs (the ones meant to be
    /// unreadable stay so), and each job reads back as itself.
    #[test]
    fn the_sample_events_jobs_still_read() {
        let samples = [
            include_str!("../../../events/enrolment-push/sqs-batch.json"),
            include_str!("../../../events/enrolment-push/push-jobs.json"),
            include_str!("../../../events/enrolment-push/remove-enrolment.json"),
            include_str!("../../../events/results-fetch/sqs-batch.json"),
            include_str!("../../../events/retry-worker/sqs-batch.json"),
        ];
        let mut read = 0;
        let mut refused = Vec::new();
        for sample in samples {
            let event: serde_json::Value = serde_json::from_str(sample).unwrap();
            for record in event["Records"].as_array().unwrap() {
                let body = record["body"].as_str().unwrap();
                match serde_json::from_str::<Job>(body) {
                    Ok(job) => {
                        let again = serde_json::to_string(&job).unwrap();
                        assert_eq!(serde_json::from_str::<Job>(&again).unwrap(), job);
                        read += 1;
                    }
                    Err(_) => refused.push(body.to_owned()),
                }
            }
        }
        assert_eq!(read, 11, "refused: {refused:?}");
        assert_eq!(
            refused,
            [
                "this is not a job",
                r#"{"type": "fetch_results", "tenant": "acme#bolt", "connection": "moodle-main", "run": "x"}"#,
                r#"{"type":"deliver"}"#,
                r#"{"type": "deliver", "tenant": "acme", "delivery": "not/an-id"}"#,
            ]
        );
    }

    #[test]
    fn a_bad_offering_or_delivery_in_a_message_is_refused_by_field() {
        let err = serde_json::from_str::<Job>(
            r#"{"type":"fetch_results","tenant":"acme","connection":"c","run":"r","offering":"a/b"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("offering"), "{err}");
        let err = serde_json::from_str::<Job>(
            r#"{"type":"deliver","tenant":"acme","delivery":"not/an-id"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("delivery_id"), "{err}");
    }
}
