//! What leaves for people and the SMS: the validation email, an attendance's
//! delivery payload and its assessable.

use chrono::{DateTime, Utc};
use domain::AssessableId;
use domain::attendance::{Attendance, AttendanceError};
use domain::connection::CourseKeySettings;
use domain::ports::Email;
use domain::zone::TenantZone;

/// Fills the error email template: `{count}` and `{errors}`.
pub fn validation_email(
    settings: &CourseKeySettings,
    to: &str,
    errors: &[(String, AttendanceError)],
) -> Email {
    let lines = errors
        .iter()
        .map(|(id, e)| format!("- record {id}: {e}"))
        .collect::<Vec<_>>()
        .join("\n");
    let fill = |s: &str| {
        s.replace("{count}", &errors.len().to_string())
            .replace("{errors}", &lines)
    };
    Email {
        to: to.to_owned(),
        subject: fill(&settings.error_email_subject),
        body: fill(&settings.error_email_body),
    }
}

/// The payload the SMS receives for one attendance: `date` is the class's day
/// in the tenant's `zone` (an evening class in Los Angeles is on its local
/// day, though UTC has already moved on).
pub fn delivery_payload(
    a: &Attendance,
    class_start: DateTime<Utc>,
    zone: TenantZone,
) -> serde_json::Value {
    let mut payload = serde_json::json!({
        "class_id": a.class_code,
        "date": zone.date_of(class_start).to_string(),
        "status": a.mark.letter(),
    });
    if let (Some(minutes), Some(map)) = (a.minutes_attended, payload.as_object_mut()) {
        map.insert("minutes_attended".into(), minutes.into());
    }
    payload
}

/// The delivery's assessable for one applied attendance: the class code and a
/// stable hash of the record that set it. A replayed record names the same
/// delivery (sent once); a later change (an adjusted absence) is a new delivery,
/// so the SMS hears of it even when the first one was already delivered.
pub fn delivery_assessable(class_code: &str, record_id: &str) -> Option<AssessableId> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in record_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    AssessableId::parse(format!("{class_code}.{hash:016x}"))
        .or_else(|_| AssessableId::parse(class_code.to_owned()))
        .ok()
}
