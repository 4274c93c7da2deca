//! CourseKey's roster API, per the contract in docs/connectors/coursekey.md.
//!
//! CourseKey's real API is not public: every wire detail (paths, bodies, the
//! bearer key) lives here, so the real one replaces this file and nothing else.
//! Every call is a `PUT` upsert, except `DELETE` of a class no longer
//! scheduled (404: already gone, success); 429 / 5xx / transport failures are
//! [`RosterError::Unavailable`], other 4xx [`RosterError::Refused`].

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::attendance::ClassSession;
use domain::ports::{CourseKeyRoster, RosterError};
use domain::sis::Learner;
use domain::{LearnerCode, OfferingId};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::time::Duration;

/// The client's timeouts: below any Lambda's.
pub const TIMEOUT: Duration = Duration::from_secs(15);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A CourseKey roster client for one connection.
pub struct CourseKeyClient {
    http: reqwest::Client,
    base: String,
    api_key: SecretString,
    /// Sent with new students when the connection has one.
    initial_password: Option<SecretString>,
}

impl CourseKeyClient {
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        initial_password: Option<SecretString>,
        egress: crate::egress::Egress,
    ) -> Result<Self, RosterError> {
        let url = url::Url::parse(base_url).map_err(|e| RosterError::Client(Box::new(e)))?;
        crate::egress::check_url(&url, egress).map_err(|e| RosterError::Client(Box::new(e)))?;
        let http = crate::egress::client_builder(egress)
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| RosterError::Client(Box::new(e)))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key,
            initial_password,
        })
    }

    async fn put<T: Serialize + Sync>(
        &self,
        what: &'static str,
        path: &str,
        body: &T,
    ) -> Result<(), RosterError> {
        let request = self.http.put(format!("{}{path}", self.base)).json(body);
        self.send(what, request).await
    }

    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<(), RosterError> {
        let answer = request
            .bearer_auth(self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| match crate::egress::refusal(&e) {
                // The name resolved to an internal address: the URL must change.
                Some(refused) => RosterError::Client(Box::new(refused.clone())),
                None => RosterError::Unavailable(Box::new(e.without_url())),
            })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(RosterError::Unavailable(
                format!("CourseKey answered HTTP {} to {what}", status.as_u16()).into(),
            ));
        }
        Err(RosterError::Refused {
            what,
            status: status.as_u16(),
        })
    }
}

/// One id as a path segment (percent-encoded; dot-only values refused).
fn seg(s: &str) -> Result<String, RosterError> {
    crate::path::segment(s).map_err(|e| RosterError::Client(Box::new(e)))
}

#[derive(Serialize)]
struct CourseBody<'a> {
    title: &'a str,
    start_date: NaiveDate,
    end_date: NaiveDate,
}

#[derive(Serialize)]
struct InstructorBody<'a> {
    course_ids: [&'a str; 1],
}

#[derive(Serialize)]
struct StudentBody<'a> {
    first_name: &'a str,
    last_name: &'a str,
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_password: Option<&'a str>,
}

#[derive(Serialize)]
struct EnrolmentBody {
    is_dropped: bool,
}

#[derive(Serialize)]
struct ClassBody {
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
}

#[async_trait]
impl CourseKeyRoster for CourseKeyClient {
    async fn upsert_course(
        &self,
        offering: &OfferingId,
        title: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(), RosterError> {
        let body = CourseBody {
            title,
            start_date: start,
            end_date: end,
        };
        self.put(
            "the course",
            &format!("/api/v1/courses/{}", seg(offering.as_str())?),
            &body,
        )
        .await
    }

    async fn add_instructor(
        &self,
        instructor: &str,
        offering: &OfferingId,
    ) -> Result<(), RosterError> {
        let body = InstructorBody {
            course_ids: [offering.as_str()],
        };
        self.put(
            "an instructor",
            &format!("/api/v1/instructors/{}", seg(instructor)?),
            &body,
        )
        .await
    }

    async fn upsert_student(&self, learner: &Learner) -> Result<(), RosterError> {
        let body = StudentBody {
            first_name: &learner.given_name,
            last_name: &learner.family_name,
            email: learner.email.as_deref(),
            initial_password: self.initial_password.as_ref().map(|p| p.expose_secret()),
        };
        self.put(
            "a student",
            &format!("/api/v1/students/{}", seg(learner.code.as_str())?),
            &body,
        )
        .await
    }

    async fn set_enrolment(
        &self,
        offering: &OfferingId,
        learner: &LearnerCode,
        dropped: bool,
    ) -> Result<(), RosterError> {
        self.put(
            "an enrolment",
            &format!(
                "/api/v1/courses/{}/students/{}",
                seg(offering.as_str())?,
                seg(learner.as_str())?
            ),
            &EnrolmentBody {
                is_dropped: dropped,
            },
        )
        .await
    }

    async fn upsert_class(
        &self,
        offering: &OfferingId,
        class: &ClassSession,
    ) -> Result<(), RosterError> {
        self.put(
            "a class",
            &format!(
                "/api/v1/courses/{}/classes/{}",
                seg(offering.as_str())?,
                seg(&class.code)?
            ),
            &ClassBody {
                start: class.start,
                end: class.end,
            },
        )
        .await
    }

    async fn remove_class(
        &self,
        offering: &OfferingId,
        class_code: &str,
    ) -> Result<(), RosterError> {
        let path = format!(
            "/api/v1/courses/{}/classes/{}",
            seg(offering.as_str())?,
            seg(class_code)?
        );
        let request = self.http.delete(format!("{}{path}", self.base));
        match self.send("a class removal", request).await {
            // Already gone (a retried push): the same outcome.
            Err(RosterError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use domain::ports::Retryable;
    use simulators::coursekey::CourseKeySim;

    fn off() -> OfferingId {
        OfferingId::parse("OFF-1").unwrap()
    }

    #[tokio::test]
    async fn every_roster_call_reaches_the_simulator_per_the_contract() {
        let sim = CourseKeySim::new("ck_key", "whsec");
        let server = sim.start().await.unwrap();
        let client = CourseKeyClient::new(
            &server.base_url,
            SecretString::from("ck_key"),
            None,
            crate::egress::Egress::AllowInternal,
        )
        .unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        client
            .upsert_course(&off(), "Welding 1", d(3, 2), d(4, 30))
            .await
            .unwrap();
        client.add_instructor("INS-1", &off()).await.unwrap();
        client
            .set_enrolment(&off(), &LearnerCode::parse("L1").unwrap(), true)
            .await
            .unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        client
            .upsert_class(
                &off(),
                &ClassSession {
                    code: "C1".into(),
                    start,
                    end: start + chrono::TimeDelta::hours(3),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            sim.resource("/api/v1/courses/OFF-1").unwrap(),
            serde_json::json!({"title": "Welding 1", "start_date": "2026-03-02", "end_date": "2026-04-30"})
        );
        assert_eq!(
            sim.resource("/api/v1/instructors/INS-1").unwrap(),
            serde_json::json!({"course_ids": ["OFF-1"]})
        );
        assert_eq!(
            sim.resource("/api/v1/courses/OFF-1/students/L1").unwrap(),
            serde_json::json!({"is_dropped": true})
        );
        assert_eq!(
            sim.resource("/api/v1/courses/OFF-1/classes/C1").unwrap()["start"],
            "2026-03-02T09:00:00Z"
        );
        assert!(sim.calls().iter().all(|c| c.method == "PUT"));

        // A class no longer scheduled is removed; removing it again is no error.
        client.remove_class(&off(), "C1").await.unwrap();
        assert!(sim.resource("/api/v1/courses/OFF-1/classes/C1").is_none());
        client.remove_class(&off(), "C1").await.unwrap();
        let last = sim.calls().pop().unwrap();
        assert_eq!(
            (last.method.as_str(), last.path.as_str()),
            ("DELETE", "/api/v1/courses/OFF-1/classes/C1")
        );
    }

    #[tokio::test]
    async fn a_wrong_key_is_refused_and_5xx_is_retryable() {
        let sim = CourseKeySim::new("ck_key", "whsec");
        let server = sim.start().await.unwrap();
        let wrong = CourseKeyClient::new(
            &server.base_url,
            SecretString::from("nope"),
            None,
            crate::egress::Egress::AllowInternal,
        )
        .unwrap();
        let err = wrong.add_instructor("INS-1", &off()).await.unwrap_err();
        assert!(matches!(err, RosterError::Refused { status: 401, .. }));
        assert!(!err.is_retryable());
        assert!(!err.to_string().contains("nope"));
        let client = CourseKeyClient::new(
            &server.base_url,
            SecretString::from("ck_key"),
            None,
            crate::egress::Egress::AllowInternal,
        )
        .unwrap();
        sim.fail_with(Some(503));
        let err = client.add_instructor("INS-1", &off()).await.unwrap_err();
        assert!(err.is_retryable());
        assert!(
            CourseKeyClient::new(
                "not a url",
                SecretString::from("k"),
                None,
                crate::egress::Egress::AllowInternal
            )
            .is_err()
        );
    }
}
