//! Coachview's generic results format: one XML message per person and course
//! part, POSTed to the configured URL with `X-WebHook-Signature` = lower-case
//! hex HMAC-SHA512 of the raw body under the connection's secret.
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <ResultMessage version="1">
//!   <MessageId>acme:completion:1001:OPL-7:EL-1</MessageId>
//!   <Person><Id>1001</Id><ExternId>1001</ExternId></Person>
//!   <CoursePart><Id>EL-1</Id><CourseId>OPL-7</CourseId><ELearningCourseId>31</ELearningCourseId></CoursePart>
//!   <FinalGrade>7.5</FinalGrade>
//!   <MaxGrade>10</MaxGrade>
//!   <CompletionDate>2026-11-20</CompletionDate>
//!   <Attended>true</Attended>
//!   <Passed>true</Passed>
//! </ResultMessage>
//! ```
//!
//! The person id is the learner code (Coachview's persoonsid); ExternId is
//! the payload's `external_id` (a completion's: the Moodle user's idnumber,
//! the e-learning system's person number Coachview matches to its persoonsid
//! or externid), else the learner code. The course part is the assessable (the
//! e-learning onderdeel), or the offering when there is none; its
//! ELearningCourseId is the payload's `course_id` (a completion's: the Moodle
//! course id, the "cursusnummer" filled in on the onderdeel), left out when
//! absent. The payload fields read are `grade` and `grade_max` (raw, with the
//! maximum it is out of; a completion's: the course total), `completed_on` (or
//! `completed_at`, or a result's `finish_date`: the approval date), `attended`
//! and `passed` (or a result's `result`: passed or failed); a missing flag is
//! left out, and a completion counts as attended.

use super::{IDEMPOTENCY_KEY_HEADER, SignedRequest};
use domain::delivery::{Delivery, DeliveryKind};
use domain::ports::SmsSendError;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

type HmacSha512 = hmac::Hmac<sha2::Sha512>;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// Escapes text for an XML element.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flag(payload: &Value, name: &str) -> Result<Option<bool>, SmsSendError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(SmsSendError::Unencodable {
            reason: format!("{name} must be true or false"),
        }),
    }
}

/// The XML message of a delivery.
pub fn body(delivery: &Delivery) -> Result<String, SmsSendError> {
    let payload = &delivery.payload;
    if !payload.is_object() {
        return Err(SmsSendError::Unencodable {
            reason: "the result is not an object".to_owned(),
        });
    }
    let person = delivery.learner.as_str();
    let extern_id = payload
        .get("external_id")
        .and_then(scalar)
        .unwrap_or_else(|| person.to_owned());
    let course_part = delivery
        .assessable
        .as_ref()
        .map_or(delivery.offering.as_str(), |a| a.as_str());
    let course_id = payload.get("course_id").and_then(scalar);
    let grade = payload.get("grade").and_then(scalar);
    // The maximum the grade is out of: a result's and a completion's grade
    // are both stated raw with their maximum (docs/connectors/sms.md).
    let grade_max = grade
        .as_ref()
        .and_then(|_| payload.get("grade_max"))
        .and_then(scalar);
    let completed = payload
        .get("completed_on")
        .or_else(|| payload.get("completed_at"))
        .or_else(|| payload.get("finish_date"))
        .and_then(scalar)
        .map(|d| d.chars().take(10).collect::<String>());
    let attended = match flag(payload, "attended")? {
        Some(a) => Some(a),
        None if delivery.kind == DeliveryKind::Completion => Some(true),
        None => None,
    };
    // A unit/task result says passed or failed in its `result`.
    let passed = match flag(payload, "passed")? {
        Some(p) => Some(p),
        None => match payload.get("result").and_then(Value::as_str) {
            Some("passed") => Some(true),
            Some("failed") => Some(false),
            _ => None,
        },
    };

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str("<ResultMessage version=\"1\">\n");
    xml.push_str(&format!(
        "  <MessageId>{}</MessageId>\n",
        escape(&delivery.idempotency_key)
    ));
    xml.push_str(&format!(
        "  <Person><Id>{}</Id><ExternId>{}</ExternId></Person>\n",
        escape(person),
        escape(&extern_id)
    ));
    xml.push_str(&format!(
        "  <CoursePart><Id>{}</Id><CourseId>{}</CourseId>",
        escape(course_part),
        escape(delivery.offering.as_str())
    ));
    if let Some(course_id) = course_id {
        xml.push_str(&format!(
            "<ELearningCourseId>{}</ELearningCourseId>",
            escape(&course_id)
        ));
    }
    xml.push_str("</CoursePart>\n");
    if let Some(grade) = grade {
        xml.push_str(&format!("  <FinalGrade>{}</FinalGrade>\n", escape(&grade)));
    }
    if let Some(max) = grade_max {
        xml.push_str(&format!("  <MaxGrade>{}</MaxGrade>\n", escape(&max)));
    }
    if let Some(date) = completed {
        xml.push_str(&format!(
            "  <CompletionDate>{}</CompletionDate>\n",
            escape(&date)
        ));
    }
    if let Some(a) = attended {
        xml.push_str(&format!("  <Attended>{a}</Attended>\n"));
    }
    if let Some(p) = passed {
        xml.push_str(&format!("  <Passed>{p}</Passed>\n"));
    }
    xml.push_str("</ResultMessage>\n");
    Ok(xml)
}

/// Lower-case hex HMAC-SHA512 of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match HmacSha512::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; `new_from_slice` cannot refuse one.
        Err(_) => <HmacSha512 as KeyInit>::new(&Default::default()),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The signed request.
pub fn request(secret: &SecretString, delivery: &Delivery) -> Result<SignedRequest, SmsSendError> {
    let body = body(delivery)?.into_bytes();
    let signature = sign(secret.expose_secret().as_bytes(), &body);
    Ok(SignedRequest {
        content_type: "application/xml; charset=utf-8",
        headers: vec![
            (SIGNATURE_HEADER, signature),
            (IDEMPOTENCY_KEY_HEADER, delivery.idempotency_key.clone()),
        ],
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use domain::delivery::DeliveryKey;
    use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
    use serde_json::json;

    fn delivery(payload: Value, assessable: Option<&str>) -> Delivery {
        let key = DeliveryKey {
            tenant: TenantId::parse("acme").unwrap(),
            learner: LearnerCode::parse("1001").unwrap(),
            offering: OfferingId::parse("OPL-7").unwrap(),
            assessable: assessable.map(|a| AssessableId::parse(a).unwrap()),
            kind: DeliveryKind::Completion,
        };
        Delivery::new(
            &key,
            ConnectionId::parse("coachview").unwrap(),
            payload,
            Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap(),
        )
    }

    #[test]
    fn writes_the_documented_message() {
        let d = delivery(
            json!({"grade": 7.5, "grade_max": 10.0, "completed_at": "2026-11-20T10:00:00Z", "passed": true, "course_id": 31}),
            Some("EL-1"),
        );
        assert_eq!(
            body(&d).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ResultMessage version=\"1\">\n  <MessageId>acme:completion:1001:OPL-7:EL-1</MessageId>\n  <Person><Id>1001</Id><ExternId>1001</ExternId></Person>\n  <CoursePart><Id>EL-1</Id><CourseId>OPL-7</CourseId><ELearningCourseId>31</ELearningCourseId></CoursePart>\n  <FinalGrade>7.5</FinalGrade>\n  <MaxGrade>10.0</MaxGrade>\n  <CompletionDate>2026-11-20</CompletionDate>\n  <Attended>true</Attended>\n  <Passed>true</Passed>\n</ResultMessage>\n"
        );
    }

    /// The completion delivery the results download creates (its payload is a
    /// stored completion's record), written as Coachview's message: the course
    /// total as final grade (CV-01), the completion date as approval date
    /// (CV-06), the Moodle idnumber as ExternId (CV-08) and the Moodle course
    /// id as the e-learning course id (CV-09).
    #[test]
    fn a_completion_carries_grade_date_person_and_elearning_course() {
        use domain::results::StoredCompletion;
        let mut completion = StoredCompletion::new(
            (
                TenantId::parse("acme").unwrap(),
                ConnectionId::parse("moodle").unwrap(),
                OfferingId::parse("OPL-7").unwrap(),
                LearnerCode::parse("1001").unwrap(),
            ),
            4,
            Utc.with_ymd_and_hms(2026, 11, 20, 22, 30, 0).unwrap(),
            Some(82.5),
            false,
            false,
            Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap(),
        );
        completion.grade_max = Some(100.0);
        completion.course_id = Some(31);
        completion.idnumber = Some("CV-9001".to_owned());
        let payload =
            serde_json::to_value(completion.record(domain::zone::TenantZone::UTC)).unwrap();
        let xml = body(&delivery(payload, None)).unwrap();
        for expected in [
            "<Person><Id>1001</Id><ExternId>CV-9001</ExternId></Person>",
            "<CoursePart><Id>OPL-7</Id><CourseId>OPL-7</CourseId><ELearningCourseId>31</ELearningCourseId></CoursePart>",
            "<FinalGrade>82.5</FinalGrade>",
            "<MaxGrade>100.0</MaxGrade>",
            "<CompletionDate>2026-11-20</CompletionDate>",
            "<Attended>true</Attended>",
        ] {
            assert!(xml.contains(expected), "{expected} in {xml}");
        }
        // A provider in Sydney: 22:30 UTC on 20 November is 21 November there.
        let sydney = domain::zone::TenantZone::parse("Australia/Sydney").unwrap();
        let payload = serde_json::to_value(completion.record(sydney)).unwrap();
        let xml = body(&delivery(payload, None)).unwrap();
        assert!(
            xml.contains("<CompletionDate>2026-11-21</CompletionDate>"),
            "{xml}"
        );
        // Without an idnumber or a course id (a completion stored before they
        // were kept): the learner code, and no e-learning course id.
        completion.course_id = None;
        completion.idnumber = None;
        let payload =
            serde_json::to_value(completion.record(domain::zone::TenantZone::UTC)).unwrap();
        let xml = body(&delivery(payload, None)).unwrap();
        assert!(xml.contains("<Person><Id>1001</Id><ExternId>1001</ExternId></Person>"));
        assert!(xml.contains("<CoursePart><Id>OPL-7</Id><CourseId>OPL-7</CourseId></CoursePart>"));
    }

    /// A unit/task result states its grade as a completion does (raw, with
    /// its maximum), its finish date as the approval date and its outcome
    /// as passed.
    #[test]
    fn a_result_carries_raw_grade_maximum_finish_date_and_outcome() {
        use domain::results::{ProposedResult, ResultKey, ResultType, StoredResult};
        let result = StoredResult::new(
            ResultKey {
                tenant: TenantId::parse("acme").unwrap(),
                connection: ConnectionId::parse("moodle").unwrap(),
                offering: OfferingId::parse("OPL-7").unwrap(),
                learner: LearnerCode::parse("1001").unwrap(),
                assessable: AssessableId::parse("EL-1").unwrap(),
            },
            ProposedResult {
                result: ResultType::Failed,
                start_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 2),
                finish_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20),
                grade: Some(3.33333),
                grade_max: Some(10.0),
            },
            Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap(),
        );
        let xml = body(&delivery(result.payload(), Some("EL-1"))).unwrap();
        for expected in [
            "<FinalGrade>3.33333</FinalGrade>",
            "<MaxGrade>10.0</MaxGrade>",
            "<CompletionDate>2026-11-20</CompletionDate>",
            "<Passed>false</Passed>",
        ] {
            assert!(xml.contains(expected), "{expected} in {xml}");
        }
    }

    #[test]
    fn escapes_text_and_refuses_bad_flags() {
        let d = delivery(
            json!({"grade": "<A & \"B\">", "external_id": "x'1\u{1}"}),
            None,
        );
        let xml = body(&d).unwrap();
        assert!(xml.contains("<FinalGrade>&lt;A &amp; &quot;B&quot;&gt;</FinalGrade>"));
        assert!(xml.contains("<ExternId>x&apos;1</ExternId>"));
        assert!(
            xml.contains("<CoursePart><Id>OPL-7</Id>"),
            "offering when no assessable"
        );
        let bad = delivery(json!({"passed": "yes"}), None);
        assert_eq!(
            body(&bad).unwrap_err().to_string(),
            "the delivery cannot be written in the SMS's format: passed must be true or false"
        );
    }

    #[test]
    fn signs_with_hmac_sha512_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }
}
